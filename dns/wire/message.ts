/**
 * Reply assembly: header, the question as the client sent it (so its letter case is echoed), answer, authority
 * and additional records, and an OPT record when the query had one. Owner names equal to the question name or
 * one of its suffixes become pointers into the question; every other name, including all RDATA names, is
 * written in full. When the reply would exceed the size limit it carries as many whole answer records as fit
 * and TC=1; authority and additional records that do not fit are left out (RFC 2181 §9).
 */
import type { Query } from "./query.js";

/** One resource record ready for the wire: owner name and RDATA uncompressed. */
export interface WireRR {
  owner: Buffer;
  type: number;
  class: number;
  ttl: number;
  rdata: Buffer;
}

export interface Reply {
  /** May exceed 15 (extended RCODE, e.g. BADVERS=16): the high bits go to the OPT record. */
  rcode: number;
  aa: boolean;
  ra: boolean;
  answers: readonly WireRR[];
  authority: readonly WireRR[];
  additional: readonly WireRR[];
}

/** Our advertised and maximum UDP payload (DNS Flag Day 2020). */
export const EDNS_PAYLOAD_CAP = 1232;
export const TCP_LIMIT = 65535;

/** Largest UDP reply the client accepts: 512 without EDNS, else its payload size capped at 1232. */
export function udpLimit(q: Query): number {
  return q.edns ? Math.min(Math.max(q.edns.payload, 512), EDNS_PAYLOAD_CAP) : 512;
}

const OPT_LEN = 11;

/** Byte offsets of each label of the question name, and where the name ends. */
function questionLabelOffsets(question: Buffer): { offsets: number[]; end: number } {
  const offsets: number[] = [];
  let off = 0;
  while (off < question.length) {
    const len = question[off] as number;
    if (len === 0) break;
    offsets.push(off);
    off += 1 + len;
  }
  return { offsets, end: off + 1 };
}

function equalsIgnoreCase(a: Buffer, aStart: number, b: Buffer): boolean {
  if (a.length - aStart < b.length) return false;
  for (let i = 0; i < b.length; i++) {
    let x = a[aStart + i] as number;
    let y = b[i] as number;
    if (x >= 0x41 && x <= 0x5a) x |= 0x20;
    if (y >= 0x41 && y <= 0x5a) y |= 0x20;
    if (x !== y) return false;
  }
  return true;
}

/** Offset (in the question) of the suffix equal to `owner`, or -1. */
function ownerPointer(owner: Buffer, question: Buffer, qn: { offsets: number[]; end: number }): number {
  if (owner.length === 1 && owner[0] === 0) return -1; // root: 1 byte is shorter than a pointer
  for (const off of qn.offsets) {
    if (qn.end - off === owner.length && equalsIgnoreCase(question, off, owner)) return off;
  }
  return -1;
}

/** Builds the reply to `q`, fitting it into `limit` octets. */
export function buildReply(q: Query, r: Reply, limit: number): Buffer {
  const qn = questionLabelOffsets(q.question);
  const size = (rr: WireRR) =>
    (ownerPointer(rr.owner, q.question, qn) >= 0 ? 2 : rr.owner.length) + 10 + rr.rdata.length;
  const reserve = q.edns ? OPT_LEN : 0;
  let used = 12 + q.question.length + reserve;
  let tc = false;
  const take = (rrs: readonly WireRR[], truncates: boolean): WireRR[] => {
    const out: WireRR[] = [];
    for (const rr of rrs) {
      const s = size(rr);
      if (used + s > limit) {
        if (truncates) tc = true;
        break;
      }
      used += s;
      out.push(rr);
    }
    return out;
  };
  const answers = take(r.answers, true);
  // A negative answer's SOA is part of the answer proper: if it does not fit, say so.
  const authority = tc ? [] : take(r.authority, r.answers.length === 0);
  const additional = tc ? [] : take(r.additional, false);

  const buf = Buffer.allocUnsafe(used);
  buf.writeUInt16BE(q.id, 0);
  // QR=1, OPCODE=0, AA, TC, RD echoed, RA, Z=0, AD=0, CD echoed.
  let flags = 0x8000 | (q.flags & 0x0100) | (q.flags & 0x0010) | (r.rcode & 0xf);
  if (r.aa) flags |= 0x0400;
  if (tc) flags |= 0x0200;
  if (r.ra) flags |= 0x0080;
  buf.writeUInt16BE(flags, 2);
  buf.writeUInt16BE(1, 4);
  buf.writeUInt16BE(answers.length, 6);
  buf.writeUInt16BE(authority.length, 8);
  buf.writeUInt16BE(additional.length + (q.edns ? 1 : 0), 10);
  q.question.copy(buf, 12);
  let off = 12 + q.question.length;
  for (const rr of [...answers, ...authority, ...additional]) {
    const p = ownerPointer(rr.owner, q.question, qn);
    if (p >= 0) {
      buf.writeUInt16BE(0xc000 | (12 + p), off);
      off += 2;
    } else {
      rr.owner.copy(buf, off);
      off += rr.owner.length;
    }
    buf.writeUInt16BE(rr.type, off);
    buf.writeUInt16BE(rr.class, off + 2);
    buf.writeUInt32BE(Math.min(rr.ttl >>> 0, 0x7fffffff), off + 4);
    buf.writeUInt16BE(rr.rdata.length, off + 8);
    rr.rdata.copy(buf, off + 10);
    off += 10 + rr.rdata.length;
  }
  if (q.edns) writeOpt(buf, off, r.rcode >> 4, q.edns.dnssecOk);
  return buf;
}

function writeOpt(buf: Buffer, off: number, extRcode: number, dnssecOk: boolean): void {
  buf[off] = 0;
  buf.writeUInt16BE(41, off + 1);
  buf.writeUInt16BE(EDNS_PAYLOAD_CAP, off + 3);
  buf[off + 5] = extRcode & 0xff;
  buf[off + 6] = 0; // EDNS version 0
  buf.writeUInt16BE(dnssecOk ? 0x8000 : 0, off + 7);
  buf.writeUInt16BE(0, off + 9);
}

/** A header-only error reply (FORMERR, NOTIMP) for a packet we could not take apart. */
export function errorReply(id: number, queryFlags: number, rcode: number): Buffer {
  const buf = Buffer.alloc(12);
  buf.writeUInt16BE(id, 0);
  buf.writeUInt16BE(0x8000 | (queryFlags & 0x7800) | (queryFlags & 0x0100) | (rcode & 0xf), 2);
  return buf;
}
