import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Node, Pod } from "../../../src/api/index.js";
import { decideNode, shouldEvict, TaintUnreachable } from "../../../src/controllers/nodelifecycle.js";

const at = (s: number) => new Date(Date.UTC(2030, 0, 1, 0, 0, s));
const iso = (d: Date) => d.toISOString().replace(/\.\d+Z$/, "Z");
const node = (ready: "True" | "False" | "Unknown", heartbeat: Date, transition = heartbeat): Node => ({
  apiVersion: "v1",
  kind: "Node",
  metadata: { name: "n", creationTimestamp: iso(at(0)) },
  spec: {},
  status: {
    conditions: [
      { type: "Ready", status: ready, lastHeartbeatTime: iso(heartbeat), lastTransitionTime: iso(transition) },
      { type: "MemoryPressure", status: "False", lastHeartbeatTime: iso(heartbeat) },
    ],
  },
});
const pod = (tolerations?: Pod["spec"]["tolerations"]): Pod => ({
  apiVersion: "v1",
  kind: "Pod",
  metadata: { name: "p", namespace: "d" },
  spec: { nodeName: "n", containers: [{ name: "c" }], tolerations },
});

describe("node lifecycle decisions", () => {
  it("marks a node Unknown only after the grace period, with the unreachable taint", () => {
    const n = node("True", at(0));
    const within = decideNode(n, at(40), 40_000);
    assert.equal(within.conditions, undefined);
    assert.equal(within.notReady, false);
    assert.equal(within.taints, undefined);
    const late = decideNode(n, at(41), 40_000);
    assert.deepEqual(
      late.conditions?.map((c) => [c.type, c.status, c.reason]),
      [
        ["Ready", "Unknown", "NodeStatusUnknown"],
        ["MemoryPressure", "Unknown", "NodeStatusUnknown"],
      ],
    );
    assert.equal(late.notReady, true);
    assert.deepEqual(
      late.taints?.map((t) => [t.key, t.effect]),
      [[TaintUnreachable, "NoSchedule"]],
    );
  });

  it("a node Ready again loses the taint; a NotReady (False) node gets not-ready", () => {
    const tainted: Node = {
      ...node("True", at(100)),
      spec: { taints: [{ key: TaintUnreachable, effect: "NoSchedule" }] },
    };
    assert.deepEqual(decideNode(tainted, at(101), 40_000).taints, []);
    const f = decideNode(node("False", at(100)), at(101), 40_000);
    assert.deepEqual(
      f.taints?.map((t) => t.key),
      ["node.kubernetes.io/not-ready"],
    );
    assert.equal(f.conditions, undefined, "a fresh False is the kubelet's word, not ours to change");
  });

  it("evicts after the default timeout or the pod's tolerationSeconds; a toleration without seconds stays", () => {
    const n = node("Unknown", at(0), at(0));
    assert.equal(shouldEvict(pod(), n, at(299), 300), false);
    assert.equal(shouldEvict(pod(), n, at(300), 300), true);
    const short = pod([{ key: TaintUnreachable, operator: "Exists", effect: "NoExecute", tolerationSeconds: 10 }]);
    assert.equal(shouldEvict(short, n, at(10), 300), true);
    const forever = pod([{ operator: "Exists" }]);
    assert.equal(shouldEvict(forever, n, at(10_000), 300), false);
    assert.equal(shouldEvict(pod(), node("True", at(0)), at(10_000), 300), false);
  });
});
