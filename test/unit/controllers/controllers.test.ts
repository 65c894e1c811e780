import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type {
  Deployment,
  Event,
  EndpointSlice,
  Endpoints,
  Node,
  Pod,
  ReplicaSet,
  ReplicationController,
} from "../../../src/api/index.js";
import { FakeClient } from "../../../src/client/index.js";
import { selectControllers, startControllers } from "../../../src/controllers/index.js";
import { deployment, fakeKubelet, node, service, until } from "./support.js";

const pods = (f: FakeClient) => f.all<Pod>("Pod").filter((p) => !p.metadata.deletionTimestamp);
const rsOf = (f: FakeClient) => f.all<ReplicaSet>("ReplicaSet");

describe("controllers against the in-memory apiserver", () => {
  it("deployment → replicaset → pods; status becomes available; scaling follows", async () => {
    const fake = new FakeClient();
    const cm = startControllers({ client: fake, controllers: ["deployment", "replicaset"] });
    try {
      await fake.create(deployment("web", 3));
      await until(() => pods(fake).length === 3, "3 pods");
      const [rs] = rsOf(fake);
      assert.ok(rs);
      assert.equal(rs.metadata.annotations?.["deployment.kubernetes.io/revision"], "1");
      const hash = rs.metadata.labels?.["pod-template-hash"];
      assert.ok(hash && rs.metadata.name === `web-${hash}`);
      for (const p of pods(fake)) {
        assert.equal(p.metadata.labels?.["pod-template-hash"], hash);
        assert.equal(p.metadata.ownerReferences?.[0]?.uid, rs.metadata.uid);
        assert.ok(p.metadata.name?.startsWith(`${rs.metadata.name}-`));
      }
      await fakeKubelet(fake);
      await until(
        () => fake.peek<Deployment>("Deployment", "default", "web")?.status?.availableReplicas === 3,
        "available",
      );
      const st = fake.peek<Deployment>("Deployment", "default", "web")!.status!;
      assert.equal(st.updatedReplicas, 3);
      assert.equal(st.observedGeneration, 1);
      assert.equal(st.conditions?.find((c) => c.type === "Progressing")?.reason, "NewReplicaSetAvailable");

      const d = fake.peek<Deployment>("Deployment", "default", "web")!;
      await fake.update({ ...d, spec: { ...d.spec, replicas: 1 } });
      await until(() => pods(fake).length === 1, "scaled to 1");
      await fake.patch("Deployment", "default", "web", { spec: { replicas: 4 } }, "merge");
      await until(() => pods(fake).length === 4, "scaled to 4");
      assert.equal(rsOf(fake).length, 1, "scaling makes no new replicaset");
    } finally {
      await cm.stop();
    }
  });

  it("a template change rolls out: new replicaset, old scaled to 0, never below minimum availability", async () => {
    const fake = new FakeClient();
    const cm = startControllers({ client: fake, controllers: ["deployment", "replicaset"] });
    try {
      await fake.create(
        deployment("roll", 4, "img:1", {
          strategy: { type: "RollingUpdate", rollingUpdate: { maxSurge: 1, maxUnavailable: 1 } },
        }),
      );
      await until(() => pods(fake).length === 4, "4 pods");
      await fakeKubelet(fake);
      await until(
        () => fake.peek<Deployment>("Deployment", "default", "roll")?.status?.availableReplicas === 4,
        "available",
      );
      const d = fake.peek<Deployment>("Deployment", "default", "roll")!;
      const t = structuredClone(d.spec.template);
      t.spec.containers[0]!.image = "img:2";
      await fake.update({ ...d, spec: { ...d.spec, template: t } });
      // Play kubelet until the rollout completes, checking the availability bound each round.
      let minReady = 4;
      let maxTotal = 0;
      await until(
        () => {
          void fakeKubelet(fake);
          const ps = pods(fake);
          const ready = ps.filter((p) => p.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True"));
          minReady = Math.min(minReady, ready.length);
          maxTotal = Math.max(maxTotal, ps.length);
          const st = fake.peek<Deployment>("Deployment", "default", "roll")?.status;
          // What `kubectl rollout status` checks: the new generation observed, all updated, old ones gone.
          return (
            (st?.observedGeneration ?? 0) >= 2 &&
            st?.updatedReplicas === 4 &&
            st.replicas === 4 &&
            st.availableReplicas === 4
          );
        },
        "rollout complete",
        15000,
      );
      const sets = rsOf(fake);
      assert.equal(sets.length, 2);
      const byRev = Object.fromEntries(
        sets.map((s) => [s.metadata.annotations?.["deployment.kubernetes.io/revision"], s]),
      );
      assert.equal(byRev["1"]?.spec.replicas, 0);
      assert.equal(byRev["2"]?.spec.replicas, 4);
      assert.equal(byRev["2"]?.spec.template?.spec.containers[0]?.image, "img:2");
      assert.ok(minReady >= 3, `ready pods never below replicas - maxUnavailable (saw ${minReady})`);
      assert.ok(maxTotal <= 5, `pods never above replicas + maxSurge (saw ${maxTotal})`);
    } finally {
      await cm.stop();
    }
  });

  it("replicationcontroller keeps its replicas and adopts a matching orphan", async () => {
    const orphan: Pod = {
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: "orphan", namespace: "default", labels: { app: "rc" } },
      spec: { containers: [{ name: "c" }] },
    };
    const fake = new FakeClient({ objects: [orphan] });
    const cm = startControllers({ client: fake, controllers: ["replicationcontroller"] });
    try {
      const rc: ReplicationController = {
        apiVersion: "v1",
        kind: "ReplicationController",
        metadata: { name: "rc", namespace: "default" },
        spec: {
          replicas: 2,
          selector: { app: "rc" },
          template: { metadata: { labels: { app: "rc" } }, spec: { containers: [{ name: "c" }] } },
        },
      };
      const created = await fake.create(rc);
      assert.ok(created.ok);
      await until(
        () => pods(fake).length === 2 && pods(fake).every((p) => p.metadata.ownerReferences?.length),
        "2 owned pods",
      );
      assert.equal(
        fake.peek<Pod>("Pod", "default", "orphan")?.metadata.ownerReferences?.[0]?.uid,
        created.value.metadata.uid,
      );
      await fake.delete("Pod", "default", "orphan");
      await until(() => pods(fake).length === 2 && !fake.peek("Pod", "default", "orphan"), "replacement");
      await until(
        () => fake.peek<ReplicationController>("ReplicationController", "default", "rc")?.status?.replicas === 2,
        "status",
      );
    } finally {
      await cm.stop();
    }
  });

  it("service with a selector gets EndpointSlices and Endpoints that follow pod readiness", async () => {
    const fake = new FakeClient();
    const cm = startControllers({
      client: fake,
      controllers: ["deployment", "replicaset", "endpointslice", "endpoints"],
    });
    try {
      await fake.create(service("web", { app: "web" }));
      await until(() => fake.all<EndpointSlice>("EndpointSlice").length === 1, "placeholder slice");
      assert.deepEqual(fake.all<EndpointSlice>("EndpointSlice")[0]?.endpoints, []);
      await fake.create(deployment("web", 2));
      await until(() => pods(fake).length === 2, "pods");
      await fakeKubelet(fake, "n1", false);
      const eps = () => fake.all<EndpointSlice>("EndpointSlice").flatMap((s) => s.endpoints ?? []);
      await until(() => eps().length === 2, "2 not-ready endpoints");
      assert.ok(eps().every((e) => e.conditions?.ready === false));
      await until(
        () => (fake.peek<Endpoints>("Endpoints", "default", "web")?.subsets?.[0]?.notReadyAddresses?.length ?? 0) === 2,
        "legacy not ready",
      );
      for (const p of pods(fake))
        await fake.updateStatus<Pod>({
          ...p,
          status: { ...p.status, conditions: [{ type: "Ready", status: "True" }] },
        });
      await until(() => eps().length === 2 && eps().every((e) => e.conditions?.ready === true), "ready endpoints");
      const [slice] = fake.all<EndpointSlice>("EndpointSlice");
      assert.equal(slice?.metadata.labels?.["kubernetes.io/service-name"], "web");
      assert.equal(
        slice?.metadata.labels?.["endpointslice.kubernetes.io/managed-by"],
        "endpointslice-controller.k8s.io",
      );
      assert.deepEqual(slice?.ports, [{ name: "web", port: 8080, protocol: "TCP" }], "named targetPort resolved");
      assert.equal(eps()[0]?.nodeName, "n1");
      assert.equal(eps()[0]?.targetRef?.kind, "Pod");
      await until(
        () => (fake.peek<Endpoints>("Endpoints", "default", "web")?.subsets?.[0]?.addresses?.length ?? 0) === 2,
        "legacy ready",
      );
      assert.deepEqual(fake.peek<Endpoints>("Endpoints", "default", "web")?.subsets?.[0]?.ports, [
        { name: "web", port: 8080, protocol: "TCP" },
      ]);
      await fake.delete("Service", "default", "web");
      await until(() => fake.all("EndpointSlice").length === 0 && !fake.peek("Endpoints", "default", "web"), "cleanup");
    } finally {
      await cm.stop();
    }
  });

  it("a node that stops heartbeating goes Unknown, its pods not Ready, its endpoints not ready", async () => {
    const fake = new FakeClient();
    let now = new Date("2030-01-01T00:00:00Z");
    fake.seed(node("n1", now));
    const cm = startControllers({
      client: fake,
      controllers: ["deployment", "replicaset", "endpointslice", "nodelifecycle"],
      nodeMonitorGracePeriod: 40,
      nodeMonitorPeriod: 0.05,
      now: () => now,
    });
    try {
      await fake.create(service("web", { app: "web" }));
      await fake.create(deployment("web", 2));
      await until(() => pods(fake).length === 2, "pods");
      await fakeKubelet(fake, "n1", true);
      const eps = () => fake.all<EndpointSlice>("EndpointSlice").flatMap((s) => s.endpoints ?? []);
      await until(() => eps().length === 2 && eps().every((e) => e.conditions?.ready), "ready endpoints");
      now = new Date(now.getTime() + 30_000);
      await new Promise((r) => setTimeout(r, 200));
      assert.equal(fake.peek<Node>("Node", undefined, "n1")?.status?.conditions?.[0]?.status, "True", "within grace");
      now = new Date(now.getTime() + 20_000);
      await until(
        () => fake.peek<Node>("Node", undefined, "n1")?.status?.conditions?.[0]?.status === "Unknown",
        "Unknown",
      );
      const n = fake.peek<Node>("Node", undefined, "n1")!;
      assert.equal(n.status?.conditions?.[0]?.reason, "NodeStatusUnknown");
      await until(
        () =>
          n &&
          fake
            .peek<Node>("Node", undefined, "n1")
            ?.spec?.taints?.some((t) => t.key === "node.kubernetes.io/unreachable") === true,
        "taint",
      );
      await until(() => eps().length === 2 && eps().every((e) => e.conditions?.ready === false), "endpoints not ready");
      // After the eviction timeout (300 s) the pods are deleted and their ReplicaSet replaces them.
      const before = new Set(pods(fake).map((p) => p.metadata.name));
      now = new Date(now.getTime() + 299_000);
      await new Promise((r) => setTimeout(r, 200));
      assert.deepEqual(new Set(pods(fake).map((p) => p.metadata.name)), before, "not before the timeout");
      now = new Date(now.getTime() + 2_000);
      await until(() => pods(fake).length === 2 && pods(fake).every((p) => !before.has(p.metadata.name)), "replaced");
      assert.ok(fake.all<Event>("Event").some((e) => e.reason === "TaintManagerEviction"));
    } finally {
      await cm.stop();
    }
  });

  it("node IPAM gives every node a distinct podCIDR from the cluster CIDR", async () => {
    const fake = new FakeClient();
    const t = new Date();
    fake.seed({ ...node("a", t), spec: { podCIDR: "10.244.0.0/24", podCIDRs: ["10.244.0.0/24"] } });
    fake.seed(node("b", t));
    const cm = startControllers({ client: fake, controllers: ["nodeipam"], clusterCIDR: "10.244.0.0/16" });
    try {
      await until(() => !!fake.peek<Node>("Node", undefined, "b")?.spec?.podCIDR, "b allocated");
      await fake.create(node("c", t));
      await until(() => !!fake.peek<Node>("Node", undefined, "c")?.spec?.podCIDR, "c allocated");
      const cidrs = fake.all<Node>("Node").map((n) => n.spec?.podCIDR);
      assert.deepEqual(cidrs, ["10.244.0.0/24", "10.244.1.0/24", "10.244.2.0/24"]);
      assert.deepEqual(fake.peek<Node>("Node", undefined, "c")?.spec?.podCIDRs, ["10.244.2.0/24"]);
    } finally {
      await cm.stop();
    }
  });

  it("a replicaset counts pods available only after minReadySeconds, without needing another event", async () => {
    const fake = new FakeClient();
    const cm = startControllers({ client: fake, controllers: ["replicaset"] });
    try {
      const rs: ReplicaSet = {
        apiVersion: "apps/v1",
        kind: "ReplicaSet",
        metadata: { name: "slow", namespace: "default" },
        spec: {
          replicas: 1,
          minReadySeconds: 1,
          selector: { matchLabels: { app: "slow" } },
          template: { metadata: { labels: { app: "slow" } }, spec: { containers: [{ name: "c" }] } },
        },
      };
      await fake.create(rs);
      await until(() => pods(fake).length === 1, "pod");
      const p = pods(fake)[0]!;
      const readyAt = new Date().toISOString();
      await fake.updateStatus<Pod>({
        ...p,
        status: {
          phase: "Running",
          podIP: "10.244.0.9",
          conditions: [{ type: "Ready", status: "True", lastTransitionTime: readyAt }],
        },
      });
      const st = () => fake.peek<ReplicaSet>("ReplicaSet", "default", "slow")?.status;
      await until(() => st()?.readyReplicas === 1, "ready");
      assert.equal(st()?.availableReplicas, 0, "not yet available");
      await until(() => st()?.availableReplicas === 1, "available after minReadySeconds", 5000);
    } finally {
      await cm.stop();
    }
  });

  it("--controllers selects by name, * and -name, and rejects unknown names", () => {
    assert.deepEqual(selectControllers(["endpoints,deployment"]), ["deployment", "endpoints"]);
    assert.equal(selectControllers(undefined).length, 7);
    assert.ok(!selectControllers(["*", "-nodeipam"]).includes("nodeipam"));
    assert.throws(() => selectControllers(["bogus"]), /unknown controller: bogus/);
  });
});
