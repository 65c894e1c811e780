/**
 * Where two dumps' bytes differ, in whole lines: an edit script (hunks of lines deleted from A and inserted from
 * B; everything between hunks is byte-identical, line for line, in order) found almost entirely by native memcmp
 * and memmem. Two 430k-line dumps that differ in a few services cost a few milliseconds, where a line-by-line
 * comparison in JS costs a pass over every line.
 *
 * The script need not be minimal — any valid one lets the caller skip every chain none of whose lines are in a
 * hunk (see touchedChains in plain-scan.ts) — but it must be exact. It gives up (null) when the changed lines or
 * the bytes searched exceed a budget: the caller then compares every chain.
 */

export interface HunkLimits {
  /** Give up when more than this many bytes (both sides) are inside hunks. */
  maxChanged: number;
  /** Give up when more than this many bytes were searched while resynchronising. */
  maxSearched: number;
  /** How far ahead (bytes) a line is searched first, and then at most. */
  nearWindow: number;
  farWindow: number;
}

export function defaultLimits(a: Uint8Array, b: Uint8Array): HunkLimits {
  const total = a.length + b.length;
  return {
    maxChanged: Math.max(1 << 16, total >> 3),
    maxSearched: Math.max(1 << 22, total * 2),
    nearWindow: 1 << 14,
    farWindow: 1 << 18,
  };
}

/** Length of the common prefix of a[pa..] and b[pb..]: exponentially growing blocks, each one native compare. */
export function commonPrefix(a: Buffer, pa: number, b: Buffer, pb: number): number {
  const max = Math.min(a.length - pa, b.length - pb);
  let n = 0;
  let step = 256;
  while (n < max) {
    let k = Math.min(step, max - n);
    if (a.compare(b, pb + n, pb + n + k, pa + n, pa + n + k) === 0) {
      n += k;
      if (step < 1 << 20) step *= 2;
      continue;
    }
    // the difference is in [n, n + k): halve until small, then byte by byte
    while (k > 64) {
      const h = k >> 1;
      if (a.compare(b, pb + n, pb + n + h, pa + n, pa + n + h) === 0) {
        n += h;
        k -= h;
      } else k = h;
    }
    while (a[pa + n] === b[pb + n]) n++;
    return n;
  }
  return n;
}

const NL = Buffer.from("\n");

/** End of the line starting at `s` (index of its newline, or the length). */
function lineEnd(x: Buffer, s: number): number {
  const e = x.indexOf(10, s);
  return e < 0 ? x.length : e;
}

/**
 * Start of the first line of y at or after line start `from` (and before from + window) that is the line x[s, e]
 * (newline included), or -1. `searched` accumulates the bytes looked at.
 */
function findLine(
  x: Buffer,
  s: number,
  e: number,
  y: Buffer,
  from: number,
  window: number,
  cost: { n: number },
): number {
  // "\n" + line + "\n" matches whole lines only; the newline before `s` is x[s - 1] (s > 0 is a line start)
  const needle = s > 0 ? x.subarray(s - 1, e + 1) : Buffer.concat([NL, x.subarray(s, e + 1)]);
  // a match starting at `from` itself would need y[from - 1]; the line at `from` is known to differ, so skip it
  const end = Math.min(y.length, from + window);
  if (end - from < needle.length) return -1;
  cost.n += end - from;
  const i = y.subarray(from, end).indexOf(needle);
  return i < 0 ? -1 : from + i + 1;
}

/**
 * The hunks [aStart, aEnd, bStart, bEnd, …] (byte offsets of whole lines) that turn A into B, or null when over
 * the limits. Both inputs must end with a newline (or be empty).
 */
export function lineHunks(a: Buffer, b: Buffer, limits: HunkLimits = defaultLimits(a, b)): number[] | null {
  const out: number[] = [];
  let pa = 0;
  let pb = 0;
  let changed = 0;
  const cost = { n: 0 };
  const hunk = (as: number, ae: number, bs: number, be: number) => {
    changed += ae - as + be - bs;
    const n = out.length;
    if (n && out[n - 3] === as && out[n - 1] === bs) {
      out[n - 3] = ae;
      out[n - 1] = be;
    } else out.push(as, ae, bs, be);
  };
  for (;;) {
    const n = commonPrefix(a, pa, b, pb);
    let xa = pa + n;
    let xb = pb + n;
    if (xa === a.length && xb === b.length) return out;
    // back to the start of the line where they differ (pa is a line start, so this stays at or after it)
    const ls = xa > pa ? a.lastIndexOf(10, xa - 1) + 1 : pa;
    xb -= xa - ls;
    xa = ls;
    if (xa === a.length || xb === b.length) {
      hunk(xa, a.length, xb, b.length);
      return changed > limits.maxChanged ? null : out;
    }
    const ea = lineEnd(a, xa);
    const eb = lineEnd(b, xb);
    // one line replaced by one (a changed rule): the next lines agree
    const na = ea + 1;
    const nb = eb + 1;
    if (na < a.length && nb < b.length) {
      const ea2 = lineEnd(a, na);
      const eb2 = lineEnd(b, nb);
      if (ea2 - na === eb2 - nb && a.compare(b, nb, eb2 + 1, na, ea2 + 1) === 0) {
        hunk(xa, na, xb, nb);
        pa = na;
        pb = nb;
        if (changed > limits.maxChanged) return null;
        continue;
      }
    }
    // lines inserted in B (A's line comes later in B) or deleted from A (B's line comes later in A): the nearer
    let q = -1;
    let p = -1;
    for (const w of [limits.nearWindow, limits.farWindow]) {
      q = findLine(a, xa, ea, b, xb, w, cost);
      p = findLine(b, xb, eb, a, xa, w, cost);
      if (q >= 0 || p >= 0) break;
    }
    if (cost.n > limits.maxSearched) return null;
    if (q >= 0 && (p < 0 || q - xb <= p - xa)) {
      hunk(xa, xa, xb, q);
      pa = xa;
      pb = q;
    } else if (p >= 0) {
      hunk(xa, p, xb, xb);
      pa = p;
      pb = xb;
    } else {
      hunk(xa, Math.min(na, a.length), xb, Math.min(nb, b.length));
      pa = Math.min(na, a.length);
      pb = Math.min(nb, b.length);
    }
    if (changed > limits.maxChanged) return null;
  }
}
