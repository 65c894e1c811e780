import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import type { ConfigMap } from "../../../src/api/index.js";
import { canonicalJson, diffObjects, objectKey } from "../../../src/client/index.js";
import { runs } from "../../support/runs.js";

const cmArb = fc.record({
  ns: fc.constantFrom("default", "kube-system"),
  name: fc.constantFrom("a", "b", "c", "d", "e", "f"),
  v: fc.constantFrom("1", "2", "3"),
  // An apiserver gives a changed object a new RV; objects files have none.
  withRV: fc.boolean(),
});
const toCm = (x: { ns: string; name: string; v: string; withRV: boolean }): ConfigMap => ({
  apiVersion: "v1",
  kind: "ConfigMap",
  metadata: { name: x.name, namespace: x.ns, resourceVersion: x.withRV ? `${x.name}-${x.v}` : undefined },
  data: { v: x.v },
});
const uniq = (xs: ConfigMap[]) => [...new Map(xs.map((o) => [objectKey(o), o])).values()];

describe("diffObjects (informer relist and file reload)", () => {
  it("applying the diff to the old cache yields exactly the new list, with no event for unchanged objects", () => {
    fc.assert(
      fc.property(fc.array(cmArb, { maxLength: 12 }), fc.array(cmArb, { maxLength: 12 }), (a, b) => {
        const old = new Map(uniq(a.map(toCm)).map((o) => [objectKey(o), o]));
        const next = uniq(b.map(toCm));
        const events = diffObjects(old, next);
        const cache = new Map(old);
        for (const e of events) {
          if (e.type === "delete") {
            assert.ok(cache.has(objectKey(e.obj)));
            cache.delete(objectKey(e.obj));
          } else if (e.type === "add") {
            assert.ok(!cache.has(objectKey(e.obj)));
            cache.set(objectKey(e.obj), e.obj);
          } else {
            assert.equal(cache.get(objectKey(e.old)), e.old);
            cache.set(objectKey(e.obj), e.obj);
          }
        }
        assert.deepEqual([...cache.values()].map(canonicalJson).sort(), next.map(canonicalJson).sort());
        for (const e of events) {
          if (e.type !== "update") continue;
          const sameRV =
            e.old.metadata.resourceVersion && e.old.metadata.resourceVersion === e.obj.metadata.resourceVersion;
          assert.ok(!sameRV, "equal RVs are unchanged objects");
          if (!e.old.metadata.resourceVersion || !e.obj.metadata.resourceVersion)
            assert.notEqual(canonicalJson(e.old), canonicalJson(e.obj));
        }
      }),
      { numRuns: runs(2000, 300) },
    );
  });
});
