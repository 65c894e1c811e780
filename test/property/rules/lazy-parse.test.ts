/**
 * The fast path of big diffs (lazy parse: plain dumps are only indexed, identical chains compared as bytes, names
 * resolved by searching the text) must say exactly what the full parser says. Random rule sets — rendered
 * clusters and the kernel's print-back fixtures — are edited line by line (deleted, duplicated, swapped lines,
 * comments, blank lines, counters, trailing blanks, CRLF, -I/-D/-X commands, non-ASCII comments), so both the
 * index and its fall-back to the full parser are exercised, on one side or on both. Edits that keep the dumps
 * plain must take the byte edit-script path (only chains with a changed line are compared) and agree too.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { canonical } from "../../../proxier/rules/canonical.js";
import { diffDumps, touchedOnly } from "../../../proxier/rules/diff.js";
import type { Table } from "../../../proxier/rules/model.js";
import { parseRules } from "../../../proxier/rules/parse.js";
import { clusterArb, render } from "../../../proxier/testing/index.js";
import { runs } from "../../support/runs.js";
import { KERNEL_SAVE_LEGACY, KERNEL_SAVE_NFT } from "../../unit/rules/kernel-dumps.js";
import { KUBE_PROXY_OVERALL } from "../../unit/rules/kube-proxy-fixtures.js";

type Edit = (lines: string[], at: number) => void;

/** Line edits; `at` picks the line. Some keep the dump plain, others need the full parser (or make it fail). */
const EDITS: Record<string, Edit> = {
  delete: (l, i) => l.splice(i, 1),
  duplicate: (l, i) => l.splice(i, 0, l[i]!),
  swap: (l, i) => {
    if (i + 1 < l.length) [l[i], l[i + 1]] = [l[i + 1]!, l[i]!];
  },
  comment: (l, i) => l.splice(i, 0, "# a comment"),
  blank: (l, i) => l.splice(i, 0, ""),
  counters: (l, i) => {
    if (l[i]!.startsWith("-A ")) l[i] = `[3:180] ${l[i]}`;
  },
  trailingBlank: (l, i) => {
    l[i] = `${l[i]} `;
  },
  crlf: (l, i) => {
    l[i] = `${l[i]}\r`;
  },
  insertFirst: (l, i) => {
    const m = /^-A (\S+) (.*)$/.exec(l[i]!);
    if (m) l.splice(i + 1, 0, `-I ${m[1]} 1 ${m[2]}`);
  },
  deleteRule: (l, i) => {
    const m = /^-A (\S+) (.*)$/.exec(l[i]!);
    if (m) l.splice(i + 1, 0, `-D ${m[1]} ${m[2]}`);
  },
  deleteChain: (l, i) => {
    const m = /^:(\S+) - /.exec(l[i]!);
    if (m) {
      // a chain nobody jumps to any more (its rules and the jumps to it gone) can be deleted
      const name = m[1]!;
      for (let k = l.length - 1; k >= 0; k--) if (k !== i && l[k]!.includes(name)) l.splice(k, 1);
      const at = l.indexOf(`:${name} - [0:0]`);
      const commit = l.indexOf("COMMIT", at);
      if (at >= 0 && commit > at) l.splice(commit, 0, `-X ${name}`);
    }
  },
  unicode: (l, i) => {
    l[i] = l[i]!.replace(/--comment "([^"]*)"/, '--comment "$1 · ünïcode"');
  },
  changeWord: (l, i) => {
    l[i] = l[i]!.replace(/ (80|DROP|ACCEPT|0x4000|10\.\d+)/, (w) => (w === " DROP" ? " ACCEPT" : `${w}1`));
  },
};

const editArb = fc.array(fc.tuple(fc.constantFrom(...Object.keys(EDITS)), fc.nat()), { maxLength: 4 });

function applyEdits(text: string, edits: [string, number][]): string {
  const lines = text.split("\n");
  for (const [name, n] of edits) EDITS[name]!(lines, n % lines.length);
  return lines.join("\n");
}

/** Every chain of the eager table `t` is in the lazy table `lt`, with the same policy, lines and rule keys. */
function sameChains(lt: Table, t: Table): void {
  for (const c of t.chains.values()) {
    assert.equal(lt.chains.has(c.name), true);
    const lc = lt.chains.get(c.name)!;
    assert.deepEqual(
      { policy: lc.policy, builtin: lc.builtin, line: lc.line, keys: lc.rules.map((r) => [r.key, r.line]) },
      { policy: c.policy, builtin: c.builtin, line: c.line, keys: c.rules.map((r) => [r.key, r.line]) },
    );
  }
}

/** The diff's result, or the error it stopped with. */
function outcome(f: () => unknown): unknown {
  try {
    return f();
  } catch (e) {
    return { error: e instanceof Error ? e.message : String(e) };
  }
}

const baseArb = fc.oneof(
  clusterArb({ maxServices: 4, maxEndpoints: 4 }).map((c) => render(c)),
  fc.constantFrom(KERNEL_SAVE_NFT, KERNEL_SAVE_LEGACY, KUBE_PROXY_OVERALL),
);

describe("property: lazy (indexed) parse and diff agree with the full parser", () => {
  it("diff of an edited rule set against another edit of it: same result or same error, text or bytes", () => {
    fc.assert(
      fc.property(
        baseArb,
        editArb,
        editArb,
        fc.constantFrom({}, { verbose: true }, { table: "nat" }),
        fc.boolean(),
        (base, ea, eb, opts, asBytes) => {
          const a = applyEdits(base, ea);
          const b = applyEdits(base, eb);
          const input = (s: string) => (asBytes ? Buffer.from(s, "utf8") : s);
          const eager = outcome(() => diffDumps(parseRules(a), parseRules(b), opts));
          const lazy = outcome(() =>
            diffDumps(parseRules(input(a), { lazy: true }), parseRules(input(b), { lazy: true }), opts),
          );
          // The lazy parse reports a malformed rule only when its chain is compared; the eager one always.
          if (
            typeof eager === "object" &&
            eager &&
            "error" in eager &&
            !/: (COMMIT|chain|malformed|rule outside|unknown command|no rule|no such)/.test(String(eager.error))
          )
            return;
          assert.deepEqual(lazy, eager);
        },
      ),
      { numRuns: runs(2000, 300) },
    );
  });

  it("plain edits take the edit-script path (only touched chains compared) and agree with the full parser", () => {
    const plainEdits = ["delete", "duplicate", "swap", "comment", "blank", "unicode", "changeWord"];
    const plainEditArb = fc.array(fc.tuple(fc.constantFrom(...plainEdits), fc.nat()), { minLength: 1, maxLength: 6 });
    const bigArb = fc.oneof(
      clusterArb({ maxServices: 12, maxEndpoints: 5 }).map((c) => render(c)),
      fc.constantFrom(KERNEL_SAVE_NFT, KERNEL_SAVE_LEGACY, KUBE_PROXY_OVERALL),
    );
    let taken = 0;
    let cases = 0;
    fc.assert(
      fc.property(bigArb, plainEditArb, plainEditArb, fc.constantFrom({}, { verbose: true }), (base, ea, eb, opts) => {
        const a = applyEdits(base, ea);
        const b = applyEdits(base, eb);
        const eager = outcome(() => diffDumps(parseRules(a), parseRules(b), opts));
        if (typeof eager === "object" && eager && "error" in eager) return;
        cases++;
        const la = parseRules(Buffer.from(a, "utf8"), { lazy: true });
        const lb = parseRules(Buffer.from(b, "utf8"), { lazy: true });
        if (touchedOnly(la, lb)) taken++;
        assert.deepEqual(diffDumps(la, lb, opts), eager);
      }),
      { numRuns: runs(3000, 400) },
    );
    // most plain edits leave the dumps plain (deleting a table or COMMIT line does not): the path must be exercised
    assert.ok(taken > cases / 2, `edit-script path taken in ${taken} of ${cases} valid cases`);
  });

  it("an indexed dump reads like a parsed one: canonical form, chain lookups, sizes", () => {
    fc.assert(
      fc.property(baseArb, editArb, (base, edits) => {
        const text = applyEdits(base, edits);
        const eager = outcome(() => parseRules(text));
        if (typeof eager === "object" && eager && "error" in eager) return;
        const e = parseRules(text);
        // chains looked up by name first (a scanned dump answers from its bytes), then sized (the whole table)
        const l = parseRules(Buffer.from(text, "utf8"), { lazy: true });
        for (const [name, t] of e.tables) {
          const lt = l.tables.get(name)!;
          sameChains(lt, t); // answered from the scanned bytes
          for (const other of ["NO-SUCH-CHAIN", "INPUT", "PREROUTING", "OUTPUT"])
            assert.equal(lt.chains.has(other), t.chains.has(other), other);
          assert.equal(lt.chains.size, t.chains.size);
          sameChains(lt, t); // after the whole table was read
          assert.equal(lt.chains.has("NO-SUCH-CHAIN"), false);
        }
        assert.equal(canonical(parseRules(text, { lazy: true })), canonical(e));
      }),
      { numRuns: runs(1000, 200) },
    );
  });
});
