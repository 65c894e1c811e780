/** Test helpers: hand-encoded queries and an independent reply decoder (dns2's Packet.parse). */
import dns2 from "dns2";

export interface QueryOpts {
  id?: number;
  rd?: boolean;
  /** Add an OPT record with this UDP payload size. */
  edns?: number;
  ednsVersion?: number;
  dnssecOk?: boolean;
}

export function encodeQuery(name: string, qtype: number, o: QueryOpts = {}): Buffer {
  const labels = name.replace(/\.$/, "").split(".").filter(Boolean);
  const nameBytes = Buffer.concat([
    ...labels.map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l, "latin1")])),
    Buffer.from([0]),
  ]);
  const opt = o.edns !== undefined ? Buffer.alloc(11) : Buffer.alloc(0);
  if (o.edns !== undefined) {
    opt.writeUInt16BE(41, 1);
    opt.writeUInt16BE(o.edns, 3);
    opt[6] = o.ednsVersion ?? 0;
    opt.writeUInt16BE(o.dnssecOk ? 0x8000 : 0, 7);
  }
  const header = Buffer.alloc(12);
  header.writeUInt16BE(o.id ?? 0x1234, 0);
  header.writeUInt16BE(o.rd === false ? 0 : 0x0100, 2);
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(o.edns !== undefined ? 1 : 0, 10);
  const tail = Buffer.alloc(4);
  tail.writeUInt16BE(qtype, 0);
  tail.writeUInt16BE(1, 2);
  return Buffer.concat([header, nameBytes, tail, opt]);
}

export interface Decoded {
  id: number;
  qr: boolean;
  aa: boolean;
  tc: boolean;
  rd: boolean;
  ra: boolean;
  rcode: number;
  question: { name: string; type: number } | undefined;
  answers: { name: string; type: number; ttl: number; [k: string]: unknown }[];
  authorities: { name: string; type: number; ttl: number; [k: string]: unknown }[];
  additionals: { name: string; type: number; class: number; ttl: number; [k: string]: unknown }[];
}

export function decode(buf: Buffer): Decoded {
  const P = dns2.Packet as unknown as { parse(b: Buffer): Record<string, unknown> & { errors: unknown[] } };
  const p = P.parse(buf) as unknown as {
    header: { id: number; qr: number; aa: number; tc: number; rd: number; ra: number; rcode: number };
    questions: { name: string; type: number }[];
    answers: Decoded["answers"];
    authorities: Decoded["authorities"];
    additionals: Decoded["additionals"];
    errors: unknown[];
  };
  if (p.errors.length) throw new Error(`reply does not decode: ${String(p.errors[0])}`);
  const flags = buf.readUInt16BE(2);
  return {
    id: p.header.id,
    qr: !!(flags & 0x8000),
    aa: !!(flags & 0x0400),
    tc: !!(flags & 0x0200),
    rd: !!(flags & 0x0100),
    ra: !!(flags & 0x0080),
    rcode: flags & 0xf,
    question: p.questions[0],
    answers: p.answers,
    authorities: p.authorities,
    additionals: p.additionals,
  };
}
