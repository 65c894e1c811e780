import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Event, Pod } from "../../../src/api/index.js";
import { eventRecorder, FakeClient } from "../../../src/client/index.js";

const until = async (f: () => boolean) => {
  for (let i = 0; i < 200 && !f(); i++) await new Promise((r) => setTimeout(r, 5));
};

describe("EventRecorder", () => {
  it("writes an Event about the object and counts repeats on the same Event", async () => {
    const fake = new FakeClient();
    const pod = fake.seed<Pod>({
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: "web-1", namespace: "ns1" },
      spec: { containers: [{ name: "c" }] },
    });
    const rec = eventRecorder(fake, "test-component", { now: () => new Date("2030-01-01T00:00:00Z") });
    rec.record(pod, "Warning", "FailedScheduling", "0/1 nodes are available: 1 Insufficient cpu.");
    await until(() => fake.all("Event").length === 1);
    rec.record(pod, "Warning", "FailedScheduling", "0/1 nodes are available: 1 Insufficient cpu.");
    rec.record(pod, "Normal", "Scheduled", "Successfully assigned ns1/web-1 to n1");
    await until(() => fake.all("Event").length === 2 && fake.all<Event>("Event").some((e) => e.count === 2));
    const evs = fake.all<Event>("Event");
    const failed = evs.find((e) => e.reason === "FailedScheduling")!;
    assert.equal(failed.count, 2);
    assert.equal(failed.type, "Warning");
    assert.equal(failed.metadata.namespace, "ns1");
    assert.deepEqual(
      { kind: failed.involvedObject.kind, name: failed.involvedObject.name, uid: failed.involvedObject.uid },
      { kind: "Pod", name: "web-1", uid: pod.metadata.uid },
    );
    assert.equal(failed.source?.component, "test-component");
    assert.equal(failed.firstTimestamp, "2030-01-01T00:00:00Z");
    assert.ok(evs.some((e) => e.reason === "Scheduled" && e.count === 1));
  });
});
