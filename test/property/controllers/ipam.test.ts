import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import type { Node } from "../../../src/api/index.js";
import { cidrContains, nthAddress } from "../../../src/api/ip.js";
import { planPodCIDRs } from "../../../src/controllers/ipam.js";
import { runs } from "../../support/runs.js";

describe("node IPAM (model)", () => {
  it("assigns distinct subnets inside the cluster CIDR, keeps existing ones, reports exhaustion", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 20, max: 26 }),
        fc.array(fc.option(fc.integer({ min: 0, max: 63 }), { nil: undefined }), { maxLength: 80 }),
        (mask, existing) => {
          const capacity = 2 ** (mask - 20);
          const seen = new Set<number>();
          const nodes: Node[] = existing.map((e, i) => {
            const idx = e !== undefined && e < capacity && !seen.has(e) ? e : undefined;
            if (idx !== undefined) seen.add(idx);
            const podCIDR =
              idx !== undefined ? `${nthAddress("10.240.0.0/20", idx * 2 ** (32 - mask))}/${mask}` : undefined;
            return {
              apiVersion: "v1",
              kind: "Node",
              metadata: { name: `n${i}`, creationTimestamp: `2030-01-01T00:00:${String(i % 60).padStart(2, "0")}Z` },
              spec: podCIDR ? { podCIDR, podCIDRs: [podCIDR] } : {},
            };
          });
          const plan = planPodCIDRs({ clusterCIDRs: ["10.240.0.0/20"], maskSizeV4: mask }, nodes);
          const all = [
            ...nodes.flatMap((n) => (n.spec?.podCIDR ? [n.spec.podCIDR] : [])),
            ...[...plan.assign.values()].flat(),
          ];
          assert.equal(new Set(all).size, all.length, "no CIDR twice");
          for (const c of all) {
            assert.ok(cidrContains("10.240.0.0/20", c.split("/")[0]!));
            assert.equal(c.split("/")[1], String(mask));
          }
          for (const n of nodes) assert.ok(!(n.spec?.podCIDR && plan.assign.has(n.metadata.name!)), "existing kept");
          const without = nodes.filter((n) => !n.spec?.podCIDR).length;
          assert.equal(plan.assign.size + plan.exhausted.length, without);
          assert.equal(plan.assign.size, Math.min(without, capacity - seen.size));
        },
      ),
      { numRuns: runs(1000, 200), includeErrorInReport: true },
    );
  });
});
