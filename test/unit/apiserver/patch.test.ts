// biome-ignore-all lint/suspicious/noExplicitAny: patched results are schemaless JSON
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ApiError } from "../../../src/apiserver/errors.js";
import { jsonPatch, mergePatch, strategicMergePatch } from "../../../src/apiserver/patch.js";

describe("JSON merge patch", () => {
  it("merges objects, deletes with null, replaces lists", () => {
    assert.deepEqual(mergePatch({ a: { b: 1, c: 2 }, l: [1, 2] }, { a: { b: null, d: 3 }, l: [3] }), {
      a: { c: 2, d: 3 },
      l: [3],
    });
  });
});

describe("JSON patch", () => {
  it("applies add/replace/remove/move/copy/test in order", () => {
    const out = jsonPatch({ a: [1, 2], b: { c: 1 } }, [
      { op: "add", path: "/a/1", value: 9 },
      { op: "replace", path: "/b/c", value: 2 },
      { op: "copy", from: "/b", path: "/d" },
      { op: "move", from: "/a/0", path: "/e" },
      { op: "remove", path: "/b" },
      { op: "test", path: "/d/c", value: 2 },
    ]);
    assert.deepEqual(out, { a: [9, 2], d: { c: 2 }, e: 1 });
  });
  it("a failing test or a missing path is an API error, the input untouched", () => {
    const doc = { a: 1 };
    assert.throws(() => jsonPatch(doc, [{ op: "test", path: "/a", value: 2 }]), ApiError);
    assert.throws(() => jsonPatch(doc, [{ op: "remove", path: "/nope" }]), ApiError);
    assert.deepEqual(doc, { a: 1 });
  });
});

describe("strategic merge patch", () => {
  const svc = {
    spec: {
      ports: [
        { port: 80, targetPort: 8080, protocol: "TCP" },
        { port: 443, protocol: "TCP" },
      ],
      selector: { app: "x" },
    },
  };

  it("kubectl apply's port change: $patch delete + $setElementOrder by merge key `port`", () => {
    const out = strategicMergePatch("Service", svc, {
      spec: {
        "$setElementOrder/ports": [{ port: 443 }, { port: 81 }],
        ports: [
          { port: 81, targetPort: 8080 },
          { $patch: "delete", port: 80 },
        ],
      },
    }) as typeof svc;
    assert.deepEqual(out.spec.ports, [
      { port: 443, protocol: "TCP" },
      { port: 81, targetPort: 8080 },
    ]);
  });

  it("kubectl set image: containers merge by name, other fields kept", () => {
    const dep = {
      spec: {
        template: {
          spec: {
            containers: [
              { name: "a", image: "a:1", ports: [{ containerPort: 80 }] },
              { name: "b", image: "b:1" },
            ],
          },
        },
      },
    };
    const out = strategicMergePatch("Deployment", dep, {
      spec: {
        template: {
          spec: {
            "$setElementOrder/containers": [{ name: "a" }, { name: "b" }],
            containers: [{ image: "a:2", name: "a" }],
          },
        },
      },
    }) as typeof dep;
    assert.deepEqual(out.spec.template.spec.containers, [
      { name: "a", image: "a:2", ports: [{ containerPort: 80 }] },
      { name: "b", image: "b:1" },
    ]);
  });

  it("lists without a merge key are replaced; $patch: replace on a list and a map; finalizers merge as a set", () => {
    const pod = {
      spec: { tolerations: [{ key: "a" }], containers: [{ name: "c", env: [{ name: "A", value: "1" }] }] },
      metadata: { finalizers: ["x"] },
    };
    const out = strategicMergePatch("Pod", pod, {
      metadata: { finalizers: ["y", "x"] },
      spec: {
        tolerations: [{ key: "b" }],
        containers: [{ name: "c", env: [{ $patch: "replace" }, { name: "B", value: "2" }] }],
      },
    }) as Record<string, any>;
    assert.deepEqual(out.spec.tolerations, [{ key: "b" }]);
    assert.deepEqual(out.spec.containers[0].env, [{ name: "B", value: "2" }]);
    assert.deepEqual(out.metadata.finalizers, ["x", "y"]);
    const replaced = strategicMergePatch("Service", svc, { spec: { $patch: "replace", type: "NodePort" } }) as Record<
      string,
      any
    >;
    assert.deepEqual(replaced.spec, { type: "NodePort" });
  });

  it("$deleteFromPrimitiveList and $retainKeys", () => {
    const out = strategicMergePatch(
      "Pod",
      { metadata: { finalizers: ["a", "b", "c"] }, spec: { strategy: { type: "R", rollingUpdate: { x: 1 } } } },
      {
        metadata: { "$deleteFromPrimitiveList/finalizers": ["b"] },
        spec: { strategy: { $retainKeys: ["type"], type: "Recreate" } },
      },
    ) as Record<string, any>;
    assert.deepEqual(out.metadata.finalizers, ["a", "c"]);
    assert.deepEqual(out.spec.strategy, { type: "Recreate" });
  });

  it("conditions merge by type; ownerReferences by uid", () => {
    const out = strategicMergePatch(
      "Pod",
      {
        status: {
          conditions: [
            { type: "Ready", status: "False" },
            { type: "PodScheduled", status: "True" },
          ],
        },
      },
      { status: { conditions: [{ type: "Ready", status: "True" }] } },
    ) as Record<string, any>;
    assert.deepEqual(out.status.conditions, [
      { type: "Ready", status: "True" },
      { type: "PodScheduled", status: "True" },
    ]);
  });
});
