/**
 * Takes apart an upstream's reply into uncompressed wire records, so a forwarded answer can be cached, its
 * TTLs aged, and re-assembled for a client with a different size limit. Names inside the RDATA of the types
 * RFC 3597 allows to be compressed (NS, CNAME, PTR, SOA, MX) and of SRV are expanded; any other RDATA is copied
 * byte for byte. Work is bounded by the packet length (no count is trusted); OPT records are dropped (we add
 * our own).
 */
import type { WireRR } from "./message.js";

export interface UpstreamReply {
  id: number;
  flags: number;
  rcode: number;
  /** Lower-cased question as a latin1 string (compare with Query.key). */
  questionKey: string;
  answers: WireRR[];
  authority: WireRR[];
  additional: WireRR[];
}

class Malformed extends Error {}

/** Reads a possibly compressed name at `off`; returns it uncompressed and the offset after it in the packet. */
function readName(buf: Buffer, start: number): { name: Buffer; next: number } {
  const parts: Buffer[] = [];
  let off = start;
  let next = -1;
  let total = 1;
  let hops = 0;
  for (;;) {
    if (off >= buf.length) throw new Malformed("name runs past the end");
    const len = buf[off] as number;
    if ((len & 0xc0) === 0xc0) {
      if (off + 1 >= buf.length || ++hops > 64) throw new Malformed("bad pointer");
      if (next < 0) next = off + 2;
      const target = ((len & 0x3f) << 8) | (buf[off + 1] as number);
      if (target >= off) throw new Malformed("forward pointer");
      off = target;
      continue;
    }
    if (len & 0xc0) throw new Malformed("bad label type");
    if (len === 0) {
      parts.push(Buffer.from([0]));
      if (next < 0) next = off + 1;
      break;
    }
    total += len + 1;
    if (total > 255 || off + 1 + len > buf.length) throw new Malformed("name too long");
    parts.push(buf.subarray(off, off + 1 + len));
    off += 1 + len;
  }
  return { name: Buffer.concat(parts), next };
}

/** RDATA layouts with names: [fixed bytes before the first name, number of names, fixed bytes after]. */
const NAME_RDATA: Record<number, [number, number, number]> = {
  2: [0, 1, 0], // NS
  5: [0, 1, 0], // CNAME
  12: [0, 1, 0], // PTR
  6: [0, 2, 20], // SOA
  15: [2, 1, 0], // MX
  33: [6, 1, 0], // SRV
};

function readRR(buf: Buffer, off: number): { rr: WireRR | undefined; next: number } {
  const { name, next: p } = readName(buf, off);
  if (p + 10 > buf.length) throw new Malformed("truncated record");
  const type = buf.readUInt16BE(p);
  const cls = buf.readUInt16BE(p + 2);
  const ttl = buf.readUInt32BE(p + 4);
  const rdlen = buf.readUInt16BE(p + 8);
  const start = p + 10;
  const end = start + rdlen;
  if (end > buf.length) throw new Malformed("rdata runs past the end");
  if (type === 41) return { rr: undefined, next: end };
  const layout = NAME_RDATA[type];
  let rdata: Buffer;
  if (!layout) rdata = Buffer.from(buf.subarray(start, end));
  else {
    const [before, names, after] = layout;
    const chunks: Buffer[] = [buf.subarray(start, start + before)];
    let o = start + before;
    for (let i = 0; i < names; i++) {
      const n = readName(buf, o);
      chunks.push(n.name);
      o = n.next;
    }
    chunks.push(buf.subarray(o, o + after));
    if (o + after !== end) throw new Malformed("rdata length mismatch");
    rdata = Buffer.concat(chunks);
  }
  return { rr: { owner: name, type, class: cls, ttl: ttl > 0x7fffffff ? 0 : ttl, rdata }, next: end };
}

/** Parses an upstream reply; undefined when it is malformed. */
export function parseUpstreamReply(buf: Buffer): UpstreamReply | undefined {
  try {
    if (buf.length < 12) return undefined;
    const flags = buf.readUInt16BE(2);
    if (!(flags & 0x8000)) return undefined;
    const qd = buf.readUInt16BE(4);
    const counts = [buf.readUInt16BE(6), buf.readUInt16BE(8), buf.readUInt16BE(10)];
    if (qd !== 1) return undefined;
    const q = readName(buf, 12);
    if (q.next + 4 > buf.length) return undefined;
    const qEnd = q.next + 4;
    const question = Buffer.concat([q.name, buf.subarray(q.next, qEnd)]);
    let off = qEnd;
    const sections: WireRR[][] = [[], [], []];
    for (let s = 0; s < 3; s++) {
      const want = counts[s] as number;
      for (let i = 0; i < want; i++) {
        // Each record takes at least 11 bytes, so a lying count ends at the packet's end.
        if (off >= buf.length) throw new Malformed("fewer records than counted");
        const { rr, next } = readRR(buf, off);
        off = next;
        if (rr) (sections[s] as WireRR[]).push(rr);
      }
    }
    let s = question.toString("latin1");
    if (/[A-Z]/.test(s)) s = s.replace(/[A-Z]+/g, (m) => m.toLowerCase());
    return {
      id: buf.readUInt16BE(0),
      flags,
      rcode: flags & 0xf,
      questionKey: s,
      answers: sections[0] as WireRR[],
      authority: sections[1] as WireRR[],
      additional: sections[2] as WireRR[],
    };
  } catch {
    return undefined;
  }
}
