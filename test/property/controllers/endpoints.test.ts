import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import type { Pod, Service } from "../../../src/api/index.js";
import {
  desiredEndpointSlices,
  desiredEndpoints,
  MaxEndpointsPerSlice,
  reconcileSlices,
} from "../../../src/controllers/endpoints.js";
import { runs } from "../../support/runs.js";

const podArb = fc.record({
  app: fc.constantFrom("web", "db"),
  ready: fc.boolean(),
  terminating: fc.boolean(),
  phase: fc.constantFrom("Running", "Running", "Running", "Pending", "Succeeded"),
  hasIP: fc.boolean(),
  namedPort: fc.boolean(),
  node: fc.constantFrom("n1", "n2"),
});

type PodSpecArb = typeof podArb extends fc.Arbitrary<infer T> ? T : never;

function mkPods(specs: PodSpecArb[]): Pod[] {
  return specs.map((s, i) => ({
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name: `p${String(i).padStart(4, "0")}`,
      namespace: "default",
      uid: `u${i}`,
      labels: { app: s.app },
      ...(s.terminating ? { deletionTimestamp: "2030-01-01T00:00:00Z" } : {}),
    },
    spec: {
      nodeName: s.node,
      containers: [{ name: "c", ports: s.namedPort ? [{ name: "http", containerPort: 8080 + (i % 2) }] : [] }],
    },
    status: {
      phase: s.phase as "Running",
      ...(s.hasIP ? { podIP: `10.244.${i >> 8}.${i & 255}` } : {}),
      conditions: [{ type: "Ready", status: s.ready ? "True" : "False" }],
    },
  }));
}

const svc = (targetPort: number | string): Service => ({
  apiVersion: "v1",
  kind: "Service",
  metadata: { name: "web", namespace: "default", uid: "svc-uid" },
  spec: { selector: { app: "web" }, ports: [{ name: "http", port: 80, targetPort, protocol: "TCP" }] },
});

describe("endpoint slices and endpoints (model)", () => {
  it("slices hold each eligible selected pod exactly once, ≤100 per slice, with Kubernetes' conditions", () => {
    fc.assert(
      fc.property(fc.array(podArb, { maxLength: 260 }), fc.constantFrom<number | string>(8080, "http"), (specs, tp) => {
        const pods = mkPods(specs);
        const s = svc(tp);
        const slices = desiredEndpointSlices(s, pods);
        const eligible = pods.filter(
          (p) =>
            p.metadata.labels?.app === "web" &&
            p.status?.podIP &&
            p.status.phase !== "Succeeded" &&
            (tp === 8080 || (p.spec.containers[0]?.ports?.length ?? 0) > 0),
        );
        const eps = slices.flatMap((sl) => sl.endpoints ?? []);
        assert.deepEqual(eps.map((e) => e.targetRef?.name).sort(), eligible.map((p) => p.metadata.name).sort());
        for (const sl of slices) {
          assert.ok((sl.endpoints?.length ?? 0) <= MaxEndpointsPerSlice);
          assert.equal(sl.metadata.labels?.["kubernetes.io/service-name"], "web");
          assert.equal(sl.metadata.ownerReferences?.[0]?.uid, "svc-uid");
          for (const e of sl.endpoints ?? []) {
            const p = pods.find((x) => x.metadata.name === e.targetRef?.name)!;
            const ready = p.status?.conditions?.[0]?.status === "True";
            const term = !!p.metadata.deletionTimestamp;
            assert.deepEqual(e.conditions, { ready: ready && !term, serving: ready, terminating: term });
            assert.equal(e.addresses[0], p.status?.podIP);
            const port = sl.ports?.[0]?.port;
            assert.equal(port, tp === 8080 ? 8080 : p.spec.containers[0]?.ports?.[0]?.containerPort);
          }
        }
        assert.ok(slices.length >= 1, "at least a placeholder");
        const names = slices.map((x) => x.metadata.name);
        assert.equal(new Set(names).size, names.length, "unique names");
        // Reconciling a world that already matches changes nothing; from nothing, creates everything.
        const same = reconcileSlices(slices, slices);
        assert.equal(same.create.length + same.update.length + same.delete.length, 0);
        assert.equal(reconcileSlices(slices, []).create.length, slices.length);

        const legacy = desiredEndpoints(s, pods)!;
        const addrs = (legacy.subsets ?? []).flatMap((x) => x.addresses ?? []).map((a) => a.targetRef?.name);
        const notReady = (legacy.subsets ?? []).flatMap((x) => x.notReadyAddresses ?? []).map((a) => a.targetRef?.name);
        const live = eligible.filter((p) => !p.metadata.deletionTimestamp);
        const isReady = (p: Pod) => p.status?.conditions?.[0]?.status === "True";
        assert.deepEqual(
          addrs.sort(),
          live
            .filter(isReady)
            .map((p) => p.metadata.name)
            .sort(),
        );
        assert.deepEqual(
          notReady.sort(),
          live
            .filter((p) => !isReady(p))
            .map((p) => p.metadata.name)
            .sort(),
        );
      }),
      { numRuns: runs(1000, 150), includeErrorInReport: true },
    );
  });
});
