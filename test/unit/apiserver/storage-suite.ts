/**
 * The storage contract, one suite for every backend (sqlite here, etcd in test/integration/apiserver).
 * `open` returns a fresh, empty store; `afterEach` closes it.
 */
import assert from "node:assert/strict";
import { it } from "node:test";
import { CompactedError, type Store, type WatchEvent } from "../../../src/storage/types.js";

function collect(store: Store, prefix: string, after: number) {
  const events: WatchEvent[] = [];
  const errors: Error[] = [];
  const waiters: (() => void)[] = [];
  const h = store.watch(prefix, after, {
    onEvent: (e) => {
      events.push(e);
      for (const w of waiters.splice(0)) w();
    },
    onError: (e) => {
      errors.push(e);
      for (const w of waiters.splice(0)) w();
    },
  });
  const until = async (pred: () => boolean, ms = 10_000) => {
    const deadline = Date.now() + ms;
    while (!pred()) {
      if (Date.now() > deadline)
        throw new Error(`timed out; events: ${JSON.stringify(events.map((e) => [e.type, e.kv.key]))}`);
      await new Promise<void>((r) => {
        waiters.push(r);
        setTimeout(r, 50);
      });
    }
  };
  return { events, errors, until, cancel: () => h.cancel() };
}

export function storageSuite(open: () => Promise<Store>, prefixBase: () => string): void {
  it("create, get, update with CAS, delete; revisions grow", async () => {
    const s = await open();
    const p = prefixBase();
    const c = await s.txn([{ op: "create", key: `${p}a`, value: "1" }]);
    assert.ok(c.ok);
    const got = await s.get(`${p}a`);
    assert.equal(got?.value, "1");
    assert.equal(got?.modRevision, c.revision);
    const dup = await s.txn([{ op: "create", key: `${p}a`, value: "2" }]);
    assert.deepEqual(dup.ok ? "ok" : dup.reason, "exists");
    const stale = await s.txn([{ op: "update", key: `${p}a`, value: "3", expectedRevision: c.revision - 1 }]);
    assert.equal(stale.ok ? "ok" : stale.reason, "conflict");
    const u = await s.txn([{ op: "update", key: `${p}a`, value: "3", expectedRevision: c.revision }]);
    assert.ok(u.ok && u.revision > c.revision);
    assert.equal((await s.get(`${p}a`))?.createRevision, got?.createRevision);
    const missing = await s.txn([{ op: "update", key: `${p}nope`, value: "x" }]);
    assert.equal(missing.ok ? "ok" : missing.reason, "notfound");
    const d = await s.txn([{ op: "delete", key: `${p}a` }]);
    assert.ok(d.ok);
    assert.equal(await s.get(`${p}a`), undefined);
    const again = await s.txn([{ op: "create", key: `${p}a`, value: "4" }]);
    assert.ok(again.ok, "a deleted key can be created again");
  });

  it("a transaction is all or nothing", async () => {
    const s = await open();
    const p = prefixBase();
    await s.txn([{ op: "create", key: `${p}taken`, value: "x" }]);
    const r = await s.txn([
      { op: "create", key: `${p}new`, value: "y" },
      { op: "create", key: `${p}taken`, value: "z" },
    ]);
    assert.equal(r.ok, false);
    if (!r.ok) assert.equal(r.failedIndex, 1);
    assert.equal(await s.get(`${p}new`), undefined, "the first op was rolled back");
    const ok = await s.txn([
      { op: "create", key: `${p}new`, value: "y" },
      { op: "delete", key: `${p}taken` },
      { op: "delete", key: `${p}absent`, ifExists: true },
    ]);
    assert.ok(ok.ok);
  });

  it("lists a prefix in key order with limit/startAfter, and at an older revision", async () => {
    const s = await open();
    const p = prefixBase();
    for (const n of ["c", "a", "b", "d"]) await s.txn([{ op: "create", key: `${p}x/${n}`, value: n }]);
    await s.txn([{ op: "create", key: `${p}y/z`, value: "other prefix" }]);
    const all = await s.list(`${p}x/`);
    assert.deepEqual(
      all.kvs.map((k) => k.value),
      ["a", "b", "c", "d"],
    );
    const page1 = await s.list(`${p}x/`, { limit: 2 });
    assert.deepEqual(
      page1.kvs.map((k) => k.value),
      ["a", "b"],
    );
    assert.equal(page1.more, true);
    await s.txn([{ op: "delete", key: `${p}x/c` }]);
    await s.txn([{ op: "create", key: `${p}x/bb`, value: "bb" }]);
    const page2 = await s.list(`${p}x/`, { startAfter: page1.kvs[1]?.key, limit: 5, revision: page1.revision });
    assert.deepEqual(
      page2.kvs.map((k) => k.value),
      ["c", "d"],
      "the continuation reads the state of the first page's revision",
    );
    assert.equal(page2.more, false);
    const now = await s.list(`${p}x/`);
    assert.deepEqual(
      now.kvs.map((k) => k.value),
      ["a", "b", "bb", "d"],
    );
  });

  it("watch replays history after a revision, then streams live events with previous values", async () => {
    const s = await open();
    const p = prefixBase();
    const r1 = await s.txn([{ op: "create", key: `${p}w/a`, value: "1" }]);
    assert.ok(r1.ok);
    await s.txn([{ op: "update", key: `${p}w/a`, value: "2" }]);
    const w = collect(s, `${p}w/`, r1.revision);
    try {
      await s.txn([{ op: "create", key: `${p}other`, value: "not watched" }]);
      await s.txn([{ op: "delete", key: `${p}w/a` }]);
      await s.txn([{ op: "create", key: `${p}w/b`, value: "3" }]);
      await w.until(() => w.events.length >= 3);
      assert.deepEqual(
        w.events.map((e) => [e.type, e.kv.key, e.kv.value]),
        [
          ["put", `${p}w/a`, "2"],
          ["delete", `${p}w/a`, "2"],
          ["put", `${p}w/b`, "3"],
        ],
      );
      assert.equal(w.events[0]?.prevKv?.value, "1");
      const revs = w.events.map((e) => e.kv.modRevision);
      assert.deepEqual(
        revs,
        [...revs].sort((a, b) => a - b),
        "events arrive in revision order",
      );
    } finally {
      w.cancel();
    }
  });

  it("compaction drops old history: watching or listing below it fails with CompactedError", async () => {
    const s = await open();
    const p = prefixBase();
    const first = await s.txn([{ op: "create", key: `${p}k`, value: "0" }]);
    assert.ok(first.ok);
    for (let i = 1; i <= 5; i++) await s.txn([{ op: "update", key: `${p}k`, value: String(i) }]);
    const rev = await s.currentRevision();
    await s.compact(rev - 1);
    assert.equal(await s.compactedRevision(), rev - 1);
    assert.equal((await s.get(`${p}k`))?.value, "5", "live keys survive compaction");
    await assert.rejects(s.list(p, { revision: first.revision }), CompactedError);
    const w = collect(s, p, first.revision);
    try {
      await w.until(() => w.errors.length > 0);
      assert.ok(w.errors[0] instanceof CompactedError);
    } finally {
      w.cancel();
    }
    const ok = collect(s, p, rev);
    try {
      await s.txn([{ op: "update", key: `${p}k`, value: "6" }]);
      await ok.until(() => ok.events.length > 0);
      assert.equal(ok.events[0]?.kv.value, "6");
    } finally {
      ok.cancel();
    }
  });

  it("concurrent CAS writers: exactly one wins each round", async () => {
    const s = await open();
    const p = prefixBase();
    await s.txn([{ op: "create", key: `${p}cas`, value: "0" }]);
    for (let round = 0; round < 5; round++) {
      const cur = await s.get(`${p}cas`);
      const results = await Promise.all(
        [1, 2, 3].map((w) =>
          s.txn([{ op: "update", key: `${p}cas`, value: `${round}-${w}`, expectedRevision: cur?.modRevision }]),
        ),
      );
      assert.equal(results.filter((r) => r.ok).length, 1);
    }
  });
}
