import assert from "node:assert/strict";
import { mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { Pod, Service } from "../../../src/api/index.js";
import { type ChangeEvent, FileSource } from "../../../src/client/index.js";
import { ObjectsFileError } from "../../../src/objects/load.js";

async function until(cond: () => boolean, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const svcYaml = (name: string, port: number) => `apiVersion: v1
kind: Service
metadata: {name: ${name}, namespace: default}
spec: {ports: [{port: ${port}}], selector: {app: ${name}}}
`;
const podYaml = (name: string, node: string) => `apiVersion: v1
kind: Pod
metadata: {name: ${name}, namespace: default, labels: {app: web}}
spec: {nodeName: ${node}, containers: [{name: c}]}
`;

describe("FileSource (--objects files as informers)", () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "podwire-fs-"));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("serves each kind from multi-doc files, filtered by selectors", () => {
    const f = join(dir, "a.yaml");
    writeFileSync(f, [svcYaml("web", 80), podYaml("p1", "n1"), podYaml("p2", "n2")].join("---\n"));
    const src = new FileSource([f], { pollIntervalMs: 0, noWatch: true });
    try {
      const svcs = src.informer<Service>("Service");
      assert.ok(svcs.hasSynced());
      assert.deepEqual(
        svcs.list().map((s) => s.metadata.name),
        ["web"],
      );
      const mine = src.informer<Pod>("Pod", { fieldSelector: "spec.nodeName=n2" });
      assert.deepEqual(
        mine.list().map((p) => p.metadata.name),
        ["p2"],
      );
      assert.equal(src.informer<Pod>("Pod", { labelSelector: "app=other" }).list().length, 0);
      assert.equal(src.informer("Service"), svcs, "informers are shared per kind+options");
    } finally {
      src.stop();
    }
  });

  it("turns a changed file into add/update/delete events (fs.watch, file replaced by rename)", async () => {
    const f = join(dir, "b.yaml");
    writeFileSync(f, [svcYaml("a", 80), svcYaml("b", 80)].join("---\n"));
    const src = new FileSource([f], { pollIntervalMs: 0 });
    try {
      const seen: string[] = [];
      src
        .informer<Service>("Service")
        .onChange((e: ChangeEvent<Service>) => seen.push(`${e.type} ${e.obj.metadata.name}`));
      seen.length = 0;
      writeFileSync(`${f}.tmp`, [svcYaml("a", 81), svcYaml("c", 80)].join("---\n"));
      renameSync(`${f}.tmp`, f);
      await until(() => seen.length >= 3, "3 events");
      assert.deepEqual(seen.sort(), ["add c", "delete b", "update a"]);
    } finally {
      src.stop();
    }
  });

  it("polling alone notices changes; a broken file keeps the last good objects", async () => {
    const f = join(dir, "c.yaml");
    writeFileSync(f, svcYaml("a", 80));
    const errors: Error[] = [];
    const src = new FileSource([f], { pollIntervalMs: 30, noWatch: true, onReloadError: (e) => errors.push(e) });
    try {
      const inf = src.informer<Service>("Service");
      writeFileSync(f, "kind: Service\nmetadata: {}\n: : bad");
      await until(() => errors.length > 0, "reload error");
      assert.ok(errors[0] instanceof ObjectsFileError);
      assert.deepEqual(
        inf.list().map((s) => s.metadata.name),
        ["a"],
      );
      writeFileSync(f, svcYaml("z", 80));
      await until(() => inf.get("default", "z") !== undefined, "z after fix");
      assert.equal(inf.list().length, 1);
    } finally {
      src.stop();
    }
  });

  it("throws ObjectsFileError when the first load fails", () => {
    assert.throws(() => new FileSource([join(dir, "missing.yaml")]), ObjectsFileError);
  });
});
