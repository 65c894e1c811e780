/**
 * The second dump's scan derived from the first's and the edit script (proxier/rules/plain-derive.ts) must be
 * exactly what scanning the second dump gives: the same tables, declarations and rule runs (offsets, line numbers,
 * chains), or null (the caller then scans). Rule sets — rendered clusters and kernel/kube-proxy dumps — are edited
 * line by line with edits that keep a dump plain or break it (a rule before its chain's declaration, a chain
 * declared twice, a deleted declaration, stray whitespace, table lines), on one side or both.
 */
import assert from "node:assert/strict";
import { isAscii } from "node:buffer";
import { describe, it } from "node:test";
import fc from "fast-check";
import { lineHunks } from "../../../proxier/rules/line-diff.js";
import { derivePlain } from "../../../proxier/rules/plain-derive.js";
import { nameKey, type PlainDump, scanPlain } from "../../../proxier/rules/plain-scan.js";
import { clusterArb, render } from "../../../proxier/testing/index.js";
import { runs } from "../../support/runs.js";
import { KERNEL_SAVE_LEGACY, KERNEL_SAVE_NFT } from "../../unit/rules/kernel-dumps.js";
import { KUBE_PROXY_OVERALL } from "../../unit/rules/kube-proxy-fixtures.js";

type Edit = (lines: string[], at: number) => void;

const EDITS: Record<string, Edit> = {
  delete: (l, i) => l.splice(i, 1),
  deleteMany: (l, i) => l.splice(i, 5),
  duplicate: (l, i) => l.splice(i, 0, l[i]!),
  swap: (l, i) => {
    if (i + 1 < l.length) [l[i], l[i + 1]] = [l[i + 1]!, l[i]!];
  },
  move: (l, i) => {
    const [x] = l.splice(i, 1);
    l.splice(Math.floor(i / 2), 0, x!);
  },
  comment: (l, i) => l.splice(i, 0, "# a comment"),
  blank: (l, i) => l.splice(i, 0, ""),
  trailingBlank: (l, i) => {
    l[i] = `${l[i]} `;
  },
  tab: (l, i) => {
    l[i] = l[i]!.replace(" ", "\t");
  },
  newChain: (l, i) => l.splice(i, 0, ":KUBE-NEW-CHAIN - [0:0]", "-A KUBE-NEW-CHAIN -j RETURN"),
  newRule: (l, i) => {
    const m = /^(?:-A|:)(\S+) /.exec(l[i]!);
    if (m) l.splice(i + 1, 0, `-A ${m[1]} -j ACCEPT`, `-A ${m[1]}`);
  },
  redeclare: (l, i) => {
    const m = /^-A (\S+) /.exec(l[i]!);
    if (m) l.splice(i + 1, 0, `:${m[1]} - [0:0]`);
  },
  policy: (l, i) => {
    l[i] = l[i]!.replace(/^:(\S+) ACCEPT/, ":$1 DROP");
  },
  changeWord: (l, i) => {
    l[i] = l[i]!.replace(/ (80|DROP|ACCEPT|0x4000|10\.\d+)/, (w) => (w === " DROP" ? " ACCEPT" : `${w}1`));
  },
  table: (l, i) => l.splice(i, 0, "COMMIT", "*mangle"),
};

const editArb = fc.array(fc.tuple(fc.constantFrom(...Object.keys(EDITS)), fc.nat()), { maxLength: 5 });

function applyEdits(text: string, edits: [string, number][]): string {
  const lines = text.split("\n");
  for (const [name, n] of edits) EDITS[name]!(lines, n % lines.length);
  return lines.join("\n");
}

/** A scan as plain data; rule runs name their chain (a chain declared twice may point at either declaration). */
function shape(d: PlainDump | null) {
  if (!d) return null;
  return d.tables.map((t) => {
    const name = (id: number) => d.bytes.toString("latin1", t.declStart[id]! + 1, t.declNameEnd[id]!);
    const decls = [];
    for (let i = 0; i < t.nDecl; i++) decls.push([t.declStart[i], t.declLine[i], t.declNameEnd[i]]);
    const rules = [];
    for (let i = 0; i < t.nRun; i++) rules.push([t.runStart[i], t.runEnd[i], t.runLine[i], name(t.runChain[i]!)]);
    return { name: t.name, start: t.start, end: t.end, decls, rules };
  });
}

const baseArb = fc.oneof(
  clusterArb({ maxServices: 8, maxEndpoints: 4 }).map((c) => render(c)),
  fc.constantFrom(KERNEL_SAVE_NFT, KERNEL_SAVE_LEGACY, KUBE_PROXY_OVERALL),
);

describe("property: the second dump's scan derived from the first's", () => {
  it("equals scanning it (or is null)", () => {
    let derived = 0;
    let cases = 0;
    fc.assert(
      fc.property(baseArb, editArb, editArb, (base, ea, eb) => {
        const a = Buffer.from(applyEdits(base, ea), "utf8");
        const b = Buffer.from(applyEdits(base, eb), "utf8");
        const pa = scanPlain(a);
        if (!pa || b.at(-1) !== 10) return; // (the edit script needs whole lines)
        const hunks = lineHunks(a, b);
        if (!hunks) return;
        cases++;
        const d = derivePlain(pa, b, hunks);
        if (!d) return;
        derived++;
        assert.deepEqual(shape(d), shape(scanPlain(b)));
        // what it carries over: the name keys and lookup bitmap of the declarations, whether it is ASCII
        for (const t of d.tables)
          for (let i = 0; i < t.nDecl; i++) {
            const k = nameKey(b, t.declStart[i]! + 1, t.declNameEnd[i]!);
            assert.equal(t.declKeys![i], k);
            assert.ok(t.declBits![k >>> 5]! & (1 << (k & 31)));
          }
        if (d.ascii !== undefined) assert.equal(d.ascii, isAscii(b));
      }),
      { numRuns: runs(4000, 500) },
    );
    // most edits leave both dumps plain and need only the hunks: the derivation must be exercised
    assert.ok(derived > cases / 5, `derived in ${derived} of ${cases} cases`);
    console.log(`# derived in ${derived} of ${cases} cases`);
  });
});
