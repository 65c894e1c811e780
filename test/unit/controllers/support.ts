/** Test support: a FakeClient "kubelet" that makes pods Running + Ready with an IP, and waiting helpers. */
import type { Deployment, Node, Pod, Service } from "../../../src/api/index.js";
import type { FakeClient } from "../../../src/client/index.js";

export async function until(cond: () => boolean, what: string, ms = 8000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

let ipCounter = 1;
/** Marks every pending pod Running and Ready with a fresh IP on `node` (what kubelet + CNI would do). */
export async function fakeKubelet(fake: FakeClient, node = "n1", ready = true): Promise<number> {
  let n = 0;
  for (const p of fake.all<Pod>("Pod")) {
    if (p.status?.phase === "Running" || p.metadata.deletionTimestamp) continue;
    if (!p.spec.nodeName) {
      await fake.createSubresource("Pod", p.metadata.namespace, p.metadata.name!, "binding", {
        target: { kind: "Node", name: node },
      });
    }
    const cur = fake.peek<Pod>("Pod", p.metadata.namespace, p.metadata.name!)!;
    const ip = `10.244.${(ipCounter >> 8) & 255}.${ipCounter & 255}`;
    ipCounter++;
    await fake.updateStatus<Pod>({
      ...cur,
      status: {
        phase: "Running",
        podIP: ip,
        podIPs: [{ ip }],
        conditions: [{ type: "Ready", status: ready ? "True" : "False", lastTransitionTime: "2020-01-01T00:00:00Z" }],
      },
    });
    n++;
  }
  return n;
}

export const deployment = (
  name: string,
  replicas: number,
  image = "netexec:1",
  extra: Partial<Deployment["spec"]> = {},
): Deployment => ({
  apiVersion: "apps/v1",
  kind: "Deployment",
  metadata: { name, namespace: "default" },
  spec: {
    replicas,
    selector: { matchLabels: { app: name } },
    template: {
      metadata: { labels: { app: name } },
      spec: { containers: [{ name: "c", image, ports: [{ name: "http", containerPort: 8080 }] }] },
    },
    ...extra,
  },
});

export const service = (
  name: string,
  selector: Record<string, string>,
  targetPort: number | string = "http",
): Service => ({
  apiVersion: "v1",
  kind: "Service",
  metadata: { name, namespace: "default" },
  spec: { selector, ports: [{ name: "web", port: 80, targetPort, protocol: "TCP" }] },
});

export const node = (name: string, heartbeat: Date, ready = true): Node => ({
  apiVersion: "v1",
  kind: "Node",
  metadata: { name },
  spec: {},
  status: {
    conditions: [
      {
        type: "Ready",
        status: ready ? "True" : "False",
        lastHeartbeatTime: heartbeat.toISOString().replace(/\.\d+Z$/, "Z"),
        lastTransitionTime: "2020-01-01T00:00:00Z",
      },
    ],
  },
});
