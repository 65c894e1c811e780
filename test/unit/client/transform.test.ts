import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { ConfigMap, KubeObject } from "../../../src/api/index.js";
import {
  ApiInformer,
  ApiSource,
  type ChangeEvent,
  FakeClient,
  FileSource,
  informerKey,
  type TransformFunc,
  waitForSync,
} from "../../../src/client/index.js";

async function until(cond: () => boolean, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const cm = (name: string, data: Record<string, string>, annotations?: Record<string, string>): ConfigMap => ({
  apiVersion: "v1",
  kind: "ConfigMap",
  metadata: { name, namespace: "default", ...(annotations ? { annotations } : {}) },
  data,
});

/** Keeps name, namespace and data.keep only: like a consumer that reads one field. */
const keepOnly: TransformFunc = (o) => {
  const c = o as ConfigMap;
  return {
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: { name: c.metadata.name, namespace: c.metadata.namespace },
    data: { keep: c.data?.keep ?? "" },
  } as ConfigMap;
};

const fmt = (e: ChangeEvent<KubeObject>) =>
  `${e.type} ${e.obj.metadata.name} ${JSON.stringify((e.obj as ConfigMap).data)}${e.obj.metadata.annotations ? " annotated" : ""}`;

describe("informer transform hook (client-go SetTransform)", () => {
  it("ApiInformer: caches and delivers transformed objects; updates of dropped fields raise no event", async () => {
    const fake = new FakeClient({ objects: [cm("a", { keep: "1", drop: "x" }, { big: "y" })] });
    const inf = new ApiInformer<ConfigMap>(fake, "ConfigMap", { backoffInitialMs: 5, transform: keepOnly });
    const seen: string[] = [];
    inf.onChange((e) => seen.push(fmt(e)));
    await waitForSync([inf], 2000);
    await until(() => fake.watcherCount() === 1, "watch");
    const a = () => fake.peek<ConfigMap>("ConfigMap", "default", "a") as ConfigMap;
    await fake.update({ ...a(), data: { keep: "1", drop: "changed" } }); // only a dropped field changes
    await fake.update({ ...a(), data: { keep: "2", drop: "changed" } });
    await fake.create(cm("b", { keep: "3", drop: "z" }));
    await fake.delete("ConfigMap", "default", "a");
    await until(() => seen.length === 4, "4 events");
    assert.deepEqual(seen, [
      'add a {"keep":"1"}',
      'update a {"keep":"2"}',
      'add b {"keep":"3"}',
      'delete a {"keep":"2"}',
    ]);
    assert.deepEqual(inf.get("default", "b"), keepOnly(cm("b", { keep: "3", drop: "z" })));
    assert.equal(inf.get("default", "b")?.metadata.resourceVersion, undefined);
    inf.stop();
    await inf.done;
  });

  it("watch and relist (410) compare transformed objects: only changes of kept fields are events", async () => {
    const fake = new FakeClient({ objects: [cm("a", { keep: "1" }), cm("b", { keep: "1" })] });
    const inf = new ApiInformer<ConfigMap>(fake, "ConfigMap", { backoffInitialMs: 5, transform: keepOnly });
    const seen: string[] = [];
    await waitForSync([inf], 2000);
    inf.onChange((e) => seen.push(fmt(e)));
    seen.length = 0; // drop the replayed adds
    await until(() => fake.watcherCount() === 1, "watch");
    fake.closeWatches();
    const b = fake.peek<ConfigMap>("ConfigMap", "default", "b") as ConfigMap;
    await fake.update({ ...b, data: { keep: "1", drop: "new" } });
    await fake.update({ ...(fake.peek<ConfigMap>("ConfigMap", "default", "a") as ConfigMap), data: { keep: "9" } });
    fake.expireWatches();
    await until(() => inf.stats.lists >= 2 && seen.length >= 1, "relist");
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(seen, ['update a {"keep":"9"}']);
    inf.stop();
    await inf.done;
  });

  it("a transform that throws keeps the object whole and logs; the informer keeps working", async () => {
    const warnings: string[] = [];
    const boom: TransformFunc = (o) => {
      if (o.metadata.name === "bad") throw new Error("boom");
      return keepOnly(o);
    };
    const fake = new FakeClient({ objects: [cm("bad", { keep: "1", drop: "x" }), cm("ok", { keep: "2", drop: "y" })] });
    const inf = new ApiInformer<ConfigMap>(fake, "ConfigMap", {
      transform: boom,
      log: { warn: (_o, m) => warnings.push(m ?? "") },
    });
    await waitForSync([inf], 2000);
    assert.deepEqual(inf.get("default", "bad")?.data, { keep: "1", drop: "x" });
    assert.deepEqual(inf.get("default", "ok")?.data, { keep: "2" });
    assert.ok(warnings.some((w) => w.includes("transform")));
    inf.stop();
    await inf.done;
  });

  it("sources share informers per transform identity; without a transform nothing changes", async () => {
    const fake = new FakeClient({ objects: [cm("a", { keep: "1", drop: "x" })] });
    const src = new ApiSource(fake);
    try {
      const plain = src.informer<ConfigMap>("ConfigMap");
      const stripped = src.informer<ConfigMap>("ConfigMap", { transform: keepOnly });
      assert.notEqual(plain, stripped);
      assert.equal(src.informer("ConfigMap", { transform: keepOnly }), stripped);
      assert.equal(src.informer("ConfigMap", {}), plain);
      await waitForSync([plain, stripped], 2000);
      assert.deepEqual(plain.get("default", "a")?.data, { keep: "1", drop: "x" });
      assert.ok(plain.get("default", "a")?.metadata.resourceVersion);
      assert.deepEqual(stripped.get("default", "a")?.data, { keep: "1" });
    } finally {
      src.stop();
    }
    assert.equal(informerKey("Pod"), informerKey("Pod", { transform: undefined }));
    assert.notEqual(informerKey("Pod", { transform: keepOnly }), informerKey("Pod", { transform: (o) => o }));
  });

  describe("FileSource", () => {
    let dir: string;
    before(() => {
      dir = mkdtempSync(join(tmpdir(), "podwire-tf-"));
    });
    after(() => rmSync(dir, { recursive: true, force: true }));

    it("applies the transform on load and reload; retainObjects:false drops the parsed files", () => {
      const f = join(dir, "cm.json");
      const write = (items: ConfigMap[]) => writeFileSync(f, JSON.stringify({ apiVersion: "v1", kind: "List", items }));
      write([cm("a", { keep: "1", drop: "x" })]);
      const src = new FileSource([f], { pollIntervalMs: 0, noWatch: true, retainObjects: false });
      try {
        const inf = src.informer<ConfigMap>("ConfigMap", { transform: keepOnly });
        const seen: string[] = [];
        inf.onChange((e) => seen.push(fmt(e)));
        write([cm("a", { keep: "1", drop: "changed" }), cm("b", { keep: "2" })]);
        assert.equal(src.reload(), true);
        assert.deepEqual(seen, ['add a {"keep":"1"}', 'add b {"keep":"2"}']);
        assert.deepEqual(
          src.all().map((o) => o.metadata.name),
          ["a", "b"],
          "all() reads the files again when they were not retained",
        );
        assert.deepEqual(inf.get("default", "a")?.data, { keep: "1" });
      } finally {
        src.stop();
      }
    });
  });
});
