/**
 * Query parsing with bounded work. The header is checked before anything else (header counts are never used
 * as loop bounds): a query must have QR=0, OPCODE=0, QDCOUNT=1, ANCOUNT=NSCOUNT=0, ARCOUNT≤1. The single
 * question (and an OPT record, if any) is read by hand; the rare shapes the fast reader does not handle (a
 * compressed question name, an additional record that is not a plain OPT) go to dns2's decoder, which the
 * checked counts limit to two records.
 */
import { dns2Parse, encodeName } from "./dns2.js";

export interface Edns {
  /** Requestor's UDP payload size (OPT class), before capping. */
  payload: number;
  version: number;
  dnssecOk: boolean;
}

export interface Query {
  id: number;
  /** Header octets 2–3 as received (RD and CD are echoed from here). */
  flags: number;
  /** Lower-case labels of the question name (no root label); computed on first use (the fast path never asks). */
  readonly labels: string[];
  qtype: number;
  qclass: number;
  /** The question as received (uncompressed name + type + class): echoed in replies, keeps the client's case. */
  question: Buffer;
  /** Lower-cased question bytes as a latin1 string: the key of the answer caches. */
  key: string;
  edns?: Edns;
}

export type ParseResult =
  | { kind: "query"; query: Query }
  /** Answer with a header-only error reply (FORMERR, NOTIMP). */
  | { kind: "error"; rcode: number; id: number; flags: number }
  /** Not worth a reply (responses, runts). */
  | { kind: "drop" };

const MAX_NAME = 255;

/** Parses a query packet. Never throws. */
export function parseQuery(buf: Buffer): ParseResult {
  if (buf.length < 12) return { kind: "drop" };
  const id = buf.readUInt16BE(0);
  const flags = buf.readUInt16BE(2);
  if (flags & 0x8000) return { kind: "drop" }; // QR=1: never answer a response (reflection loops)
  const opcode = (flags >> 11) & 0xf;
  if (opcode !== 0) return { kind: "error", rcode: 4, id, flags };
  const qd = buf.readUInt16BE(4);
  const an = buf.readUInt16BE(6);
  const ns = buf.readUInt16BE(8);
  const ar = buf.readUInt16BE(10);
  if (qd !== 1 || an !== 0 || ns !== 0 || ar > 1 || buf.length < 17) return { kind: "error", rcode: 1, id, flags };
  const fast = readFast(buf, id, flags, ar);
  if (fast !== undefined) return fast;
  return readWithDns2(buf, id, flags);
}

/** Returns undefined to hand the packet to dns2. */
function readFast(buf: Buffer, id: number, flags: number, ar: number): ParseResult | undefined {
  let off = 12;
  let total = 1;
  for (;;) {
    if (off >= buf.length) return { kind: "error", rcode: 1, id, flags };
    const len = buf[off] as number;
    if (len === 0) {
      off++;
      break;
    }
    if (len & 0xc0) return (len & 0xc0) === 0xc0 ? undefined : { kind: "error", rcode: 1, id, flags };
    total += len + 1;
    if (total > MAX_NAME || off + 1 + len > buf.length) return { kind: "error", rcode: 1, id, flags };
    off += 1 + len;
  }
  if (off + 4 > buf.length) return { kind: "error", rcode: 1, id, flags };
  const qtype = buf.readUInt16BE(off);
  const qclass = buf.readUInt16BE(off + 2);
  off += 4;
  const question = buf.subarray(12, off);
  let edns: Edns | undefined;
  if (ar === 1) {
    // OPT: root name (0), type 41, class = payload, ttl = ext-rcode|version|DO, rdlength, options (skipped).
    if (off + 11 > buf.length || buf[off] !== 0 || buf.readUInt16BE(off + 1) !== 41) return undefined;
    const rdlen = buf.readUInt16BE(off + 9);
    if (off + 11 + rdlen > buf.length) return { kind: "error", rcode: 1, id, flags };
    edns = {
      payload: buf.readUInt16BE(off + 3),
      version: buf[off + 6] as number,
      dnssecOk: ((buf[off + 7] as number) & 0x80) !== 0,
    };
  }
  return { kind: "query", query: new ParsedQuery(id, flags, qtype, qclass, question, edns) };
}

function readWithDns2(buf: Buffer, id: number, flags: number): ParseResult {
  try {
    const p = dns2Parse(buf);
    const qs = p.questions[0];
    if (p.errors.length > 0 || p.questions.length !== 1 || !qs) return { kind: "error", rcode: 1, id, flags };
    const name = qs.name.replace(/\.$/, "");
    const nameWire = encodeName(name);
    const question = Buffer.alloc(nameWire.length + 4);
    nameWire.copy(question, 0);
    question.writeUInt16BE(qs.type, nameWire.length);
    question.writeUInt16BE(qs.class, nameWire.length + 2);
    const opt = p.additionals.find((r) => r.type === 41);
    const ttl = opt?.ttl ?? 0;
    const edns = opt
      ? { payload: opt.class ?? opt.udpPayloadSize ?? 512, version: (ttl >>> 16) & 0xff, dnssecOk: !!opt.doFlag }
      : undefined;
    return { kind: "query", query: new ParsedQuery(id, flags, qs.type, qs.class, question, edns) };
  } catch {
    return { kind: "error", rcode: 1, id, flags };
  }
}

class ParsedQuery implements Query {
  readonly key: string;
  readonly edns?: Edns;
  private labelCache: string[] | undefined;
  constructor(
    readonly id: number,
    readonly flags: number,
    readonly qtype: number,
    readonly qclass: number,
    readonly question: Buffer,
    edns: Edns | undefined,
  ) {
    this.key = lowerKey(question);
    if (edns) this.edns = edns;
  }
  get labels(): string[] {
    if (this.labelCache) return this.labelCache;
    const out: string[] = [];
    const k = this.key;
    let off = 0;
    for (;;) {
      const len = k.charCodeAt(off);
      if (!len || Number.isNaN(len)) break;
      out.push(k.slice(off + 1, off + 1 + len));
      off += 1 + len;
    }
    this.labelCache = out;
    return out;
  }
}

function asciiLower(s: string): string {
  return s.replace(/[A-Z]+/g, (m) => m.toLowerCase());
}

/**
 * The question with the name's ASCII letters lower-cased, as a latin1 string (a cheap, exact map key). The
 * type and class octets stay as they are (lower-casing them would make e.g. types 65 and 97 one key).
 */
export function lowerKey(question: Buffer): string {
  const s = question.toString("latin1");
  const name = s.length > 4 ? s.slice(0, -4) : s;
  return /[A-Z]/.test(name) ? asciiLower(name) + s.slice(name.length) : s;
}

/** A query for `name`/`qtype` of our own making (used to chase a CNAME target upstream). */
export function makeQuery(name: string, qtype: number, like: Query): Query {
  const clean = name.replace(/\.$/, "");
  const nameWire = encodeName(clean);
  const question = Buffer.alloc(nameWire.length + 4);
  nameWire.copy(question, 0);
  question.writeUInt16BE(qtype, nameWire.length);
  question.writeUInt16BE(like.qclass, nameWire.length + 2);
  return new ParsedQuery(like.id, like.flags, qtype, like.qclass, question, like.edns);
}
