import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { loadObjectsFile, loadObjectsFiles, ObjectsFileError, parseObjects } from "../../../src/objects/load.js";

const dir = mkdtempSync(join(tmpdir(), "pw-load-"));
after(() => rmSync(dir, { recursive: true, force: true }));

describe("objects loader", () => {
  it("reads a single YAML object", () => {
    const objs = parseObjects("apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: default}\nspec: {}\n");
    assert.equal(objs.length, 1);
    assert.equal(objs[0]!.kind, "Service");
    assert.equal(objs[0]!.metadata.name, "web");
  });
  it("flattens a kind: List as kubectl get -o yaml prints it", () => {
    const text = `apiVersion: v1
items:
- apiVersion: v1
  kind: Service
  metadata: {name: a, namespace: default}
- apiVersion: discovery.k8s.io/v1
  kind: EndpointSlice
  metadata: {name: a-x, namespace: default}
kind: List
metadata: {resourceVersion: ""}
`;
    const objs = parseObjects(text);
    assert.deepEqual(
      objs.map((o) => `${o.apiVersion}/${o.kind}/${o.metadata.name}`),
      ["v1/Service/a", "discovery.k8s.io/v1/EndpointSlice/a-x"],
    );
  });
  it("gives items of a typed list (ServiceList) their kind and apiVersion", () => {
    const objs = parseObjects(
      JSON.stringify({ apiVersion: "v1", kind: "ServiceList", metadata: {}, items: [{ metadata: { name: "s" } }] }),
    );
    assert.equal(objs[0]!.kind, "Service");
    assert.equal(objs[0]!.apiVersion, "v1");
  });
  it("reads multi-document YAML and skips empty documents", () => {
    const text =
      "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: b}\n---\n";
    assert.deepEqual(
      parseObjects(text).map((o) => o.metadata.name),
      ["a", "b"],
    );
  });
  it("reads JSON files", () => {
    const f = join(dir, "x.json");
    writeFileSync(f, JSON.stringify({ apiVersion: "v1", kind: "Node", metadata: { name: "n1" } }));
    const f2 = join(dir, "y.yaml");
    writeFileSync(f2, "apiVersion: v1\nkind: Node\nmetadata: {name: n2}\n");
    assert.deepEqual(
      loadObjectsFiles([f, f2]).map((o) => o.metadata.name),
      ["n1", "n2"],
    );
  });
  it("names the file, document index and field of invalid input", () => {
    const f = join(dir, "bad.yaml");
    writeFileSync(
      f,
      "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\napiVersion: v1\nkind: Service\nmetadata: {}\n",
    );
    assert.throws(
      () => loadObjectsFile(f),
      (e: unknown) =>
        e instanceof ObjectsFileError && e.document === 1 && e.field === "metadata.name" && e.message.startsWith(f),
    );
  });
  it("names the list item that is invalid", () => {
    assert.throws(
      () =>
        parseObjects(
          '{"apiVersion":"v1","kind":"List","items":[{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"}},{"kind":"Pod","metadata":{"name":"q"}}]}',
        ),
      /document 0: items\[1\]\.apiVersion/,
    );
  });
  it("reports YAML syntax errors with their line", () => {
    assert.throws(() => parseObjects("apiVersion: v1\nkind: [unclosed\n", "f.yaml"), /f\.yaml: document 0: line \d+/);
  });
  it("reports a missing file as an ObjectsFileError", () => {
    assert.throws(() => loadObjectsFile(join(dir, "nope.yaml")), ObjectsFileError);
  });
});
