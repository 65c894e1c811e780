/**
 * The chains of a dump located in its bytes (UTF-8), without a string or an object per line or per chain: a diff
 * of two 430k-line dumps touches ~110k chains per side, and most of them are identical text that never needs a
 * name, an object or a parse. Chains live in typed arrays (name offsets, hash, declaration line, rule runs) with an
 * open-addressing hash table on the name; rule lines are runs of consecutive `-A` lines ([start, end) byte offsets).
 * Working on the file's bytes (not a JS string) skips decoding 30 MB, and typed-array reads are what V8 compiles
 * best. Strings are made only for the chains someone asks for.
 *
 * `indexDump` understands only the plain shape iptables-save and restore payloads have: `*table`, `:CHAIN POLICY
 * [p:b]`, `-A CHAIN …` of declared chains, `COMMIT`, comments and blank lines. Anything else (other commands,
 * counters, re-declared chains, stray whitespace, malformed lines) returns null and the caller uses the full
 * parser, which also produces the error messages — so both paths describe the same rule set.
 */
import { isAscii } from "node:buffer";
import { isBuiltinChain } from "./model.js";

/** A growable Int32Array. */
export class IntVec {
  a: Int32Array;
  n = 0;
  constructor(cap: number) {
    this.a = new Int32Array(Math.max(16, cap));
  }
  push(x: number): number {
    if (this.n === this.a.length) {
      const b = new Int32Array(this.a.length * 2);
      b.set(this.a);
      this.a = b;
    }
    this.a[this.n] = x;
    return this.n++;
  }
}

/** Rule runs of one dump: consecutive `-A` lines of one chain; `next` links the runs of a chain (-1 = last). */
export class Runs {
  readonly start: IntVec;
  readonly end: IntVec;
  readonly line: IntVec;
  readonly next: IntVec;
  /** `cap`: expected number of runs. */
  constructor(cap: number) {
    this.start = new IntVec(cap);
    this.end = new IntVec(cap);
    this.line = new IntVec(cap);
    this.next = new IntVec(cap);
  }
  add(start: number, end: number, line: number): number {
    this.start.push(start);
    this.end.push(end);
    this.line.push(line);
    return this.next.push(-1);
  }
}

/** FNV-1a over bytes[start, end). */
function hashRange(bytes: Uint8Array, start: number, end: number): number {
  let h = 0x811c9dc5;
  for (let i = start; i < end; i++) h = Math.imul(h ^ bytes[i]!, 16777619);
  return h | 0;
}

function sameRange(a: Uint8Array, as: number, b: Uint8Array, bs: number, len: number): boolean {
  for (let i = 0; i < len; i++) if (a[as + i] !== b[bs + i]) return false;
  return true;
}

/** sameRange for any length: long ranges through memcmp (a cold JS loop over 1 MB costs tens of ms). */
function sameBytes(a: Buffer, as: number, b: Buffer, bs: number, len: number): boolean {
  return len < 64 ? sameRange(a, as, b, bs, len) : a.compare(b, bs, bs + len, as, as + len) === 0;
}

const encoder = new TextEncoder();

export class TableIndex {
  /** Chains in declaration order: id = position. */
  n = 0;
  readonly nameStart: IntVec;
  readonly nameEnd: IntVec;
  readonly hash: IntVec;
  readonly line: IntVec;
  readonly firstRun: IntVec;
  readonly lastRun: IntVec;
  /** Policies of built-in chains (user chains have `-`). */
  readonly builtinPolicy = new Map<number, string>();
  /** Open addressing: chain id + 1, 0 = empty. */
  private slots: Int32Array;
  /** Chains below this id are in `slots`. */
  private hashed = 0;
  private dup = false;

  constructor(
    readonly name: string,
    readonly bytes: Buffer,
    readonly runs: Runs,
    /** Expected number of chains (sizes the arrays; they grow if needed). */
    cap: number,
  ) {
    this.nameStart = new IntVec(cap);
    this.nameEnd = new IntVec(cap);
    this.hash = new IntVec(cap);
    this.line = new IntVec(cap);
    this.firstRun = new IntVec(cap);
    this.lastRun = new IntVec(cap);
    let slots = 64;
    while (slots < cap * 2) slots *= 2;
    this.slots = new Int32Array(slots);
  }

  /** The text of bytes[start, end). */
  str(start: number, end: number): string {
    return this.bytes.toString("utf8", start, end);
  }

  isBuiltin(id: number): boolean {
    return this.builtinPolicy.size > 0 && this.builtinPolicy.has(id);
  }

  chainName(id: number): string {
    return this.str(this.nameStart.a[id]!, this.nameEnd.a[id]!);
  }

  /** Id of the chain named bytes[start, end) of `bytes` (any buffer), or -1. */
  findRange(bytes: Uint8Array, start: number, end: number, h = hashRange(bytes, start, end)): number {
    if (this.hashed < this.n) this.sync();
    return this.probe(bytes, start, end - start, h);
  }

  private probe(bytes: Uint8Array, start: number, len: number, h: number): number {
    const mask = this.slots.length - 1;
    for (let i = h & mask; ; i = (i + 1) & mask) {
      const v = this.slots[i]!;
      if (v === 0) return -1;
      const id = v - 1;
      if (
        this.hash.a[id] === h &&
        this.nameEnd.a[id]! - this.nameStart.a[id]! === len &&
        sameRange(this.bytes, this.nameStart.a[id]!, bytes, start, len)
      )
        return id;
    }
  }

  /**
   * Hashes the chains declared since the last call into the table. Declaring only records offsets, so the 110k
   * declarations of a big dump cost a tight loop here instead of weight in the line loop. False when a chain was
   * declared twice (a re-declaration flushes: the full parser's business).
   */
  sync(): boolean {
    for (let id = this.hashed; id < this.n; id++) {
      const s = this.nameStart.a[id]!;
      const e = this.nameEnd.a[id]!;
      const h = hashRange(this.bytes, s, e);
      this.hash.a[id] = h;
      if (this.probe(this.bytes, s, e - s, h) >= 0) this.dup = true;
      else {
        if ((id + 1) * 2 > this.slots.length) this.grow(id);
        this.insert(id, h);
      }
    }
    this.hashed = this.n;
    return !this.dup;
  }

  find(name: string): number {
    const b = encoder.encode(name);
    return this.findRange(b, 0, b.length);
  }

  /** Id here of chain `id` of another table index, or -1; `guess` (an id here) is tried first. */
  findOf(other: TableIndex, id: number, guess = -1): number {
    const s = other.nameStart.a[id]!;
    const len = other.nameEnd.a[id]! - s;
    if (guess >= 0 && guess < this.n && this.hash.a[guess] === other.hash.a[id]) {
      const gs = this.nameStart.a[guess]!;
      if (this.nameEnd.a[guess]! - gs === len && sameRange(this.bytes, gs, other.bytes, s, len)) return guess;
    }
    return this.findRange(other.bytes, s, s + len, other.hash.a[id]!);
  }

  /** Whether chain `id` is named bytes[start, end) (of this index's bytes). */
  isNamed(id: number, start: number, end: number): boolean {
    const s = this.nameStart.a[id]!;
    return this.nameEnd.a[id]! - s === end - start && sameRange(this.bytes, s, this.bytes, start, end - start);
  }

  /** Declares a chain (see sync). */
  declare(start: number, end: number, line: number): number {
    this.nameStart.push(start);
    this.nameEnd.push(end);
    this.hash.push(0);
    this.line.push(line);
    this.firstRun.push(-1);
    this.lastRun.push(-1);
    return this.n++;
  }

  private insert(id: number, h: number): void {
    const mask = this.slots.length - 1;
    let i = h & mask;
    while (this.slots[i] !== 0) i = (i + 1) & mask;
    this.slots[i] = id + 1;
  }

  /** Doubles the table, re-inserting ids below `upTo`. */
  private grow(upTo: number): void {
    this.slots = new Int32Array(this.slots.length * 2);
    for (let id = 0; id < upTo; id++)
      if (
        this.probe(this.bytes, this.nameStart.a[id]!, this.nameEnd.a[id]! - this.nameStart.a[id]!, this.hash.a[id]!) < 0
      )
        this.insert(id, this.hash.a[id]!);
  }

  /** Appends the rule line bytes[start, end) to chain `id`, extending its last run when `contiguous`. */
  append(id: number, start: number, end: number, line: number, contiguous: boolean): void {
    const last = this.lastRun.a[id]!;
    if (contiguous && last >= 0) {
      this.runs.end.a[last] = end;
      return;
    }
    const r = this.runs.add(start, end, line);
    if (last >= 0) this.runs.next.a[last] = r;
    else this.firstRun.a[id] = r;
    this.lastRun.a[id] = r;
  }

  /**
   * The chain's rule lines as one string (joined by newlines, what LazyChain.rawText returns) and its runs as
   * [start, end, firstLine] triples of that string (LazyChain's layout).
   */
  rulesText(id: number): { text: string; runs: number[] } {
    const rs = this.runs;
    const first = this.firstRun.a[id]!;
    const runs: number[] = [];
    let at = 0;
    if (first >= 0 && rs.next.a[first]! >= 0) {
      // several runs (KUBE-SERVICES: 10k): copied together in JS (no call per run), decoded once
      let total = -1;
      for (let r = first; r >= 0; r = rs.next.a[r]!) total += rs.end.a[r]! - rs.start.a[r]! + 1;
      const out = Buffer.allocUnsafe(total);
      const src = this.bytes;
      for (let r = first; r >= 0; r = rs.next.a[r]!) {
        if (at > 0) out[at++] = 10;
        for (let i = rs.start.a[r]!, e = rs.end.a[r]!; i < e; i++) out[at++] = src[i]!;
      }
      if (isAscii(out)) {
        // byte offsets are character offsets
        at = 0;
        for (let r = first; r >= 0; r = rs.next.a[r]!) {
          const n = rs.end.a[r]! - rs.start.a[r]!;
          runs.push(at, at + n, rs.line.a[r]!);
          at += n + 1;
        }
        return { text: out.toString("latin1"), runs };
      }
      at = 0;
    }
    const parts: string[] = [];
    for (let r = first; r >= 0; r = rs.next.a[r]!) {
      const p = this.str(rs.start.a[r]!, rs.end.a[r]!);
      runs.push(at, at + p.length, rs.line.a[r]!);
      parts.push(p);
      at += p.length + 1;
    }
    return { text: parts.join("\n"), runs };
  }

  /** True when chain `id` here and chain `oid` of `o` have the same rule text (same lines, same order). */
  sameRules(id: number, o: TableIndex, oid: number): boolean {
    const ra = this.runs;
    const rb = o.runs;
    const fa = this.firstRun.a[id]!;
    const fb = o.firstRun.a[oid]!;
    if (fa < 0 || fb < 0) return fa === fb;
    if (ra.next.a[fa]! < 0 && rb.next.a[fb]! < 0) {
      const sa = ra.start.a[fa]!;
      const ea = ra.end.a[fa]!;
      const sb = rb.start.a[fb]!;
      const eb = rb.end.a[fb]!;
      // a JS loop over typed arrays beats Buffer.compare (argument checks per call) for chain-sized ranges
      return ea - sa === eb - sb && sameBytes(this.bytes, sa, o.bytes, sb, ea - sa);
    }
    return sameJoined(this, fa, o, fb);
  }
}

/** Whether the runs from `x` of `a` and from `y` of `b`, each joined by newlines, are the same bytes. */
function sameJoined(a: TableIndex, x: number, b: TableIndex, y: number): boolean {
  const ra = a.runs;
  const rb = b.runs;
  let pa = ra.start.a[x]!;
  let ea = ra.end.a[x]!;
  let pb = rb.start.a[y]!;
  let eb = rb.end.a[y]!;
  for (;;) {
    const n = Math.min(ea - pa, eb - pb);
    if (!sameBytes(a.bytes, pa, b.bytes, pb, n)) return false;
    pa += n;
    pb += n;
    if (pa === ea) {
      x = ra.next.a[x]!;
      if (pb === eb) {
        // both runs end: both continue with a newline, or both are done
        y = rb.next.a[y]!;
        if (x < 0 || y < 0) return x === y;
        pb = rb.start.a[y]!;
        eb = rb.end.a[y]!;
      } else if (x < 0 || b.bytes[pb++] !== 10) return false;
      pa = ra.start.a[x]!;
      ea = ra.end.a[x]!;
    } else {
      // b's run ended inside a's: a must have the newline that joins b's next run
      y = rb.next.a[y]!;
      if (y < 0 || a.bytes[pa++] !== 10) return false;
      pb = rb.start.a[y]!;
      eb = rb.end.a[y]!;
    }
  }
}

/** Longest stretch compared with one native call (a differing stretch is then compared chain by chain). */
const BLOCK = 1 << 14;

/**
 * For each chain `id` of `a` with a counterpart `match[id]` in `b` (-1: none): 1 when both have the same rule
 * text. Chains whose rules are one run on both sides are compared in blocks: consecutive chains that sit at the
 * same offsets relative to each other in both dumps are compared with one native memcmp of the whole stretch
 * (the lines between them included), which is what makes comparing 110k chains cost about as much as reading
 * them; only a differing block is compared chain by chain.
 */
export function sameRulesAll(a: TableIndex, b: TableIndex, match: Int32Array): Uint8Array {
  const same = new Uint8Array(a.n);
  const ra = a.runs;
  const rb = b.runs;
  const pending: number[] = [];
  let bsA = 0;
  let beA = 0;
  let bsB = 0;
  let beB = 0;
  const flush = () => {
    if (!pending.length) return;
    const eq = a.bytes.compare(b.bytes, bsB, beB, bsA, beA) === 0;
    for (const id of pending) same[id] = eq || a.sameRules(id, b, match[id]!) ? 1 : 0;
    pending.length = 0;
  };
  for (let id = 0; id < a.n; id++) {
    const oid = match[id]!;
    if (oid < 0) continue;
    const fa = a.firstRun.a[id]!;
    const fb = b.firstRun.a[oid]!;
    if (fa < 0 || fb < 0 || ra.next.a[fa]! >= 0 || rb.next.a[fb]! >= 0) {
      same[id] = a.sameRules(id, b, oid) ? 1 : 0;
      continue;
    }
    const sa = ra.start.a[fa]!;
    const ea = ra.end.a[fa]!;
    const sb = rb.start.a[fb]!;
    const eb = rb.end.a[fb]!;
    if (ea - sa !== eb - sb) continue; // different lengths: different
    if (pending.length && sa >= beA && sa - bsA === sb - bsB && ea - bsA <= BLOCK) {
      pending.push(id);
      beA = ea;
      beB = eb;
    } else {
      flush();
      pending.push(id);
      bsA = sa;
      beA = ea;
      bsB = sb;
      beB = eb;
    }
  }
  flush();
  return same;
}

export interface DumpIndex {
  tables: TableIndex[];
}

const POLICY_TAIL = /^ \[\d+:\d+\]$/;
const ZERO_COUNTERS_BYTES = Uint8Array.of(32, 91, 48, 58, 48, 93); // " [0:0]"

// The rare cases live outside indexDump's loop, which then stays small for the JIT.

/** ` [p:b]` at bytes[start, end). */
function counters(bytes: Buffer, start: number, end: number): boolean {
  return POLICY_TAIL.test(bytes.toString("latin1", start, end));
}

function noteBuiltin(t: TableIndex, id: number, start: number, end: number, policyEnd: number): void {
  if (isBuiltinChain(t.name, t.str(start, end))) t.builtinPolicy.set(id, t.str(end + 1, policyEnd));
}

/** A `*table`, `COMMIT`, comment or blank line: the table in effect after it, or undefined to give up. */
function otherLine(
  bytes: Buffer,
  s: number,
  e: number,
  t: TableIndex | null,
  tables: TableIndex[],
  runs: Runs,
): TableIndex | null | undefined {
  const c0 = bytes[s];
  if (c0 === 42 /* * */) {
    if (t !== null) return undefined;
    const name = bytes.toString("utf8", s + 1, e);
    if (name === "" || /\s/.test(name) || tables.some((x) => x.name === name)) return undefined;
    const n = new TableIndex(name, bytes, runs, bytes.length >> 8);
    tables.push(n);
    return n;
  }
  if (c0 === 67 /* C */) {
    if (t === null || e - s !== 6 || bytes.toString("latin1", s, e) !== "COMMIT") return undefined;
    return null;
  }
  return c0 === 35 /* # */ || e === s ? t : undefined;
}

/** Indexes a plain iptables-save / restore dump; null when it needs the full parser (see the module comment). */
export function indexDump(input: Uint8Array): DumpIndex | null {
  const bytes = Buffer.isBuffer(input) ? input : Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  const tables: TableIndex[] = [];
  // a kube-proxy dump has ~300 bytes per chain and ~150 per rule run
  const runs = new Runs(bytes.length >> 7);
  const len = bytes.length;
  let t: TableIndex | null = null;
  let s = 0;
  let lineNo = 0;
  /** Chain of the previous line when it was a rule line, else -1; that line's `-A NAME ` is at [lastStart, +pl). */
  let last = -1;
  let lastStart = 0;
  let pl = 0;
  let next = 0;
  while (s < len) {
    let e = bytes.indexOf(10, s);
    if (e < 0) e = len;
    lineNo++;
    const c0 = bytes[s]!;
    if (e > s) {
      const z = bytes[e - 1]!;
      if (z === 13 || z === 32 || z === 9) return null; // trailing whitespace: the parser trims
    }
    if (c0 === 45 /* - */) {
      if (t === null) return null;
      if (last >= 0 && s + pl <= e) {
        // same chain as the previous line? (compared in place, from the name's distinctive end)
        let i = pl - 1;
        while (i > 0 && bytes[s + i] === bytes[lastStart + i]) i--;
        if (i === 0) {
          t.append(last, s, e, lineNo, true);
          s = e + 1;
          continue;
        }
      }
      if (bytes[s + 1] !== 65 /* A */ || bytes[s + 2] !== 32) return null;
      let sp = bytes.indexOf(32, s + 3);
      if (sp < 0 || sp > e) sp = e;
      // rules mostly come in declaration order: try the chain after the previous run's first
      const id = sp === s + 3 ? -1 : next < t.n && t.isNamed(next, s + 3, sp) ? next : t.findRange(bytes, s + 3, sp);
      if (id < 0) return null; // undeclared chain (or a built-in one): the parser decides
      t.append(id, s, e, lineNo, false);
      last = sp === e ? -1 : id; // `-A NAME` alone: no `-A NAME ` to match the next line with
      next = id + 1;
      lastStart = s;
      pl = sp + 1 - s;
      s = e + 1;
      continue;
    }
    last = -1;
    if (c0 === 58 /* : */) {
      // `:NAME POLICY` or `:NAME POLICY [p:b]`, single spaces
      if (t === null) return null;
      let sp = s + 1;
      while (sp < e && bytes[sp] !== 32 && bytes[sp] !== 9) sp++;
      if (sp === e || sp === s + 1 || bytes[sp] !== 32) return null;
      let sp2 = sp + 1;
      while (sp2 < e && bytes[sp2] !== 32 && bytes[sp2] !== 9) sp2++;
      if (sp2 === sp + 1 || bytes[sp2] === 9) return null;
      if (sp2 < e && !(e - sp2 === 6 && sameRange(bytes, sp2, ZERO_COUNTERS_BYTES, 0, 6)) && !counters(bytes, sp2, e))
        return null;
      const id = t.declare(s + 1, sp, lineNo);
      // built-in names are short (POSTROUTING = 11): only those get a string
      if (sp - s - 1 <= 11) noteBuiltin(t, id, s + 1, sp, sp2);
      s = e + 1;
      continue;
    }
    const x = otherLine(bytes, s, e, t, tables, runs);
    if (x === undefined) return null;
    t = x;
    s = e + 1;
  }
  if (t !== null) return null;
  for (const x of tables) if (!x.sync()) return null;
  return { tables };
}
