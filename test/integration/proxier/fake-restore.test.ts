/**
 * FakeIptables (the unit tests' kernel) against the real iptables-restore: random sequences of -A, -I [rulenum],
 * -D rulespec and -D rulenum — duplicates, out-of-range numbers and missing rules included — are restored with
 * --noflush into a fresh namespace (legacy and nft backends) and into the fake; after every payload both must
 * agree on whether it failed and on the chain's rules in order. This is what lets the proxier's unit and property
 * tests run with in-place chain edits on.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import fc from "fast-check";
import { FakeIptables, IptablesError } from "../../../src/netlinux/iptables.js";
import { runIn } from "../../../src/netlinux/netns.js";
import { NetnsScope } from "../../support/netns.js";
import { runs } from "../../support/runs.js";

const CHAIN = "PWTEST";

/** Rules in iptables-save's canonical form, few enough that duplicates are common. */
const ruleArb = fc
  .tuple(fc.integer({ min: 1, max: 4 }), fc.constantFrom("ACCEPT", "DROP"))
  .map(([n, t]) => `-s 10.0.0.${n}/32 -j ${t}`);

const opArb = fc.oneof(
  ruleArb.map((r) => `-A ${CHAIN} ${r}`),
  ruleArb.map((r) => `-I ${CHAIN} ${r}`),
  fc.tuple(fc.integer({ min: 1, max: 7 }), ruleArb).map(([k, r]) => `-I ${CHAIN} ${k} ${r}`),
  ruleArb.map((r) => `-D ${CHAIN} ${r}`),
  fc.integer({ min: 1, max: 7 }).map((k) => `-D ${CHAIN} ${k}`),
);
/** A payload: one to three commands in one filter transaction. */
const payloadArb = fc.array(opArb, { minLength: 1, maxLength: 3 });

async function kernelRules(ns: string, save: string): Promise<string[]> {
  const r = await runIn(ns, save, ["-t", "filter"]);
  return r.stdout.split("\n").filter((l) => l.startsWith(`-A ${CHAIN} `));
}

for (const backend of ["legacy", "nft"] as const) {
  describe(`FakeIptables restore semantics match iptables-${backend}-restore`, () => {
    const scope = new NetnsScope("fr");
    let ns = "";
    const restoreBin = `iptables-${backend}-restore`;
    const saveBin = `iptables-${backend}-save`;
    before(async () => {
      ns = await scope.add(backend.slice(0, 3));
    });
    after(async () => {
      await scope.cleanup();
    });

    it("-A, -I [n], -D rule and -D n: same failures, same rules in the same order", async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(payloadArb, { minLength: 1, maxLength: 6 }), async (payloads) => {
          const fake = new FakeIptables();
          const init = `*filter\n:${CHAIN} - [0:0]\nCOMMIT\n`; // creates (or flushes) the chain
          fake.restoreSync(init);
          await runIn(ns, restoreBin, ["--noflush"], { input: init });
          for (const ops of payloads) {
            const payload = `*filter\n${ops.join("\n")}\nCOMMIT\n`;
            const real = await runIn(ns, restoreBin, ["--noflush"], { input: payload, check: false });
            let fakeFailed = false;
            try {
              fake.restoreSync(payload);
            } catch (e) {
              assert.ok(e instanceof IptablesError, String(e));
              fakeFailed = true;
            }
            assert.equal(fakeFailed, real.code !== 0, `failure differs for\n${payload}kernel: ${real.stderr}`);
            assert.deepEqual(fake.dump("filter").get(CHAIN), await kernelRules(ns, saveBin), `after\n${payload}`);
          }
        }),
        { numRuns: runs(150, 25) },
      );
    });
  });
}
