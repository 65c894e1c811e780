import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { humanDuration, toTable } from "../../../src/apiserver/table.js";

const now = Date.parse("2025-01-01T01:00:00Z");
const created = "2025-01-01T00:55:00Z";

describe("server-side Table", () => {
  it("ages like kubectl", () => {
    assert.equal(humanDuration(59_000), "59s");
    assert.equal(humanDuration(150_000), "2m30s");
    assert.equal(humanDuration(3 * 3600_000 + 5 * 60_000), "3h5m");
    assert.equal(humanDuration(50 * 3600_000), "2d2h");
  });

  it("pods: ready/total, status from container states, restarts, terminating", () => {
    const pod = {
      metadata: { name: "p", creationTimestamp: created },
      spec: { nodeName: "n1", containers: [{ name: "a" }, { name: "b" }] },
      status: {
        phase: "Running",
        podIP: "10.244.0.5",
        containerStatuses: [
          { name: "a", ready: true, restartCount: 1, state: { running: {} } },
          { name: "b", ready: false, restartCount: 2, state: { waiting: { reason: "CrashLoopBackOff" } } },
        ],
      },
    };
    const t = toTable("Pod", [pod], { resourceVersion: "5" }, "None", now);
    assert.deepEqual(t.rows[0]?.cells, [
      "p",
      "1/2",
      "CrashLoopBackOff",
      "3",
      "5m",
      "10.244.0.5",
      "n1",
      "<none>",
      "<none>",
    ]);
    assert.equal(t.rows[0]?.object, undefined);
    const term = toTable(
      "Pod",
      [{ ...pod, metadata: { ...pod.metadata, deletionTimestamp: created } }],
      {},
      "Object",
      now,
    );
    assert.equal(term.rows[0]?.cells[2], "Terminating");
    const row = term.rows[0] as { object: { metadata: { name: string } } };
    assert.equal(row.object.metadata.name, "p");
  });

  it("services, deployments, nodes, endpointslices", () => {
    const svc = toTable(
      "Service",
      [
        {
          metadata: { name: "s", creationTimestamp: created },
          spec: {
            type: "NodePort",
            clusterIP: "10.96.0.9",
            ports: [
              { port: 80, nodePort: 30080, protocol: "TCP" },
              { port: 53, protocol: "UDP" },
            ],
            selector: { b: "2", a: "1" },
          },
        },
      ],
      {},
      "None",
      now,
    );
    assert.deepEqual(svc.rows[0]?.cells, [
      "s",
      "NodePort",
      "10.96.0.9",
      "<none>",
      "80:30080/TCP,53/UDP",
      "5m",
      "a=1,b=2",
    ]);
    const dep = toTable(
      "Deployment",
      [
        {
          metadata: { name: "d", creationTimestamp: created },
          spec: {
            replicas: 3,
            selector: { matchLabels: { app: "d" } },
            template: { spec: { containers: [{ name: "c", image: "i:1" }] } },
          },
          status: { readyReplicas: 2, updatedReplicas: 3, availableReplicas: 2 },
        },
      ],
      {},
      "None",
      now,
    );
    assert.deepEqual(dep.rows[0]?.cells, ["d", "2/3", 3, 2, "5m", "c", "i:1", "app=d"]);
    const node = toTable(
      "Node",
      [
        {
          metadata: { name: "n", creationTimestamp: created, labels: { "node-role.kubernetes.io/control-plane": "" } },
          spec: { unschedulable: true },
          status: {
            conditions: [{ type: "Ready", status: "False" }],
            addresses: [{ type: "InternalIP", address: "198.18.0.2" }],
            nodeInfo: { kubeletVersion: "v1.32.0" },
          },
        },
      ],
      {},
      "None",
      now,
    );
    assert.deepEqual(node.rows[0]?.cells.slice(0, 6), [
      "n",
      "NotReady,SchedulingDisabled",
      "control-plane",
      "5m",
      "v1.32.0",
      "198.18.0.2",
    ]);
    const eps = toTable(
      "EndpointSlice",
      [
        {
          metadata: { name: "e", creationTimestamp: created },
          addressType: "IPv4",
          ports: [{ port: 80 }],
          endpoints: [1, 2, 3, 4, 5].map((i) => ({ addresses: [`10.0.0.${i}`] })),
        },
      ],
      {},
      "None",
      now,
    );
    assert.deepEqual(eps.rows[0]?.cells, ["e", "IPv4", "80", "10.0.0.1,10.0.0.2,10.0.0.3 + 2 more...", "5m"]);
  });
});
