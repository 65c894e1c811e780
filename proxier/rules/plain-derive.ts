/**
 * The scan of the second dump of a diff, derived from the first one's scan and the byte edit script between them
 * (line-diff.ts) instead of scanning 400k lines again. Between hunks the two dumps are the same bytes, so every
 * declaration and rule run recorded for A outside the hunks is one of B's, moved by the bytes and lines the
 * hunks before it add or remove; only the lines of B inside hunks are read. Runs cut by a hunk are split, and
 * runs that meet across one are joined, exactly as scanPlain would record them.
 *
 * The result equals scanPlain(B) (test/property/rules/plain-derive.test.ts), with one freedom scanPlain has too:
 * the rule runs of a chain declared twice may point at either declaration (such chains always go to the full
 * parser). Whatever would need more than the hunks' lines gives null, and the caller scans B: a hunk with a
 * `*table` or COMMIT line, a declaration in B's hunks of a chain A already declares or of one declared twice
 * there, a rule whose chain has lost its declaration or is declared after it, any line scanPlain refuses.
 */
import { isAscii } from "node:buffer";
import { declBits, declLine, findDecl, nameKey, type PlainDump, PlainTable, userDecl } from "./plain-scan.js";

/** Number of newlines in x[s, e). */
function newlines(x: Buffer, s: number, e: number): number {
  let n = 0;
  for (let i = x.indexOf(10, s); i >= 0 && i < e; i = x.indexOf(10, i + 1)) n++;
  return n;
}

/** Index of the last value ≤ p among the first n of a sorted array, or -1. */
function lastAtOrBefore(a: Int32Array, n: number, p: number): number {
  let lo = 0;
  let hi = n;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (a[mid]! <= p) lo = mid + 1;
    else hi = mid;
  }
  return lo - 1;
}

/** Line number (1-based) of the line of A starting at byte p: from the nearest recorded line, else counted. */
function lineAt(pd: PlainDump, p: number): number {
  let best = -1;
  let line = 1;
  for (const t of pd.tables) {
    const d = lastAtOrBefore(t.declStart, t.nDecl, p);
    if (d >= 0 && t.declStart[d]! > best) {
      best = t.declStart[d]!;
      line = t.declLine[d]!;
    }
    const r = lastAtOrBefore(t.runStart, t.nRun, p);
    if (r >= 0 && t.runStart[r]! > best) {
      best = t.runStart[r]!;
      line = t.runLine[r]!;
    }
  }
  return best < 0 ? 1 + newlines(pd.bytes, 0, p) : line + newlines(pd.bytes, best, p);
}

interface Hunk {
  as: number;
  ae: number;
  bs: number;
  be: number;
  /** Bytes and lines that the hunks before this one add to positions in A (B position = A position + delta). */
  dByte: number;
  dLine: number;
  /** Lines of A in the hunk, of B in the hunk. */
  nA: number;
  nB: number;
  /** The table (index in A's tables) whose section holds the hunk, or -1 (between tables). */
  table: number;
}

/** B's view of one table while it is being built. */
class Builder {
  readonly t: PlainTable;
  /** B declaration of each A declaration (-1: deleted). */
  readonly remap: Int32Array;
  /** Chains declared in B's hunks: name → B declaration. */
  readonly added = new Map<string, number>();
  /** Whether the first line of the last run has a space after the chain name (adjacent lines may join it). */
  lastOpen = false;
  constructor(
    readonly a: PlainTable,
    start: number,
    hunkLines: number,
    hunks: number,
  ) {
    this.t = new PlainTable(a.name, start, 0);
    const t = this.t;
    // enough for everything: A's records, every hunk line, and a split per hunk
    t.declStart = new Int32Array(a.nDecl + hunkLines + 1);
    t.declLine = new Int32Array(a.nDecl + hunkLines + 1);
    t.declNameEnd = new Int32Array(a.nDecl + hunkLines + 1);
    const nr = a.nRun + hunkLines + hunks + 1;
    t.runStart = new Int32Array(nr);
    t.runEnd = new Int32Array(nr);
    t.runLine = new Int32Array(nr);
    t.runChain = new Int32Array(nr);
    this.remap = new Int32Array(a.nDecl).fill(-1);
    this.keys = new Int32Array(t.declStart.length);
  }
  /** Name keys of B's declarations (A's moved with them): B's lookup bitmap is A's plus the hunks' names. */
  keys: Int32Array;
  decl(b: Buffer, start: number, line: number, nameEnd: number): number {
    const t = this.t;
    const d = t.nDecl++;
    this.keys[d] = nameKey(b, start + 1, nameEnd);
    t.declStart[d] = start;
    t.declLine[d] = line;
    t.declNameEnd[d] = nameEnd;
    return d;
  }
  /**
   * A run of lines [start, end] (end = the last newline) of chain `chain` whose name is `n` bytes; `open` = its
   * first line has a space after the name. Joins the previous run when scanPlain would have: adjacent, same
   * `-A NAME ` prefix, both open.
   */
  run(b: Buffer, start: number, end: number, line: number, chain: number, n: number, open: boolean): void {
    const t = this.t;
    const r = t.nRun;
    if (r > 0 && open && this.lastOpen && t.runEnd[r - 1]! + 1 === start) {
      const ps = t.runStart[r - 1]!;
      const pl = n + 4; // `-A NAME `
      if (b.compare(b, ps, ps + pl, start, start + pl) === 0) {
        t.runEnd[r - 1] = end;
        return;
      }
    }
    if (r === t.runStart.length) t.growRuns();
    t.nRun = r + 1;
    t.runStart[r] = start;
    t.runEnd[r] = end;
    t.runLine[r] = line;
    t.runChain[r] = chain;
    this.lastOpen = open;
  }
}

/**
 * The hunks with their deltas and tables; null when one holds a table or COMMIT line, or B's part of one
 * between tables holds anything but comments and blank lines.
 */
function prepareHunks(a: PlainDump, b: Buffer, hunks: number[]): Hunk[] | null {
  const out: Hunk[] = [];
  let dByte = 0;
  let dLine = 0;
  const x = a.bytes;
  for (let i = 0; i < hunks.length; i += 4) {
    const [as, ae, bs, be] = [hunks[i]!, hunks[i + 1]!, hunks[i + 2]!, hunks[i + 3]!];
    let nA = 0;
    for (let s = as; s < ae; s = x.indexOf(10, s) + 1) {
      if (x[s] === 42 || x[s] === 67) return null; // `*table` or COMMIT (A's other lines are valid)
      nA++;
    }
    let nB = 0;
    for (let s = bs; s < be; s = b.indexOf(10, s) + 1) nB++;
    let table = -1;
    for (let k = 0; k < a.tables.length; k++) {
      const t = a.tables[k]!;
      if (as >= t.start && as <= t.end) table = k;
    }
    out.push({ as, ae, bs, be, dByte, dLine, nA, nB, table });
    dByte += be - bs - (ae - as);
    dLine += nB - nA;
  }
  return out;
}

/** Bytes and lines the hunks before position p of A add (with `at`: also those at p). */
function deltaBefore(hs: Hunk[], p: number, at: boolean): [number, number] {
  let d: [number, number] = [0, 0];
  for (const h of hs)
    if (h.as < p || (at && h.as === p)) d = [h.dByte + h.be - h.bs - (h.ae - h.as), h.dLine + h.nB - h.nA];
  return d;
}

/** B's scan, derived from A's (see the module comment), or null when B must be scanned. */
export function derivePlain(a: PlainDump, b: Buffer, hunkList: number[]): PlainDump | null {
  const len = b.length;
  if (len > 0 && b[len - 1] !== 10) return null;
  const hs = prepareHunks(a, b, hunkList);
  if (!hs) return null;
  for (const h of hs) {
    if (b.subarray(h.bs, h.be).indexOf(9) >= 0) return null; // tabs: the parser's business
    if (h.table >= 0) continue; // read with the table
    for (let s = h.bs; s < h.be; ) {
      const e = b.indexOf(10, s);
      if ((b[s] !== 35 && e !== s) || b[e - 1] === 13 || b[e - 1] === 32) return null; // only comments, blanks
      s = e + 1;
    }
  }
  const tables: PlainTable[] = [];
  for (let k = 0; k < a.tables.length; k++) {
    const ta = a.tables[k]!;
    const mine = hs.filter((h) => h.table === k);
    const t = deriveTable(a, b, ta, mine, hs);
    if (!t) return null;
    tables.push(t);
  }
  // ASCII (the cheapest decoding of chains' text) when A is and the hunks' lines are
  a.ascii ??= isAscii(a.bytes);
  const out: PlainDump = { bytes: b, tables };
  if (a.ascii) out.ascii = hs.every((h) => isAscii(b.subarray(h.bs, h.be)));
  return out;
}

/** One table of B (see derivePlain), or null. */
function deriveTable(a: PlainDump, b: Buffer, ta: PlainTable, hs: Hunk[], all: Hunk[]): PlainTable | null {
  const x = a.bytes;
  let hunkLines = 0;
  for (const h of hs) hunkLines += h.nB;
  // hunks at the table's start go into it; those at its end (the COMMIT line) go before it
  const [d0Byte, d0Line] = deltaBefore(all, ta.start, false);
  const bitsA = declBits(ta, x)!; // A's name keys, moved with its declarations
  const bd = new Builder(ta, ta.start + d0Byte, hunkLines, hs.length);
  const t = bd.t;
  t.end = ta.end + deltaBefore(all, ta.end, true)[0];
  // First line number of each hunk's B part (its A position's line, moved by the hunks before).
  const firstLine = hs.map((h) => lineAt(a, h.as) + h.dLine);

  // Declarations: A's outside the hunks, moved; B's inside them, read.
  let j = 0;
  for (let k = 0; k < hs.length; k++) {
    const h = hs[k]!;
    const j1 = lastAtOrBefore(ta.declStart, ta.nDecl, h.as - 1) + 1;
    keepDecls(bd, j, Math.max(j, j1), h.dByte, h.dLine);
    j = Math.max(j, lastAtOrBefore(ta.declStart, ta.nDecl, h.ae - 1) + 1); // deleted: [h.as, h.ae)
    let line = firstLine[k]!;
    for (let s = h.bs; s < h.be; line++) {
      const e = b.indexOf(10, s);
      if (e > s && (b[e - 1] === 13 || b[e - 1] === 32)) return null;
      const c0 = b[s];
      if (c0 === 58 /* : */) {
        const ne = userDecl(b, s, e) ? e - 8 : declLine(b, s, e);
        if (ne < 0) return null;
        const name = b.toString("utf8", s + 1, ne);
        // a chain A declares (or B declares twice) would change which declaration its rules belong to
        if (bd.added.has(name) || findDecl(ta, x, name) >= 0) return null;
        bd.added.set(name, bd.decl(b, s, line, ne));
      } else if (c0 !== 45 /* - */ && c0 !== 35 /* # */ && e !== s) return null;
      s = e + 1;
    }
  }
  const last = hs.length ? hs[hs.length - 1]! : null;
  const dB = last ? last.dByte + last.be - last.bs - (last.ae - last.as) : d0Byte;
  const dL = last ? last.dLine + last.nB - last.nA : d0Line;
  keepDecls(bd, j, ta.nDecl, dB, dL);

  // Runs: A's pieces outside the hunks, moved; B's hunk lines read; in B order, joined where scanPlain joins.
  let hi = 0;
  let dByte = d0Byte;
  let dLine = d0Line;
  /** B declarations of chains of hunk lines that A declares (-1: A's declaration was deleted). */
  const found = new Map<string, number>();
  const emitHunk = (k: number): boolean => {
    const h = hs[k]!;
    let line = firstLine[k]!;
    for (let s = h.bs; s < h.be; line++) {
      const e = b.indexOf(10, s);
      if (b[s] === 45) {
        if (b[s + 1] !== 65 || b[s + 2] !== 32) return false;
        let sp = b.indexOf(32, s + 3);
        if (sp < 0 || sp > e) sp = e;
        const n = sp - s - 3;
        if (n === 0) return false;
        const name = b.toString("utf8", s + 3, sp);
        let d = bd.added.get(name) ?? found.get(name) ?? -2;
        if (d === -2) {
          const da = findDecl(ta, x, name);
          d = da >= 0 ? bd.remap[da]! : -1;
          found.set(name, d);
        }
        if (d < 0 || t.declStart[d]! > s) return false; // not declared before this line
        bd.run(b, s, e, line, d, n, sp !== e);
      }
      s = e + 1;
    }
    dByte = h.dByte + h.be - h.bs - (h.ae - h.as);
    dLine = h.dLine + h.nB - h.nA;
    return true;
  };
  const nameLen = (r: number) => ta.declNameEnd[ta.runChain[r]!]! - ta.declStart[ta.runChain[r]!]! - 1;
  for (let r = 0; r < ta.nRun; r++) {
    const rs = ta.runStart[r]!;
    const re = ta.runEnd[r]!;
    const d = bd.remap[ta.runChain[r]!]!;
    const n = nameLen(r);
    while (hi < hs.length && hs[hi]!.as <= rs) if (!emitHunk(hi++)) return null;
    if ((hi === 0 || hs[hi - 1]!.ae <= rs) && r + 1 < ta.nRun) {
      // the runs after this one up to the next hunk are moved in bulk: they join nothing (they did not in A)
      const limit = hi < hs.length ? hs[hi]!.as : Number.MAX_SAFE_INTEGER;
      const r2 = lastAtOrBefore(ta.runEnd, ta.nRun, limit - 1);
      if (r2 > r) {
        if (d < 0) return null;
        bd.run(b, rs + dByte, re + dByte, ta.runLine[r]! + dLine, d, n, x[rs + 3 + n] === 32);
        if (!keepRuns(bd, r + 1, r2 + 1, dByte, dLine)) return null;
        bd.lastOpen = x[ta.runStart[r2]! + 3 + nameLen(r2)] === 32;
        r = r2;
        continue;
      }
    }
    let cur = rs;
    while (cur <= re) {
      while (hi < hs.length && hs[hi]!.as <= cur) if (!emitHunk(hi++)) return null;
      if (hi > 0 && hs[hi - 1]!.ae > cur) {
        cur = hs[hi - 1]!.ae; // deleted lines
        continue;
      }
      const pe = hi < hs.length ? Math.min(re + 1, hs[hi]!.as) : re + 1;
      if (d < 0) return null; // the chain's declaration is gone
      const line = ta.runLine[r]! + (cur === rs ? 0 : newlines(x, rs, cur));
      // lines after a run's first one all have `-A NAME ` (they matched its prefix)
      const open = cur !== rs || x[rs + 3 + n] === 32;
      bd.run(b, cur + dByte, pe - 1 + dByte, line + dLine, d, n, open);
      cur = pe;
    }
  }
  while (hi < hs.length) if (!emitHunk(hi++)) return null;
  // A's bitmap (a superset is still a filter for absent names) plus the hunks' declarations
  const bits = bitsA.slice();
  for (const d of bd.added.values()) bits[bd.keys[d]! >>> 5]! |= 1 << (bd.keys[d]! & 31);
  t.declKeys = bd.keys.subarray(0, t.nDecl);
  t.declBits = bits;
  return t;
}

/** A's declarations [j0, j1), moved by (dByte, dLine), appended to B's. */
function keepDecls(bd: Builder, j0: number, j1: number, dByte: number, dLine: number): void {
  const a = bd.a;
  const t = bd.t;
  const keys = a.declKeys!;
  let d = t.nDecl;
  for (let j = j0; j < j1; j++, d++) {
    bd.keys[d] = keys[j]!;
    t.declStart[d] = a.declStart[j]! + dByte;
    t.declLine[d] = a.declLine[j]! + dLine;
    t.declNameEnd[d] = a.declNameEnd[j]! + dByte;
    bd.remap[j] = d;
  }
  t.nDecl = d;
}

/** A's runs [r0, r1) (none of them joins another), moved, appended to B's; false when a chain lost its declaration. */
function keepRuns(bd: Builder, r0: number, r1: number, dByte: number, dLine: number): boolean {
  const a = bd.a;
  const t = bd.t;
  const remap = bd.remap;
  let r = t.nRun;
  for (let i = r0; i < r1; i++, r++) {
    const d = remap[a.runChain[i]!]!;
    if (d < 0) return false;
    t.runStart[r] = a.runStart[i]! + dByte;
    t.runEnd[r] = a.runEnd[i]! + dByte;
    t.runLine[r] = a.runLine[i]! + dLine;
    t.runChain[r] = d;
  }
  t.nRun = r;
  return true;
}
