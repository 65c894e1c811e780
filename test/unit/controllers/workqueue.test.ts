import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { WorkQueue } from "../../../src/controllers/workqueue.js";

describe("WorkQueue", () => {
  it("de-duplicates keys and never hands one key to two workers at once", async () => {
    const q = new WorkQueue();
    q.add("a");
    q.add("a");
    q.add("b");
    assert.equal(q.len(), 2);
    const k1 = await q.get();
    assert.equal(k1, "a");
    q.add("a"); // while processing: deferred, not handed out
    assert.equal(await q.get(), "b");
    let got: string | undefined = "none";
    void q.get().then((k) => (got = k));
    await new Promise((r) => setImmediate(r));
    assert.equal(got, "none", "a is still being processed");
    q.done("a");
    await new Promise((r) => setImmediate(r));
    assert.equal(got, "a", "re-added after done()");
    q.shutDown();
  });

  it("retries with growing back-off until forgotten; shutDown releases waiters", async () => {
    const q = new WorkQueue(5, 1000);
    q.addRateLimited("k");
    q.addRateLimited("k");
    assert.equal(q.retries("k"), 2);
    const t0 = Date.now();
    assert.equal(await q.get(), "k");
    assert.ok(Date.now() - t0 >= 4);
    q.forget("k");
    assert.equal(q.retries("k"), 0);
    const waiting = q.get();
    q.shutDown();
    assert.equal(await waiting, undefined);
  });
});
