import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { RoundRobinBalancer } from "../../../proxier/userspace/loadbalancer.js";
import { runs } from "../../support/runs.js";

const endpointsArb = fc.uniqueArray(
  fc.tuple(fc.integer({ min: 1, max: 254 }), fc.integer({ min: 1, max: 65535 })).map(([a, p]) => `10.0.0.${a}:${p}`),
  { minLength: 1, maxLength: 20 },
);

describe("RoundRobinBalancer properties", () => {
  it("k full rounds give every endpoint exactly k picks, whatever the change history", () => {
    fc.assert(
      fc.property(
        fc.array(endpointsArb, { minLength: 1, maxLength: 4 }),
        fc.integer({ min: 1, max: 5 }),
        (history, k) => {
          const lb = new RoundRobinBalancer();
          for (const eps of history) {
            lb.setService("s", eps, 0);
            lb.next("s", null);
          }
          const last = history.at(-1)!;
          lb.setService("s", [...last, "10.9.9.9:1"], 0); // force a reset to index 0
          const eps = [...last, "10.9.9.9:1"];
          const counts = new Map<string, number>();
          for (let i = 0; i < k * eps.length; i++) {
            const e = lb.next("s", null)!;
            counts.set(e, (counts.get(e) ?? 0) + 1);
          }
          assert.equal(counts.size, eps.length);
          for (const c of counts.values()) assert.equal(c, k);
        },
      ),
      { numRuns: runs(1000, 200) },
    );
  });

  it("with affinity, a client's picks only change when its endpoint disappears or the timeout passes", () => {
    fc.assert(
      fc.property(
        endpointsArb,
        fc.array(fc.record({ client: fc.integer({ min: 0, max: 5 }), gap: fc.integer({ min: 0, max: 20_000 }) }), {
          maxLength: 60,
        }),
        (eps, steps) => {
          let t = 0;
          const lb = new RoundRobinBalancer({ now: () => t });
          lb.setService("s", eps, 10);
          const last = new Map<number, { ep: string; at: number }>();
          for (const s of steps) {
            t += s.gap;
            const ep = lb.next("s", `10.1.0.${s.client}`)!;
            assert.ok(eps.includes(ep));
            const prev = last.get(s.client);
            if (prev && t - prev.at < 10_000) assert.equal(ep, prev.ep);
            last.set(s.client, { ep, at: t });
          }
        },
      ),
      { numRuns: runs(1000, 200) },
    );
  });
});
