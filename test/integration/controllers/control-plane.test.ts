/**
 * The controllers and the scheduler inside a real `podwire server` (HTTPS, sqlite), driven through the
 * client layer: deployment → replicaset → pods, scheduling and binding, service → EndpointSlice + Endpoints,
 * scaling, unschedulable pods, and a node that stops heartbeating.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { Deployment, EndpointSlice, Endpoints, Node, Pod, ReplicaSet, Service } from "../../../src/api/index.js";
import type { RestClient } from "../../../src/client/index.js";
import { type RunningServer, startServer } from "./server.js";

async function until<T>(f: () => Promise<T | undefined | false>, what: string, ms = 20_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const ts = (d: Date) => d.toISOString().replace(/\.\d+Z$/, "Z");

/** Posts a node's status like a kubelet: re-read and retry when a controller (IPAM, lifecycle) wrote first. */
async function postNode(c: RestClient, name: string, heartbeat: Date, cpu = "4"): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    const conflict = await postNodeOnce(c, name, heartbeat, cpu);
    if (!conflict || attempt >= 10) {
      assert.ok(!conflict, conflict);
      return;
    }
  }
}

async function postNodeOnce(c: RestClient, name: string, heartbeat: Date, cpu: string): Promise<string | undefined> {
  const cur = await c.get("Node", undefined, name);
  const base: Node = cur.ok
    ? cur.value
    : await (async () => {
        const r = await c.create<Node>({
          apiVersion: "v1",
          kind: "Node",
          metadata: { name, labels: { "kubernetes.io/hostname": name } },
          spec: {},
        });
        assert.ok(r.ok, r.ok ? "" : r.error.message);
        return r.value;
      })();
  const r = await c.updateStatus<Node>({
    ...base,
    status: {
      allocatable: { cpu, memory: "8Gi", pods: "110" },
      capacity: { cpu, memory: "8Gi", pods: "110" },
      addresses: [{ type: "InternalIP", address: "198.18.0.10" }],
      conditions: [
        {
          type: "Ready",
          status: "True",
          reason: "KubeletReady",
          lastHeartbeatTime: ts(heartbeat),
          lastTransitionTime: ts(heartbeat),
        },
      ],
    },
  });
  if (!r.ok && r.error.status.reason === "Conflict") return r.error.message;
  assert.ok(r.ok, r.ok ? "" : r.error.message);
  return undefined;
}

let ip = 10;
/** What a kubelet would do for bound pods: Running, Ready, an IP. */
async function kubelet(c: RestClient, node: string): Promise<number> {
  const l = await c.list("Pod", { namespace: "default", fieldSelector: `spec.nodeName=${node}` });
  assert.ok(l.ok);
  let n = 0;
  for (const p of l.value.items) {
    if (p.status?.phase === "Running") continue;
    const podIP = `10.244.1.${ip++}`;
    const r = await c.updateStatus<Pod>({
      ...p,
      kind: "Pod",
      apiVersion: "v1",
      status: {
        ...p.status,
        phase: "Running",
        podIP,
        podIPs: [{ ip: podIP }],
        conditions: [
          { type: "PodScheduled", status: "True" },
          { type: "Ready", status: "True", lastTransitionTime: ts(new Date()) },
        ],
      },
    });
    if (r.ok) n++;
  }
  return n;
}

describe("control plane inside podwire server", () => {
  let srv: RunningServer;
  let c: RestClient;
  before(async () => {
    srv = await startServer();
    c = srv.client;
  });
  after(async () => {
    await srv?.stop();
  });

  it("node IPAM gives a registered node a podCIDR from --cluster-cidr", async () => {
    await postNode(c, "n1", new Date());
    const cidr = await until(async () => {
      const n = await c.get("Node", undefined, "n1");
      return n.ok && n.value.spec?.podCIDR;
    }, "podCIDR");
    assert.match(cidr, /^10\.244\.\d+\.0\/24$/);
  });

  it("deployment → replicaset → pods, bound by the scheduler, available once running", async () => {
    const d: Deployment = {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name: "web", namespace: "default" },
      spec: {
        replicas: 2,
        selector: { matchLabels: { app: "web" } },
        template: {
          metadata: { labels: { app: "web" } },
          spec: {
            containers: [
              {
                name: "web",
                image: "netexec",
                ports: [{ name: "http", containerPort: 8080 }],
                resources: { requests: { cpu: "100m" } },
              },
            ],
          },
        },
      },
    };
    const r = await c.create(d);
    assert.ok(r.ok, r.ok ? "" : r.error.message);
    const pods = await until(async () => {
      const l = await c.list("Pod", { namespace: "default", labelSelector: "app=web" });
      return (
        l.ok && l.value.items.length === 2 && l.value.items.every((p) => p.spec.nodeName === "n1") && l.value.items
      );
    }, "2 pods bound to n1");
    const rs = await c.list("ReplicaSet", { namespace: "default" });
    assert.ok(rs.ok && rs.value.items.length === 1);
    const set = rs.value.items[0] as ReplicaSet;
    assert.equal(set.metadata.annotations?.["deployment.kubernetes.io/revision"], "1");
    for (const p of pods)
      assert.equal(p.metadata.labels?.["pod-template-hash"], set.metadata.labels?.["pod-template-hash"]);
    await kubelet(c, "n1");
    await until(async () => {
      const g = await c.get("Deployment", "default", "web");
      return g.ok && g.value.status?.availableReplicas === 2 && g.value.status.updatedReplicas === 2;
    }, "deployment available");
  });

  it("service with a selector → EndpointSlice and Endpoints with the ready pods; scaling adds one", async () => {
    const svc: Service = {
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: "web", namespace: "default" },
      spec: { selector: { app: "web" }, ports: [{ name: "http", port: 80, targetPort: "http" }] },
    };
    const r = await c.create(svc);
    assert.ok(r.ok, r.ok ? "" : r.error.message);
    const readyEndpoints = async (n: number) =>
      until(async () => {
        const l = await c.list("EndpointSlice", {
          namespace: "default",
          labelSelector: "kubernetes.io/service-name=web",
        });
        if (!l.ok) return false;
        const eps = l.value.items.flatMap((s: EndpointSlice) => s.endpoints ?? []);
        return eps.length === n && eps.every((e) => e.conditions?.ready === true) && l.value.items;
      }, `${n} ready endpoints`);
    const slices = await readyEndpoints(2);
    assert.equal(
      slices[0]?.metadata.labels?.["endpointslice.kubernetes.io/managed-by"],
      "endpointslice-controller.k8s.io",
    );
    assert.deepEqual(slices[0]?.ports, [{ name: "http", port: 8080, protocol: "TCP" }]);
    assert.equal(slices[0]?.endpoints?.[0]?.nodeName, "n1");
    await until(async () => {
      const e = await c.get("Endpoints", "default", "web");
      return e.ok && (e.value as Endpoints).subsets?.[0]?.addresses?.length === 2;
    }, "legacy endpoints");

    const s = await c.patch("Deployment", "default", "web", { spec: { replicas: 3 } }, "merge", {
      subresource: "scale",
    });
    assert.ok(s.ok, s.ok ? "" : s.error.message);
    await until(async () => {
      const l = await c.list("Pod", { namespace: "default", labelSelector: "app=web" });
      return l.ok && l.value.items.filter((p) => p.spec.nodeName).length === 3;
    }, "3 pods bound");
    await kubelet(c, "n1");
    await readyEndpoints(3);
  });

  it("a pod that fits no node gets PodScheduled=False with the scheduler's reason", async () => {
    const p: Pod = {
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: "big", namespace: "default" },
      spec: { containers: [{ name: "c", image: "pause", resources: { requests: { cpu: "64" } } }] },
    };
    assert.ok((await c.create(p)).ok);
    const cond = await until(async () => {
      const g = await c.get("Pod", "default", "big");
      return g.ok && g.value.status?.conditions?.find((x) => x.type === "PodScheduled" && x.status === "False");
    }, "PodScheduled=False");
    assert.equal(cond.reason, "Unschedulable");
    assert.equal(cond.message, "0/1 nodes are available: 1 Insufficient cpu.");
  });

  it("a node whose heartbeat stops goes Unknown; its pods and endpoints turn not ready", async () => {
    // Pretend the last heartbeat was long ago (the grace period is 50 s; the monitor looks every 5 s).
    await postNode(c, "n1", new Date(Date.now() - 120_000));
    await until(async () => {
      const n = await c.get("Node", undefined, "n1");
      return n.ok && n.value.status?.conditions?.find((x) => x.type === "Ready")?.status === "Unknown";
    }, "node Unknown");
    await until(async () => {
      const l = await c.list("EndpointSlice", {
        namespace: "default",
        labelSelector: "kubernetes.io/service-name=web",
      });
      const eps = l.ok ? l.value.items.flatMap((s: EndpointSlice) => s.endpoints ?? []) : [];
      return eps.length === 3 && eps.every((e) => e.conditions?.ready === false);
    }, "endpoints not ready");
    await until(async () => {
      const e = await c.get("Endpoints", "default", "web");
      return e.ok && (e.value as Endpoints).subsets?.[0]?.notReadyAddresses?.length === 3;
    }, "legacy endpoints not ready");
  });
});
