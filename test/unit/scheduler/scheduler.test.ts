import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Event, Node, Pod } from "../../../src/api/index.js";
import { FakeClient } from "../../../src/client/index.js";
import { startScheduler } from "../../../src/scheduler/index.js";
import { until } from "../controllers/support.js";

const node = (name: string, cpu = "2"): Node => ({
  apiVersion: "v1",
  kind: "Node",
  metadata: { name },
  spec: {},
  status: { allocatable: { cpu, memory: "8Gi", pods: "110" }, conditions: [{ type: "Ready", status: "True" }] },
});
const pod = (name: string, cpu: string): Pod => ({
  apiVersion: "v1",
  kind: "Pod",
  metadata: { name, namespace: "default" },
  spec: { containers: [{ name: "c", resources: { requests: { cpu } } }] },
});

describe("scheduler loop (in-memory apiserver)", () => {
  it("binds pods without overcommitting, marks the rest unschedulable, and schedules them when a node appears", async () => {
    const fake = new FakeClient({ objects: [node("n1"), node("n2")] });
    const s = startScheduler({ client: fake, backoffInitialMs: 20, backoffMaxMs: 200 });
    try {
      for (let i = 0; i < 5; i++) await fake.create(pod(`p${i}`, "900m"));
      // 2 nodes × 2 cpu fit 4 pods of 0.9 cpu; the fifth waits.
      await until(() => fake.all<Pod>("Pod").filter((p) => p.spec.nodeName).length === 4, "4 bound");
      await until(
        () =>
          fake
            .all<Pod>("Pod")
            .some((p) => p.status?.conditions?.some((c) => c.type === "PodScheduled" && c.status === "False")),
        "unschedulable condition",
      );
      const waiting = fake.all<Pod>("Pod").find((p) => !p.spec.nodeName)!;
      const cond = waiting.status?.conditions?.find((c) => c.type === "PodScheduled");
      assert.equal(cond?.reason, "Unschedulable");
      assert.equal(cond?.message, "0/2 nodes are available: 2 Insufficient cpu.");
      const perNode = new Map<string, number>();
      for (const p of fake.all<Pod>("Pod"))
        if (p.spec.nodeName) perNode.set(p.spec.nodeName, (perNode.get(p.spec.nodeName) ?? 0) + 1);
      assert.deepEqual([...perNode.values()], [2, 2]);
      await fake.create(node("n3"));
      await until(() => fake.all<Pod>("Pod").every((p) => p.spec.nodeName), "all bound after a node joins");
      assert.equal(fake.peek<Pod>("Pod", "default", waiting.metadata.name!)?.spec.nodeName, "n3");
      const bindings = fake.actions.filter((a) => a.verb === "createSubresource" && a.subresource === "binding");
      assert.equal(bindings.length, 5, "one binding per pod");
      const reasons = fake.all<Event>("Event").map((e) => e.reason);
      assert.equal(reasons.filter((r) => r === "Scheduled").length, 5);
      assert.ok(reasons.includes("FailedScheduling"));
    } finally {
      await s.stop();
    }
  });

  it("leaves pods for another scheduler alone", async () => {
    const fake = new FakeClient({ objects: [node("n1")] });
    const s = startScheduler({ client: fake });
    try {
      await fake.create({ ...pod("other", "100m"), spec: { ...pod("x", "1").spec, schedulerName: "custom" } });
      await fake.create(pod("mine", "100m"));
      await until(() => !!fake.peek<Pod>("Pod", "default", "mine")?.spec.nodeName, "mine bound");
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(fake.peek<Pod>("Pod", "default", "other")?.spec.nodeName, undefined);
    } finally {
      await s.stop();
    }
  });
});
