import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { RoundRobinBalancer } from "../../../proxier/userspace/loadbalancer.js";

function clock() {
  let t = 1_000_000;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

describe("RoundRobinBalancer", () => {
  it("returns null for unknown services and services without endpoints", () => {
    const lb = new RoundRobinBalancer();
    assert.equal(lb.next("x", null), null);
    lb.setService("x", [], 0);
    assert.equal(lb.next("x", "1.1.1.1"), null);
  });

  it("cycles through every endpoint once per round", () => {
    const lb = new RoundRobinBalancer();
    lb.setService("s", ["a:1", "b:1", "c:1"], 0);
    const round1 = [lb.next("s", null), lb.next("s", null), lb.next("s", null)];
    const round2 = [lb.next("s", null), lb.next("s", null), lb.next("s", null)];
    assert.deepEqual([...round1].sort(), ["a:1", "b:1", "c:1"]);
    assert.deepEqual(round2, round1);
  });

  it("reshuffles and restarts only when the endpoint set changes", () => {
    let calls = 0;
    const lb = new RoundRobinBalancer({
      random: () => {
        calls++;
        return 0;
      },
    });
    lb.setService("s", ["a:1", "b:1"], 0);
    const before = calls;
    lb.setService("s", ["b:1", "a:1"], 0); // same set, other order
    assert.equal(calls, before);
    lb.setService("s", ["a:1", "b:1", "c:1"], 0);
    assert.ok(calls > before);
  });

  it("keeps a client on its endpoint within the affinity timeout, measured from last use", () => {
    const c = clock();
    const lb = new RoundRobinBalancer({ now: c.now });
    lb.setService("s", ["a:1", "b:1", "c:1"], 10);
    const first = lb.next("s", "10.0.0.1");
    for (let i = 0; i < 5; i++) {
      c.advance(9_000);
      assert.equal(lb.next("s", "10.0.0.1"), first);
    }
    // Another client still gets round robin.
    assert.notEqual(lb.next("s", "10.0.0.2"), first);
    c.advance(10_000);
    const after = lb.next("s", "10.0.0.1");
    assert.notEqual(after, null);
    // After expiry the client was assigned by round robin and sticks to that choice.
    assert.equal(lb.next("s", "10.0.0.1"), after);
  });

  it("ignores affinity after a failed dial and records the new choice", () => {
    const lb = new RoundRobinBalancer();
    lb.setService("s", ["a:1", "b:1"], 100);
    const first = lb.next("s", "10.0.0.1");
    const retry = lb.next("s", "10.0.0.1", true);
    assert.notEqual(retry, first);
    assert.equal(lb.next("s", "10.0.0.1"), retry);
  });

  it("drops affinity to removed endpoints and cleans stale sessions", () => {
    const c = clock();
    const lb = new RoundRobinBalancer({ now: c.now });
    lb.setService("s", ["a:1", "b:1"], 5);
    const ep = lb.next("s", "10.0.0.1")!;
    lb.setService(
      "s",
      ["a:1", "b:1"].filter((e) => e !== ep),
      5,
    );
    assert.equal(lb.affinityCount("s"), 0);
    assert.notEqual(lb.next("s", "10.0.0.1"), ep);
    assert.equal(lb.affinityCount("s"), 1);
    c.advance(5_000);
    assert.equal(lb.cleanupStaleSessions(), 1);
    assert.equal(lb.affinityCount("s"), 0);
  });
});
