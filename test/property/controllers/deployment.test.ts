import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import type { Deployment, ReplicaSet } from "../../../src/api/index.js";
import { planDeployment, revisionOf, surgeAndUnavailable } from "../../../src/controllers/deployment.js";
import { runs } from "../../support/runs.js";

/**
 * A model world for the deployment logic: replica sets whose pods become available after a random delay
 * (or never, for a "stuck" fraction), driven by planDeployment steps. Checks the rolling-update bounds that
 * kube-controller-manager guarantees and that the rollout converges.
 */
function deploymentOf(
  replicas: number,
  maxSurge: number | string,
  maxUnavailable: number | string,
  image: string,
): Deployment {
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name: "d", namespace: "ns", uid: "uid-d", generation: 1 },
    spec: {
      replicas,
      selector: { matchLabels: { app: "d" } },
      template: { metadata: { labels: { app: "d" } }, spec: { containers: [{ name: "c", image }] } },
      strategy: { type: "RollingUpdate", rollingUpdate: { maxSurge, maxUnavailable } },
    },
  };
}

const intOrPercent = fc.oneof(fc.integer({ min: 0, max: 3 }), fc.constantFrom("0%", "25%", "50%", "100%"));

describe("deployment rolling update (model)", () => {
  it("never exceeds replicas+maxSurge pods, never drops below replicas−maxUnavailable available, and converges", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 8 }),
        intOrPercent,
        intOrPercent,
        fc.array(fc.integer({ min: 0, max: 2 }), { minLength: 40, maxLength: 40 }),
        (replicas, maxSurge, maxUnavailable, delays) => {
          let d = deploymentOf(replicas, maxSurge, maxUnavailable, "v1");
          const { surge, unavailable } = surgeAndUnavailable(d);
          // ready[rs name] = pods available; pending pods become available after a delay from the list.
          let sets: ReplicaSet[] = [];
          const avail = new Map<string, number>();
          let uidN = 0;
          const step = (i: number) => {
            const plan = planDeployment(d, sets, new Date(0));
            if (plan.create) {
              const rs = structuredClone(plan.create);
              rs.metadata.uid = `rs-${uidN++}`;
              sets.push(rs);
            }
            for (const u of plan.update)
              sets = sets.map((s) => (s.metadata.name === u.metadata.name ? structuredClone(u) : s));
            const del = new Set(plan.delete.map((s) => s.metadata.name));
            sets = sets.filter((s) => !del.has(s.metadata.name));
            // RS controller + kubelet: scale-down is immediate; scale-up becomes available after a delay.
            for (const s of sets) {
              const want = s.spec.replicas ?? 0;
              let a = Math.min(avail.get(s.metadata.name!) ?? 0, want);
              if (a < want && (delays[i % delays.length] ?? 0) === 0) a++;
              avail.set(s.metadata.name!, a);
              s.status = { replicas: want, readyReplicas: a, availableReplicas: a };
            }
            d = { ...d, status: plan.status };
            const total = sets.reduce((n, s) => n + (s.spec.replicas ?? 0), 0);
            const available = [...avail.values()].reduce((n, a) => n + a, 0);
            return { total, available };
          };
          // Reach a steady state on v1.
          for (let i = 0; i < 200; i++) step(i);
          assert.equal(
            [...avail.values()].reduce((n, a) => n + a, 0),
            replicas,
            "v1 fully available",
          );
          // Roll out v2.
          d = { ...deploymentOf(replicas, maxSurge, maxUnavailable, "v2"), status: d.status };
          let done = false;
          for (let i = 0; i < 400 && !done; i++) {
            const { total, available } = step(i);
            assert.ok(total <= replicas + surge, `total ${total} > ${replicas}+${surge}`);
            assert.ok(available >= replicas - unavailable, `available ${available} < ${replicas}-${unavailable}`);
            const newest = sets.reduce((a, b) => (revisionOf(a) > revisionOf(b) ? a : b));
            done =
              newest.spec.template?.spec.containers[0]?.image === "v2" &&
              newest.spec.replicas === replicas &&
              avail.get(newest.metadata.name!) === replicas &&
              sets.every((s) => s === newest || s.spec.replicas === 0);
          }
          assert.ok(done, "rollout converges");
          step(0); // status is computed from what the previous step left behind
          assert.equal(d.status?.updatedReplicas, replicas);
          assert.equal(d.status?.availableReplicas, replicas);
        },
      ),
      { numRuns: runs(500, 100), includeErrorInReport: true },
    );
  });
});
