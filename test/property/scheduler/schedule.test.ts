import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import type { Node, Pod, Taint } from "../../../src/api/index.js";
import { defaultFilters, firstFailure, type NodeInfo } from "../../../src/scheduler/filters.js";
import { podRequests, requestedOn } from "../../../src/scheduler/resources.js";
import { schedulePod } from "../../../src/scheduler/schedule.js";
import { runs } from "../../support/runs.js";

const taintArb = fc.record({
  key: fc.constantFrom("a", "b"),
  value: fc.constantFrom("x", "y"),
  effect: fc.constantFrom("NoSchedule", "NoExecute", "PreferNoSchedule"),
}) as fc.Arbitrary<Taint>;
const nodeArb = fc.record({
  cpu: fc.integer({ min: 0, max: 4000 }),
  zone: fc.constantFrom("z1", "z2"),
  ready: fc.boolean(),
  unschedulable: fc.boolean(),
  taints: fc.array(taintArb, { maxLength: 2 }),
});
const podArb = fc.record({
  cpu: fc.integer({ min: 0, max: 2000 }),
  zone: fc.option(fc.constantFrom("z1", "z2"), { nil: undefined }),
  tolerate: fc.option(fc.constantFrom("a", "b"), { nil: undefined }),
});

function mkNodes(
  specs: { cpu: number; zone: string; ready: boolean; unschedulable: boolean; taints: Taint[] }[],
): Node[] {
  return specs.map((s, i) => ({
    apiVersion: "v1",
    kind: "Node",
    metadata: { name: `n${i}`, labels: { zone: s.zone } },
    spec: { unschedulable: s.unschedulable, taints: s.taints },
    status: {
      allocatable: { cpu: `${s.cpu}m`, pods: "110" },
      conditions: [{ type: "Ready", status: s.ready ? "True" : "False" }],
    },
  }));
}
function mkPod(s: { cpu: number; zone: string | undefined; tolerate: string | undefined }, i: number): Pod {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name: `p${i}`, namespace: "d" },
    spec: {
      containers: [{ name: "c", resources: { requests: { cpu: `${s.cpu}m` } } }],
      ...(s.zone ? { nodeSelector: { zone: s.zone } } : {}),
      ...(s.tolerate ? { tolerations: [{ key: s.tolerate, operator: "Exists" as const }] } : {}),
    },
  };
}

describe("schedulePod (model)", () => {
  it("places a pod only where every filter passes, says unschedulable only when none does, never overcommits", () => {
    fc.assert(
      fc.property(
        fc.array(nodeArb, { maxLength: 6 }),
        fc.array(podArb, { maxLength: 25 }),
        fc.double({ min: 0, max: 0.999, noNaN: true }),
        (ns, ps, rnd) => {
          const nodes = mkNodes(ns);
          const placed = new Map<string, Pod[]>(nodes.map((n) => [n.metadata.name!, []]));
          ps.forEach((s, i) => {
            const pod = mkPod(s, i);
            const infos: NodeInfo[] = nodes.map((n) => ({ node: n, pods: placed.get(n.metadata.name!)! }));
            const feasible = infos.filter((inf) => firstFailure(pod, inf, defaultFilters) === undefined);
            const r = schedulePod(pod, infos, { random: () => rnd });
            if ("node" in r) {
              assert.ok(
                feasible.some((f) => f.node.metadata.name === r.node),
                "chosen node is feasible",
              );
              placed.get(r.node)!.push({ ...pod, spec: { ...pod.spec, nodeName: r.node } });
            } else {
              assert.equal(feasible.length, 0, "unschedulable only when nothing fits");
              const counted = Object.values(r.reasons).reduce((a, b) => a + b, 0);
              assert.ok(counted >= nodes.length, "every node has a reason");
            }
          });
          for (const n of nodes) {
            const used = requestedOn(placed.get(n.metadata.name!)!).cpu ?? 0;
            const cap = Number(n.status!.allocatable!.cpu!.slice(0, -1)) / 1000;
            assert.ok(used <= cap + 1e-9, `cpu on ${n.metadata.name}: ${used} > ${cap}`);
            for (const p of placed.get(n.metadata.name!)!) assert.ok(podRequests(p).cpu !== undefined);
          }
        },
      ),
      { numRuns: runs(2000, 300), includeErrorInReport: true },
    );
  });
});
