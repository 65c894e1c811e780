/**
 * The byte-level edit script behind big diffs (proxier/rules/line-diff.ts) must be exact: between its hunks the two
 * inputs are the same bytes, hunks cover whole lines, and applying them to A gives B. Lines come from a small
 * alphabet (so equal lines recur, as rules of one chain do) and the search windows are sometimes tiny (so
 * resynchronising falls back to replacing lines, or gives up: null is allowed only under a small budget).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { commonPrefix, defaultLimits, type HunkLimits, lineHunks } from "../../../proxier/rules/line-diff.js";
import { runs } from "../../support/runs.js";

const lineArb = fc.oneof(
  fc.constantFrom("", "COMMIT", "*nat", ":KUBE-SERVICES - [0:0]", "-A KUBE-SERVICES -j KUBE-NODEPORTS", "-A X -j Y"),
  fc.stringMatching(/^[-A-Z :ab]{0,12}$/),
);

type Op = { kind: "insert" | "delete" | "replace"; at: number; line: string; n: number };
const opArb: fc.Arbitrary<Op> = fc.record({
  kind: fc.constantFrom("insert", "delete", "replace"),
  at: fc.nat(),
  line: lineArb,
  n: fc.integer({ min: 1, max: 5 }),
});

function edit(lines: string[], ops: Op[]): string[] {
  const out = [...lines];
  for (const op of ops) {
    const at = out.length ? op.at % (out.length + 1) : 0;
    if (op.kind === "insert")
      out.splice(at, 0, ...Array.from({ length: op.n }, (_, i) => (i ? `${op.line}${i}` : op.line)));
    else if (op.kind === "delete") out.splice(at, op.n);
    else out.splice(at, 1, op.line);
  }
  return out;
}

const text = (lines: string[]) => Buffer.from(lines.map((l) => `${l}\n`).join(""), "utf8");

const limitsArb: fc.Arbitrary<HunkLimits | null> = fc.oneof(
  fc.constant(null),
  fc.record({
    maxChanged: fc.integer({ min: 1, max: 4096 }),
    maxSearched: fc.integer({ min: 1, max: 1 << 16 }),
    nearWindow: fc.integer({ min: 1, max: 64 }),
    farWindow: fc.integer({ min: 1, max: 512 }),
  }),
);

/** Checks that `h` turns a into b, hunk by hunk; returns the number of changed bytes. */
function check(a: Buffer, b: Buffer, h: number[]): number {
  const lineStart = (x: Buffer, i: number) => i === 0 || x[i - 1] === 10;
  let pa = 0;
  let pb = 0;
  let changed = 0;
  for (let i = 0; i < h.length; i += 4) {
    const [as, ae, bs, be] = h.slice(i, i + 4) as [number, number, number, number];
    assert.ok(as >= pa && ae >= as && bs >= pb && be >= bs, `hunk ${i / 4} out of order`);
    assert.ok(lineStart(a, as) && lineStart(a, ae) && lineStart(b, bs) && lineStart(b, be), "hunks are whole lines");
    assert.equal(as - pa, bs - pb, "unchanged stretches have the same length");
    assert.ok(a.subarray(pa, as).equals(b.subarray(pb, bs)), "unchanged stretches are the same bytes");
    changed += ae - as + be - bs;
    pa = ae;
    pb = be;
  }
  assert.ok(a.subarray(pa).equals(b.subarray(pb)), "the tails are the same bytes");
  return changed;
}

describe("property: the line edit script between two dumps is exact", () => {
  it("between hunks the bytes are equal; hunks are whole lines; null only under a small budget", () => {
    fc.assert(
      fc.property(
        fc.array(lineArb, { maxLength: 80 }),
        fc.array(opArb, { maxLength: 6 }),
        limitsArb,
        (lines, ops, lim) => {
          const a = text(lines);
          const b = text(edit(lines, ops));
          const limits = lim ?? defaultLimits(a, b);
          const h = lineHunks(a, b, limits);
          if (h === null) {
            assert.ok(lim !== null, "the default budget never gives up on small inputs");
            return;
          }
          const changed = check(a, b, h);
          if (a.equals(b)) assert.equal(h.length, 0);
          else assert.ok(h.length > 0 && changed > 0);
        },
      ),
      { numRuns: runs(5000, 1000) },
    );
  });

  it("commonPrefix is the length of the common prefix", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 3000 }), fc.uint8Array({ maxLength: 40 }), fc.nat(), (x, tail, cut) => {
        const a = Buffer.from(x);
        const b = Buffer.concat([a.subarray(0, cut % (a.length + 1)), Buffer.from(tail)]);
        let n = 0;
        while (n < a.length && n < b.length && a[n] === b[n]) n++;
        assert.equal(commonPrefix(a, 0, b, 0), n);
      }),
      { numRuns: runs(2000, 500) },
    );
  });
});
