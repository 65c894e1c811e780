/**
 * The one place that touches dns2 (pinned 3.1.1): record-data and name encoding for answers we build, and the
 * decoder for queries the fast parser does not handle. dns2's own writer is used without a name table, so names
 * inside RDATA (SRV targets included, RFC 2782) are never compressed.
 */
import dns2 from "dns2";

interface BitWriter {
  toBuffer(): Buffer;
}
interface RdataCodec {
  encode(record: Record<string, unknown>, writer: BitWriter): void;
}
/** The subset of dns2's decoded packet we read. */
export interface Dns2Packet {
  header: { id: number; qr: number; opcode: number };
  questions: { name: string; type: number; class: number }[];
  additionals: { type: number; class?: number; ttl?: number; udpPayloadSize?: number; doFlag?: boolean }[];
  errors: unknown[];
}
const Packet = dns2.Packet as unknown as {
  Writer: new () => BitWriter;
  Name: { encode(name: string): Buffer };
  Resource: Record<string, RdataCodec | undefined>;
  parse(buf: Buffer): Dns2Packet;
};

/** Encodes a name uncompressed (`a.b.c` → 1a1b1c0). Throws on labels > 63 or names > 255 octets. */
export function encodeName(name: string): Buffer {
  return Packet.Name.encode(name);
}

/** Encodes the RDATA of one record of `typeName` (dns2 field names: address, domain, ns, data, priority…). */
export function encodeRdata(typeName: string, fields: Record<string, unknown>): Buffer {
  const codec = Packet.Resource[typeName];
  if (!codec) throw new Error(`dns2 has no encoder for ${typeName}`);
  const w = new Packet.Writer();
  codec.encode(fields, w);
  return w.toBuffer();
}

/** dns2's decoder; call only on packets whose header counts were checked (parse work is bounded by them). */
export function dns2Parse(buf: Buffer): Dns2Packet {
  return Packet.parse(buf);
}
