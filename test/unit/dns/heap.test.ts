import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { compactHeap } from "../../../dns/server/heap.js";

describe("heap compaction after the first sync (dns/server/heap.ts)", () => {
  it("collects garbage a large load left behind, without node --expose-gc", () => {
    assert.equal(typeof (globalThis as { gc?: unknown }).gc, "undefined", "the test must run without --expose-gc");
    let junk: { a: string; b: number[] }[] | undefined = Array.from({ length: 200_000 }, (_, i) => ({
      a: `item-${i}`,
      b: [i, i + 1],
    }));
    const kept = junk.filter((_, i) => i % 1000 === 0);
    const before = process.memoryUsage().heapUsed;
    junk = undefined;
    const ms = compactHeap();
    const after = process.memoryUsage().heapUsed;
    assert.ok(ms >= 0);
    assert.equal(kept.length, 200);
    assert.ok(after < before - 10 * 2 ** 20, `heapUsed ${before} -> ${after}: the dropped objects were not collected`);
    assert.equal(typeof (globalThis as { gc?: unknown }).gc, "undefined", "gc() is not left on the global object");
  });
});
