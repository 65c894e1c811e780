import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { ConfigMap } from "../../../src/api/index.js";
import {
  ApiError,
  ApiInformer,
  type ChangeEvent,
  FakeClient,
  makeStatus,
  waitForSync,
} from "../../../src/client/index.js";

const cm = (name: string, v = "1", ns = "default"): ConfigMap => ({
  apiVersion: "v1",
  kind: "ConfigMap",
  metadata: { name, namespace: ns, labels: { app: "x" } },
  data: { v },
});

async function until(cond: () => boolean, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const fmt = (e: ChangeEvent<ConfigMap>) => `${e.type} ${e.obj.metadata.name}${e.obj.data?.v ? `=${e.obj.data.v}` : ""}`;

describe("ApiInformer (list+watch against the in-memory fake)", () => {
  it("lists, then follows watch events in order; the cache reflects them", async () => {
    const fake = new FakeClient({ objects: [cm("a"), cm("b")] });
    const inf = new ApiInformer<ConfigMap>(fake, "ConfigMap", { backoffInitialMs: 5 });
    const seen: string[] = [];
    inf.onChange((e) => seen.push(fmt(e)));
    await waitForSync([inf], 2000);
    await fake.create(cm("c"));
    await fake.update({ ...fake.peek<ConfigMap>("ConfigMap", "default", "a")!, data: { v: "2" } });
    await fake.delete("ConfigMap", "default", "b");
    await until(() => seen.length === 5, "5 events");
    assert.deepEqual(seen, ["add a=1", "add b=1", "add c=1", "update a=2", "delete b=1"]);
    assert.deepEqual(
      inf
        .list()
        .map((o) => o.metadata.name)
        .sort(),
      ["a", "c"],
    );
    assert.equal(inf.get("default", "a")?.data?.v, "2");
    inf.stop();
    await inf.done;
  });

  it("re-watches from the last RV when the server closes the stream, without relisting", async () => {
    const fake = new FakeClient({ objects: [cm("a")] });
    const inf = new ApiInformer<ConfigMap>(fake, "ConfigMap", { backoffInitialMs: 5 });
    await inf.synced;
    await until(() => fake.watcherCount() === 1, "watch");
    fake.closeWatches();
    await fake.create(cm("b")); // written while no watch is open: must come from history
    await until(() => inf.list().length === 2, "b");
    assert.equal(inf.stats.lists, 1);
    assert.ok(inf.stats.watches >= 2);
    const watches = fake.actions.filter((a) => a.verb === "watch").length;
    assert.ok(watches >= 2);
    inf.stop();
  });

  it("relists on 410 Gone and emits deletes for objects that vanished meanwhile", async () => {
    const fake = new FakeClient({ objects: [cm("a"), cm("b")] });
    const inf = new ApiInformer<ConfigMap>(fake, "ConfigMap", { backoffInitialMs: 5 });
    const seen: string[] = [];
    await inf.synced;
    await until(() => fake.watcherCount() === 1, "watch");
    // Block the next watch until we have changed things, so the changes are only visible through a relist.
    let block = true;
    fake.failWith = (a) => (a.verb === "watch" && block ? new ApiError(makeStatus(410, "Expired", "gone")) : undefined);
    fake.expireWatches();
    inf.onChange((e) => seen.push(fmt(e)));
    seen.length = 0; // drop the replayed adds
    await fake.delete("ConfigMap", "default", "a");
    await fake.create(cm("c"));
    block = false;
    await until(() => seen.length >= 2, "relist diff");
    assert.deepEqual(seen.sort(), ["add c=1", "delete a=1"]);
    assert.ok(inf.stats.lists >= 2);
    inf.stop();
  });

  it("backs off and relists after other failures, and reports them", async () => {
    const fake = new FakeClient({ objects: [cm("a")] });
    let failures = 3;
    fake.failWith = (a) =>
      a.verb === "list" && failures-- > 0 ? new ApiError(makeStatus(500, "InternalError", "boom")) : undefined;
    const errors: number[] = [];
    const inf = new ApiInformer<ConfigMap>(fake, "ConfigMap", {
      backoffInitialMs: 5,
      onError: (e) => errors.push(e.code),
    });
    await waitForSync([inf], 3000);
    assert.deepEqual(errors, [500, 500, 500]);
    assert.equal(inf.list().length, 1);
    inf.stop();
  });

  it("filters by label and field selector on list and watch", async () => {
    const fake = new FakeClient({ objects: [cm("a"), { ...cm("b"), metadata: { name: "b", namespace: "default" } }] });
    const inf = new ApiInformer<ConfigMap>(fake, "ConfigMap", {
      labelSelector: "app=x",
      fieldSelector: "metadata.name!=z",
    });
    await inf.synced;
    assert.deepEqual(
      inf.list().map((o) => o.metadata.name),
      ["a"],
    );
    await fake.create(cm("z"));
    await fake.create(cm("y"));
    await until(() => inf.list().length === 2, "y");
    assert.deepEqual(
      inf
        .list()
        .map((o) => o.metadata.name)
        .sort(),
      ["a", "y"],
    );
    inf.stop();
  });

  it("a handler added late gets the cache replayed as adds; stop() ends the loop", async () => {
    const fake = new FakeClient({ objects: [cm("a"), cm("b", "1", "other")] });
    const inf = new ApiInformer<ConfigMap>(fake, "ConfigMap");
    await inf.synced;
    const adds: string[] = [];
    inf.addHandler({ onAdd: (o) => adds.push(o.metadata.name!) });
    assert.deepEqual(adds.sort(), ["a", "b"]);
    assert.deepEqual(
      inf.list("other").map((o) => o.metadata.name),
      ["b"],
    );
    inf.stop();
    await inf.done;
    await until(() => fake.watcherCount() === 0, "watch closed");
  });
});
