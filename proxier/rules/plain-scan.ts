/**
 * The lightest look at a plain dump (what iptables-save prints and restore payloads look like: `*table`,
 * `:CHAIN POLICY [p:b]`, `-A CHAIN …`, `COMMIT`, comments, blank lines): one pass that checks every line is of
 * those kinds and records where tables, declarations and runs of consecutive same-chain `-A` lines are — no chain
 * lookups, no hashing, no strings. A diff of two big dumps then only materialises the chains that the edit script
 * (line-diff.ts) touches, plus the few shared chains names are resolved from; a chain is found by name with a
 * native search of the declarations and one pass over the runs.
 *
 * Why skipping untouched chains is exact: with only these line kinds, a chain's rules are a function of the lines
 * naming it in its table (a declaration flushes, `-A` appends). An edit script matches equal lines in order; when
 * no `*table`/`COMMIT` line is in a hunk, table sections match section for section, so a chain none of whose lines
 * is in a hunk has the same lines, in the same order, on both sides. Lines that are identical on both sides are
 * never interpreted: like a malformed rule in an identical chain, an undeclared chain used identically by both
 * dumps is not reported by `diff` (`canonical` and `trace` parse everything).
 */

import { withSyncOsr } from "./jit.js";

export class PlainTable {
  /** Declarations: offset of the line (its `:`), line number, end of the name. */
  nDecl = 0;
  declStart: Int32Array;
  declLine: Int32Array;
  declNameEnd: Int32Array;
  /**
   * Runs of consecutive `-A` lines of one chain: [start, end) (end = the last line's newline), first line number,
   * and the chain's (first) declaration.
   */
  nRun = 0;
  runStart: Int32Array;
  runEnd: Int32Array;
  runLine: Int32Array;
  runChain: Int32Array;
  /** Section: from the line after `*name` to the start of the COMMIT line. */
  end = -1;
  /** The declarations' name keys and their bitmap (made on the first lookup after the scan). */
  declKeys: Int32Array | null = null;
  declBits: Uint32Array | null = null;
  constructor(
    readonly name: string,
    readonly start: number,
    /** Expected declarations and runs (the arrays grow if needed). */
    cap: number,
  ) {
    cap = Math.max(cap, 16);
    this.declStart = new Int32Array(cap);
    this.declLine = new Int32Array(cap);
    this.declNameEnd = new Int32Array(cap);
    this.runStart = new Int32Array(cap);
    this.runEnd = new Int32Array(cap);
    this.runLine = new Int32Array(cap);
    this.runChain = new Int32Array(cap);
  }
  growDecls(): void {
    this.declStart = grow(this.declStart);
    this.declLine = grow(this.declLine);
    this.declNameEnd = grow(this.declNameEnd);
  }
  growRuns(): void {
    this.runStart = grow(this.runStart);
    this.runEnd = grow(this.runEnd);
    this.runLine = grow(this.runLine);
    this.runChain = grow(this.runChain);
  }
}

function grow(a: Int32Array): Int32Array {
  const b = new Int32Array(a.length * 2);
  b.set(a);
  return b;
}

export interface PlainDump {
  bytes: Buffer;
  tables: PlainTable[];
  /** Whether the dump is all ASCII (computed when first needed). */
  ascii?: boolean;
}

// Rare cases outside the line loop, which then stays small for the JIT.

function tableLine(bytes: Buffer, s: number, e: number, tables: PlainTable[]): PlainTable | null {
  const name = bytes.toString("latin1", s + 1, e);
  if (name === "" || /[^\x21-\x7e]/.test(name) || tables.some((x) => x.name === name)) return null;
  // a kube-proxy dump has ~300 bytes per declaration and per rule run; small tables stay small
  const t = new PlainTable(name, e + 1, Math.min((bytes.length - e) >> 8, 4096));
  tables.push(t);
  return t;
}

const POLICY_TAIL = /^ \[\d+:\d+\]$/;

/** ` [p:b]` at bytes[s, e): ` [0:0]` compared as bytes, others through the regex. */
function countersTail(bytes: Buffer, s: number, e: number): boolean {
  if (
    e - s === 6 &&
    bytes[s + 1] === 91 &&
    bytes[s + 2] === 48 &&
    bytes[s + 3] === 58 &&
    bytes[s + 4] === 48 &&
    bytes[s + 5] === 93
  )
    return true;
  return POLICY_TAIL.test(bytes.toString("latin1", s, e));
}

/**
 * `:NAME POLICY` or `:NAME POLICY [p:b]` with single spaces (what the full parser reads the same way; the caller
 * has made sure the dump has no tabs): the end of the name, or -1.
 */
export function declLine(bytes: Buffer, s: number, e: number): number {
  const sp = bytes.indexOf(32, s + 1);
  if (sp < 0 || sp >= e || sp === s + 1) return -1;
  let sp2 = bytes.indexOf(32, sp + 1);
  if (sp2 < 0 || sp2 > e) sp2 = e;
  if (sp2 === sp + 1) return -1;
  return sp2 === e || countersTail(bytes, sp2, e) ? sp : -1;
}

/** ` - [0:0]` (a user chain without counters, the common declaration) ends bytes[s, e) after a name without spaces. */
export function userDecl(bytes: Buffer, s: number, e: number): boolean {
  return (
    e - s > 9 &&
    bytes[e - 1] === 93 &&
    bytes[e - 2] === 48 &&
    bytes[e - 3] === 58 &&
    bytes[e - 4] === 48 &&
    bytes[e - 5] === 91 &&
    bytes[e - 6] === 32 &&
    bytes[e - 7] === 45 &&
    bytes[e - 8] === 32 &&
    bytes.indexOf(32, s + 1) === e - 8
  );
}

/** Whether bytes[a, a + n) and bytes[b, b + n) are equal (compared from the end, where chain hashes differ). */
function sameRun(bytes: Buffer, a: number, b: number, n: number): boolean {
  for (let i = n - 1; i >= 0; i--) if (bytes[a + i] !== bytes[b + i]) return false;
  return true;
}

/** Declarations found by name where the rule order did not predict them (see chainOf). */
class Lookups {
  /** Recently found chains (declaration ids), tried before searching. */
  readonly recent = new Int32Array(4).fill(-1);
  at = 0;
  searches = 0;
  byName: Map<string, number> | null = null;
}

/**
 * The declaration of the chain a new run names (bytes[s, e)), or -1: recently used chains first, then a native
 * search of the declarations (a few per table), then a map of every declaration name (orders nothing predicts).
 */
function chainOf(t: PlainTable, bytes: Buffer, s: number, e: number, look: Lookups): number {
  const ds = t.declStart;
  const de = t.declNameEnd;
  const n = e - s;
  for (const id of look.recent)
    if (id >= 0 && de[id]! - ds[id]! - 1 === n && sameRun(bytes, ds[id]! + 1, s, n)) return id;
  let id: number;
  if (look.searches < 16) {
    look.searches++;
    id = findDecl(t, bytes, bytes.toString("utf8", s, e));
  } else {
    if (!look.byName || look.byName.size < t.nDecl) {
      look.byName ??= new Map();
      for (let d = 0; d < t.nDecl; d++) {
        const name = bytes.toString("utf8", ds[d]! + 1, de[d]!);
        if (!look.byName.has(name)) look.byName.set(name, d);
      }
    }
    id = look.byName.get(bytes.toString("utf8", s, e)) ?? -1;
  }
  if (id >= 0) {
    look.recent[look.at] = id;
    look.at = (look.at + 1) & 3;
  }
  return id;
}

let warm = false;

/**
 * Runs the scan once over a small dump that takes every branch (tables, built-in and user declarations, counters,
 * rule runs, chains found in order, again and by search and by map, arrays growing, comments, blank lines). A big
 * dump's scan is compiled while it runs (on-stack replacement); without feedback for a branch taken only later
 * (the first array growth at 4,096 runs, the first chain used again) the compiled loop is thrown away there and
 * compiled again — three or four times per dump, each costing as much as scanning megabytes.
 */
function warmUp(): void {
  warm = true;
  const n = 40;
  const lines = ["# warm-up", "*filter", ":INPUT ACCEPT [0:0]", ":A - [0:0]", "-A A -j ACCEPT", "COMMIT", ""];
  lines.push("*nat", ":PREROUTING ACCEPT [3:180]", ":KUBE-SERVICES - [0:0]");
  for (let i = 0; i < n; i++) lines.push(`:C${i} - [0:0]`);
  for (let i = 0; i < n; i++) lines.push(`-A KUBE-SERVICES -j C${i}`, `-A C${i} -j ACCEPT`, `-A C${i} -j DROP`);
  for (let i = n - 1; i >= 0; i--) lines.push(`-A C${i} -j RETURN`);
  lines.push("-A PREROUTING -j KUBE-SERVICES", "COMMIT", "");
  scan(Buffer.from(lines.join("\n"), "latin1"));
}

/**
 * Scans a plain dump; null when it is anything else (the caller then uses the chain index or the parser, which
 * also gives the error messages). Every rule's chain must be declared before it in its table, as the parser
 * requires: rules mostly follow declaration order, so the chain after the last one is tried first.
 */
export function scanPlain(input: Uint8Array): PlainDump | null {
  const bytes = Buffer.isBuffer(input) ? input : Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  const len = bytes.length;
  if (len > 0 && bytes[len - 1] !== 10) return null;
  if (len <= 1 << 20) return scan(bytes);
  return withSyncOsr(() => {
    if (!warm) warmUp();
    return scan(bytes);
  });
}

function scan(bytes: Buffer): PlainDump | null {
  const len = bytes.length;
  if (bytes.indexOf(9) >= 0) return null; // tabs separate words like spaces: the parser's business
  const tables: PlainTable[] = [];
  let t: PlainTable | null = null;
  let look = new Lookups();
  let s = 0;
  let lineNo = 0;
  /** Start of the previous line when it was a rule line (its `-A NAME ` is [lastStart, +pl)), else -1. */
  let lastStart = -1;
  let pl = 0;
  /** The declaration expected next: the one after the last chain found in order. */
  let next = 0;
  while (s < len) {
    const e = bytes.indexOf(10, s);
    lineNo++;
    const c0 = bytes[s]!;
    if (e > s) {
      const z = bytes[e - 1]!;
      if (z === 13 || z === 32) return null; // trailing whitespace: the parser trims
    }
    if (c0 === 45 /* - */) {
      if (t === null) return null;
      if (lastStart >= 0 && s + pl <= e && sameRun(bytes, s, lastStart, pl)) {
        t.runEnd[t.nRun - 1] = e;
        s = e + 1;
        continue;
      }
      if (bytes[s + 1] !== 65 /* A */ || bytes[s + 2] !== 32) return null;
      let sp = bytes.indexOf(32, s + 3);
      if (sp < 0 || sp > e) sp = e;
      const n = sp - s - 3;
      if (n === 0) return null;
      let id = next;
      const ds = t.declStart;
      const de = t.declNameEnd;
      if (id < t.nDecl && de[id]! - ds[id]! - 1 === n && sameRun(bytes, ds[id]! + 1, s + 3, n)) next = id + 1;
      else {
        id = chainOf(t, bytes, s + 3, sp, look);
        if (id < 0 || ds[id]! > s) return null; // not declared (before this line)
        // a chain further on: the order continues from it (a chain used again, like KUBE-SERVICES, does not)
        if (id >= next) next = id + 1;
      }
      if (t.nRun === t.runStart.length) t.growRuns();
      const r = t.nRun++;
      t.runStart[r] = s;
      t.runEnd[r] = e;
      t.runLine[r] = lineNo;
      t.runChain[r] = id;
      lastStart = sp === e ? -1 : s; // `-A NAME` alone: no `-A NAME ` to match the next line with
      pl = sp + 1 - s;
      s = e + 1;
      continue;
    }
    lastStart = -1;
    if (c0 === 58 /* : */) {
      if (t === null) return null;
      const ne = userDecl(bytes, s, e) ? e - 8 : declLine(bytes, s, e);
      if (ne < 0) return null;
      if (t.nDecl === t.declStart.length) t.growDecls();
      const d = t.nDecl++;
      t.declStart[d] = s;
      t.declLine[d] = lineNo;
      t.declNameEnd[d] = ne;
    } else if (c0 === 42 /* * */) {
      if (t !== null) return null;
      t = tableLine(bytes, s, e, tables);
      if (t === null) return null;
      look = new Lookups();
      next = 0;
    } else if (c0 === 67 /* C */) {
      if (t === null || e - s !== 6 || bytes.toString("latin1", s, e) !== "COMMIT") return null;
      t.end = s;
      t = null;
    } else if (c0 !== 35 /* # */ && e !== s) return null;
    s = e + 1;
  }
  return t === null ? { bytes, tables } : null;
}

/** The table whose section holds byte `at`, or null (between tables). */
function tableAt(d: PlainDump, at: number): PlainTable | null {
  for (const t of d.tables) if (at >= t.start && at < t.end) return t;
  return null;
}

/** The chain a declaration or rule line at [s, e) names, or "" for other lines; null for `*table`/`COMMIT`. */
function lineChain(bytes: Buffer, s: number, e: number): string | null {
  const c0 = bytes[s];
  if (c0 === 45) {
    let sp = bytes.indexOf(32, s + 3);
    if (sp < 0 || sp > e) sp = e;
    return bytes.toString("utf8", s + 3, sp);
  }
  if (c0 === 58) return bytes.toString("utf8", s + 1, bytes.indexOf(32, s));
  if (c0 === 42 || c0 === 67) return null;
  return "";
}

/** Adds the chains named by the lines in [s, e) of `d` to `out` (per table); false on a table line. */
function noteLines(d: PlainDump, s: number, e: number, out: Map<string, Set<string>>): boolean {
  while (s < e) {
    const le = d.bytes.indexOf(10, s);
    const name = lineChain(d.bytes, s, le);
    if (name === null) return false;
    if (name !== "") {
      const t = tableAt(d, s);
      if (!t) return false;
      let set = out.get(t.name);
      if (!set) out.set(t.name, (set = new Set()));
      set.add(name);
    }
    s = le + 1;
  }
  return true;
}

/**
 * Per table, the chains that have a line in a hunk of the edit script between the two dumps; every other chain
 * is identical on both sides (see the module comment). Null when a table line changed or the script was given up.
 */
export function touchedChains(a: PlainDump, b: PlainDump, hunks: number[] | null): Map<string, Set<string>> | null {
  if (!hunks) return null;
  const out = new Map<string, Set<string>>();
  for (let i = 0; i < hunks.length; i += 4)
    if (!noteLines(a, hunks[i]!, hunks[i + 1]!, out) || !noteLines(b, hunks[i + 2]!, hunks[i + 3]!, out)) return null;
  return out;
}

const KEY_BITS = 20;

/** Hash of a name's length and last four bytes (chain names differ at the end), KEY_BITS wide. */
export function nameKey(bytes: Uint8Array, s: number, e: number): number {
  let h = Math.imul(e - s, 0x9e3779b1);
  for (let i = e - 1; i >= s && i >= e - 4; i--) h = Math.imul(h ^ bytes[i]!, 0x01000193);
  return (h >>> 0) >>> (32 - KEY_BITS);
}

/** The bitmap of the declarations' name keys (once the table is scanned; null before). */
export function declBits(t: PlainTable, bytes: Buffer): Uint32Array | null {
  if (t.end < 0) return null;
  if (!t.declBits) {
    const bits = new Uint32Array(1 << (KEY_BITS - 5));
    const keys = new Int32Array(t.nDecl);
    for (let d = 0; d < t.nDecl; d++) {
      const k = nameKey(bytes, t.declStart[d]! + 1, t.declNameEnd[d]!);
      keys[d] = k;
      bits[k >>> 5]! |= 1 << (k & 31);
    }
    t.declKeys = keys;
    t.declBits = bits;
  }
  return t.declBits;
}

/** Index of the first declaration of a chain in a table (a native search of the declaration lines), or -1. */
export function findDecl(t: PlainTable, bytes: Buffer, name: string): number {
  const n = t.nDecl;
  if (n === 0) return -1;
  const bits = declBits(t, bytes);
  if (bits) {
    const b = Buffer.from(name, "utf8");
    const k = nameKey(b, 0, b.length);
    if (!(bits[k >>> 5]! & (1 << (k & 31)))) return -1; // most absent names stop here
  }
  const from = t.declStart[0]!;
  // every declaration line starts right after a newline: search "\n:NAME " between the first and the last
  const hay = bytes.subarray(from - 1, t.declNameEnd[n - 1]! + 1);
  const i = hay.indexOf(Buffer.from(`\n:${name} `, "utf8"));
  return i < 0 ? -1 : declAt(t, from + i);
}

/** Index of the declaration at byte `at`. */
function declAt(t: PlainTable, at: number): number {
  let lo = 0;
  let hi = t.nDecl - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (t.declStart[mid]! < at) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/*
 * The passes over every declaration or run below run once or twice per diff, so V8 compiles them while they run
 * (on-stack replacement). Each is a function of its own with nothing but the loop, and the loop has no branch:
 * code the interpreter never reached (a first wanted key, the work after the loop) throws compiled code away
 * when reached, and the caller of the pass then ran 4-11 compiles of itself per diff.
 */

/** Declarations (indices < n) whose key is in `bits`, into `hits`; their number. */
function candidates(keys: Int32Array, n: number, bits: Uint32Array, hits: Int32Array): number {
  let nh = 0;
  for (let d = 0; d < n; d++) {
    const key = keys[d]!;
    hits[nh] = d;
    nh += (bits[key >>> 5]! >>> (key & 31)) & 1;
  }
  return nh;
}

/** Runs (indices < n) whose chain's declaration is wanted (want[decl] ≥ 0), into `hits`; their number. */
function wantedRuns(rc: Int32Array, n: number, want: Int32Array, hits: Int32Array): number {
  let nh = 0;
  for (let r = 0; r < n; r++) {
    hits[nh] = r;
    nh += (want[rc[r]!]! >>> 31) ^ 1;
  }
  return nh;
}

/** Every declaration (index) of each named chain, with one pass over the table's declaration keys. */
export function declsOf(t: PlainTable, bytes: Buffer, names: Iterable<string>): Map<string, number[]> {
  const out = new Map<string, number[]>();
  const want = new Map<number, { name: string; b: Buffer; ds: number[] }[]>();
  for (const name of names) {
    if (out.has(name)) continue;
    const b = Buffer.from(name, "utf8");
    const ds: number[] = [];
    out.set(name, ds);
    const key = nameKey(b, 0, b.length);
    let list = want.get(key);
    if (!list) want.set(key, (list = []));
    list.push({ name, b, ds });
  }
  // a bitmap of the wanted keys spares a map lookup per declaration
  const wantBits = new Uint32Array(1 << (KEY_BITS - 5));
  for (const key of want.keys()) wantBits[key >>> 5]! |= 1 << (key & 31);
  const ds = t.declStart;
  const de = t.declNameEnd;
  const n = t.nDecl;
  // the keys are computed once per table (with the bitmap absent names are checked against)
  const keys = declBits(t, bytes) ? t.declKeys! : new Int32Array(n).map((_, d) => nameKey(bytes, ds[d]! + 1, de[d]!));
  const hits = new Int32Array(n + 1);
  const nh = candidates(keys, n, wantBits, hits);
  for (let i = 0; i < nh; i++) {
    const d = hits[i]!;
    const s = ds[d]! + 1;
    const e = de[d]!;
    for (const w of want.get(keys[d]!) ?? [])
      if (w.b.length === e - s && bytes.compare(w.b, 0, e - s, s, e) === 0) {
        w.ds.push(d);
        break;
      }
  }
  return out;
}

/**
 * The runs ([start, end, firstLine] triples) of each chain, given its declarations (declsOf), in order: one pass
 * over the table's runs, which know their chain's declaration. A chain declared twice is the caller's business.
 */
export function runsOf(t: PlainTable, decls: Map<string, number[]>): Map<string, number[]> {
  const out = new Map<string, number[]>();
  const want = new Int32Array(t.nDecl).fill(-1);
  const lists: number[][] = [];
  for (const [name, ds] of decls) {
    const runs: number[] = [];
    out.set(name, runs);
    if (ds.length) {
      want[ds[0]!] = lists.length;
      lists.push(runs);
    }
  }
  const rc = t.runChain;
  const hits = new Int32Array(t.nRun + 1);
  const nh = wantedRuns(rc, t.nRun, want, hits);
  for (let i = 0; i < nh; i++) {
    const r = hits[i]!;
    lists[want[rc[r]!]!]!.push(t.runStart[r]!, t.runEnd[r]!, t.runLine[r]!);
  }
  return out;
}
