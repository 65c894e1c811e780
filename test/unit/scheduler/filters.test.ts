import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Node, Pod } from "../../../src/api/index.js";
import {
  nodeAffinity,
  nodePorts,
  nodeReady,
  nodeResourcesFit,
  nodeUnschedulable,
  taintToleration,
} from "../../../src/scheduler/filters.js";
import { parseQuantity } from "../../../src/scheduler/quantity.js";
import { schedulePod } from "../../../src/scheduler/schedule.js";

const mkNode = (
  name: string,
  o: { labels?: Record<string, string>; cpu?: string; mem?: string; ready?: boolean } & Partial<Node["spec"]> = {},
): Node => ({
  apiVersion: "v1",
  kind: "Node",
  metadata: { name, labels: o.labels ?? {} },
  spec: { unschedulable: o.unschedulable, taints: o.taints },
  status: {
    allocatable: { cpu: o.cpu ?? "2", memory: o.mem ?? "4Gi", pods: "110" },
    conditions: [{ type: "Ready", status: o.ready === false ? "False" : "True" }],
  },
});
const mkPod = (name: string, spec: Partial<Pod["spec"]> = {}, req?: Record<string, string>): Pod => ({
  apiVersion: "v1",
  kind: "Pod",
  metadata: { name, namespace: "default" },
  spec: { containers: [{ name: "c", resources: req ? { requests: req } : undefined }], ...spec },
});
const info = (node: Node, pods: Pod[] = []) => ({ node, pods });

describe("scheduler filters", () => {
  it("parses quantities", () => {
    assert.equal(parseQuantity("250m"), 0.25);
    assert.equal(parseQuantity("2"), 2);
    assert.equal(parseQuantity("128Mi"), 128 * 2 ** 20);
    assert.equal(parseQuantity("1G"), 1e9);
    assert.equal(parseQuantity("1e3"), 1000);
    assert.equal(parseQuantity("bogus"), undefined);
  });

  it("resource requests must fit what remains allocatable", () => {
    const n = mkNode("n", { cpu: "1", mem: "1Gi" });
    const used = mkPod("u", { nodeName: "n" }, { cpu: "600m", memory: "512Mi" });
    assert.equal(nodeResourcesFit(mkPod("p", {}, { cpu: "400m" }), info(n, [used])), undefined);
    assert.equal(nodeResourcesFit(mkPod("p", {}, { cpu: "500m" }), info(n, [used])), "Insufficient cpu");
    assert.equal(
      nodeResourcesFit(mkPod("p", {}, { cpu: "500m", memory: "600Mi" }), info(n, [used])),
      "Insufficient cpu, Insufficient memory",
    );
    assert.equal(nodeResourcesFit(mkPod("p", {}, { "example.com/gpu": "1" }), info(n)), "Insufficient example.com/gpu");
  });

  it("nodeSelector and required node affinity", () => {
    const n = mkNode("n", { labels: { disk: "ssd", zone: "a" } });
    assert.equal(nodeAffinity(mkPod("p", { nodeSelector: { disk: "ssd" } }), info(n)), undefined);
    assert.match(nodeAffinity(mkPod("p", { nodeSelector: { disk: "hdd" } }), info(n)) ?? "", /didn't match/);
    const aff = (op: "In" | "NotIn" | "Exists" | "DoesNotExist", values?: string[]) =>
      mkPod("p", {
        affinity: {
          nodeAffinity: {
            requiredDuringSchedulingIgnoredDuringExecution: {
              nodeSelectorTerms: [{ matchExpressions: [{ key: "zone", operator: op, values }] }],
            },
          },
        },
      });
    assert.equal(nodeAffinity(aff("In", ["a", "b"]), info(n)), undefined);
    assert.ok(nodeAffinity(aff("NotIn", ["a"]), info(n)));
    assert.equal(nodeAffinity(aff("Exists"), info(n)), undefined);
    assert.ok(nodeAffinity(aff("DoesNotExist"), info(n)));
  });

  it("taints need tolerations (NoSchedule, NoExecute; PreferNoSchedule is only a score)", () => {
    const n = mkNode("n", { taints: [{ key: "dedicated", value: "db", effect: "NoSchedule" }] });
    assert.equal(taintToleration(mkPod("p"), info(n)), "node(s) had untolerated taint {dedicated: db}");
    assert.equal(
      taintToleration(
        mkPod("p", { tolerations: [{ key: "dedicated", operator: "Equal", value: "db", effect: "NoSchedule" }] }),
        info(n),
      ),
      undefined,
    );
    assert.ok(taintToleration(mkPod("p", { tolerations: [{ key: "dedicated", value: "web" }] }), info(n)));
    assert.equal(taintToleration(mkPod("p", { tolerations: [{ operator: "Exists" }] }), info(n)), undefined);
    const soft = mkNode("s", { taints: [{ key: "x", effect: "PreferNoSchedule" }] });
    assert.equal(taintToleration(mkPod("p"), info(soft)), undefined);
  });

  it("unschedulable and NotReady nodes are filtered; host ports conflict", () => {
    assert.equal(
      nodeUnschedulable(mkPod("p"), info(mkNode("n", { unschedulable: true }))),
      "node(s) were unschedulable",
    );
    assert.equal(nodeReady(mkPod("p"), info(mkNode("n", { ready: false }))), "node(s) were not ready");
    const hp = (name: string) =>
      mkPod(name, { containers: [{ name: "c", ports: [{ containerPort: 80, hostPort: 8080 }] }] });
    assert.ok(nodePorts(hp("a"), info(mkNode("n"), [hp("b")])));
    assert.equal(nodePorts(hp("a"), info(mkNode("n"), [])), undefined);
  });

  it("reports kube-scheduler's summary when nothing fits, and picks a feasible node otherwise", () => {
    const nodes = [mkNode("a", { ready: false }), mkNode("b", { cpu: "1" }), mkNode("c", { cpu: "1" })];
    const r = schedulePod(
      mkPod("p", {}, { cpu: "2" }),
      nodes.map((n) => info(n)),
    );
    assert.ok("unschedulable" in r);
    assert.equal(r.unschedulable, "0/3 nodes are available: 1 node(s) were not ready, 2 Insufficient cpu.");
    const ok = schedulePod(
      mkPod("p", {}, { cpu: "500m" }),
      nodes.map((n) => info(n)),
    );
    assert.ok("node" in ok && (ok.node === "b" || ok.node === "c"));
  });

  it("least allocated prefers the emptier node; pods of one owner spread", () => {
    const a = mkNode("a");
    const b = mkNode("b");
    const busy = mkPod("x", { nodeName: "a" }, { cpu: "1500m" });
    const r = schedulePod(mkPod("p", {}, { cpu: "100m" }), [info(a, [busy]), info(b)]);
    assert.ok("node" in r && r.node === "b");
    const owned = (n: string, node?: string): Pod => ({
      ...mkPod(n, node ? { nodeName: node } : {}),
      metadata: {
        name: n,
        namespace: "default",
        ownerReferences: [{ apiVersion: "apps/v1", kind: "ReplicaSet", name: "rs", uid: "rs1", controller: true }],
      },
    });
    const r2 = schedulePod(owned("p3"), [info(a, [owned("p1", "a"), owned("p2", "a")]), info(b, [owned("p0", "b")])]);
    assert.ok("node" in r2 && r2.node === "b");
  });
});
