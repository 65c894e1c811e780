import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import type { Pod, ReplicaSet } from "../../../src/api/index.js";
import { isPodActive, isPodReady } from "../../../src/controllers/pods.js";
import { deletionOrder, planReplicas, replicaOwnerOf } from "../../../src/controllers/replicas.js";
import { runs } from "../../support/runs.js";

const rs = (replicas: number): ReplicaSet => ({
  apiVersion: "apps/v1",
  kind: "ReplicaSet",
  metadata: { name: "rs", namespace: "ns", uid: "rs-uid", generation: 3 },
  spec: {
    replicas,
    selector: { matchLabels: { app: "a" } },
    template: { metadata: { labels: { app: "a" } }, spec: { containers: [{ name: "c" }] } },
  },
});

const podArb = fc.record({
  owner: fc.constantFrom("rs-uid", "other", "none"),
  app: fc.constantFrom("a", "b"),
  phase: fc.constantFrom("Pending", "Running", "Succeeded", "Failed"),
  ready: fc.boolean(),
  deleting: fc.boolean(),
  bound: fc.boolean(),
  age: fc.integer({ min: 0, max: 59 }),
});

describe("replica planning (model)", () => {
  it("creates or deletes exactly the difference, deletes only active owned pods, least useful first", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 8 }), fc.array(podArb, { maxLength: 20 }), (replicas, specs) => {
        const pods: Pod[] = specs.map((s, i) => ({
          apiVersion: "v1",
          kind: "Pod",
          metadata: {
            name: `p${i}`,
            namespace: "ns",
            labels: { app: s.app },
            creationTimestamp: `2030-01-01T00:00:${String(s.age).padStart(2, "0")}Z`,
            ...(s.deleting ? { deletionTimestamp: "2030-01-01T01:00:00Z" } : {}),
            ...(s.owner !== "none"
              ? {
                  ownerReferences: [
                    { apiVersion: "apps/v1", kind: "ReplicaSet", name: "x", uid: s.owner, controller: true },
                  ],
                }
              : {}),
          },
          spec: { containers: [{ name: "c" }], ...(s.bound ? { nodeName: "n1" } : {}) },
          status: { phase: s.phase as "Running", conditions: [{ type: "Ready", status: s.ready ? "True" : "False" }] },
        }));
        const plan = planReplicas(replicaOwnerOf(rs(replicas)), pods, new Date("2030-01-02T00:00:00Z"));
        const mine = pods.filter(
          (p) =>
            p.metadata.labels?.app === "a" &&
            (p.metadata.ownerReferences?.[0]?.uid === "rs-uid" || (!p.metadata.ownerReferences && isPodActive(p))),
        );
        const active = mine.filter(isPodActive);
        assert.equal(plan.status.replicas, active.length);
        assert.equal(plan.status.readyReplicas, active.filter(isPodReady).length);
        assert.equal(plan.status.observedGeneration, 3);
        assert.equal(plan.create, Math.max(0, replicas - active.length));
        assert.equal(plan.delete.length, Math.max(0, active.length - replicas));
        assert.ok(plan.create === 0 || plan.delete.length === 0);
        for (const d of plan.delete) assert.ok(active.includes(d), "only active pods of this owner are deleted");
        // Every kept pod is at least as useful as every deleted one.
        const kept = active.filter((p) => !plan.delete.includes(p));
        for (const d of plan.delete) for (const k of kept) assert.ok(deletionOrder(d, k) <= 0);
        assert.deepEqual(
          plan.adopt.map((p) => p.metadata.name),
          mine.filter((p) => !p.metadata.ownerReferences).map((p) => p.metadata.name),
        );
      }),
      { numRuns: runs(2000, 300), includeErrorInReport: true },
    );
  });
});
