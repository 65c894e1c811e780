import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { DiskStore, LockTimeoutError } from "../../../cni/ipam/store.js";

const root = mkdtempSync(join(tmpdir(), "pw-store-lock-"));
after(() => rmSync(root, { recursive: true, force: true }));

function storeWithLock(name: string, content: string, ageS: number): { store: DiskStore; pidFile: string } {
  const store = new DiskStore(name, root);
  const dir = join(root, name);
  store.withLock(() => undefined); // creates the directory and the lock file
  const pidFile = join(dir, "lock.pid");
  writeFileSync(pidFile, content);
  const t = Date.now() / 1000 - ageS;
  utimesSync(pidFile, t, t);
  return { store, pidFile };
}

describe("DiskStore lock", () => {
  it("takes over an empty lock.pid left by a taker killed before it wrote its pid", () => {
    const { store, pidFile } = storeWithLock("empty-old", "", 5);
    assert.equal(
      store.withLock(() => "ran", 3000),
      "ran",
    );
    assert.ok(!existsSync(pidFile), "the lock is released afterwards");
  });

  it("waits on a fresh empty lock.pid (its taker may be writing its pid right now)", () => {
    const { store } = storeWithLock("empty-fresh", "", 0);
    assert.throws(() => store.withLock(() => "ran", 200), LockTimeoutError);
  });

  it("takes over the lock of a dead pid and waits on a live one", () => {
    const dead = storeWithLock("dead", "2147483646", 0);
    assert.equal(
      dead.store.withLock(() => "ran", 3000),
      "ran",
    );
    const live = storeWithLock("live", String(process.ppid), 5);
    assert.throws(() => live.store.withLock(() => "ran", 200), LockTimeoutError);
  });
});
