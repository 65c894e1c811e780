/** Secret `stringData` is write-only: merged into `data` base64-encoded on create/update/patch, never stored. */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type Harness, startHarness } from "./harness.js";

const b64 = (s: string) => Buffer.from(s, "utf8").toString("base64");
const base = "/api/v1/namespaces/default/secrets";

describe("Secret stringData", () => {
  let h: Harness;
  before(async () => {
    h = await startHarness();
  });
  after(() => h.close());

  it("create folds stringData into data (stringData wins); GET and LIST never show stringData", async () => {
    const value = `pässwörd-${Math.random().toString(36).slice(2)}`;
    const c = await h.req("POST", base, {
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: "s1" },
      data: { keep: b64("kept"), both: b64("from-data") },
      stringData: { pw: value, both: "from-stringData" },
    });
    assert.equal(c.status, 201, c.text);
    assert.equal(c.json.stringData, undefined);
    const g = await h.req("GET", `${base}/s1`);
    assert.equal(g.status, 200);
    assert.equal(g.json.stringData, undefined);
    assert.deepEqual(g.json.data, { keep: b64("kept"), both: b64("from-stringData"), pw: b64(value) });
    const l = await h.req("GET", base);
    const item = l.json.items.find((i: { metadata: { name: string } }) => i.metadata.name === "s1");
    assert.equal(item.stringData, undefined);
    assert.equal(item.data.pw, b64(value));
  });

  it("update (PUT) and merge/strategic patch fold stringData too; dry-run answers without it", async () => {
    const cur = (await h.req("GET", `${base}/s1`)).json;
    const put = await h.req("PUT", `${base}/s1`, { ...cur, stringData: { pw: "new", added: "x" } });
    assert.equal(put.status, 200, put.text);
    assert.equal(put.json.stringData, undefined);
    assert.equal(put.json.data.pw, b64("new"));
    assert.equal(put.json.data.added, b64("x"));
    assert.equal(put.json.data.keep, b64("kept"));
    for (const ct of ["application/merge-patch+json", "application/strategic-merge-patch+json"]) {
      const v = `v-${ct.length}`;
      const p = await h.req("PATCH", `${base}/s1`, { stringData: { pw: v } }, { contentType: ct });
      assert.equal(p.status, 200, p.text);
      assert.equal(p.json.stringData, undefined);
      assert.equal(p.json.data.pw, b64(v));
      assert.equal(p.json.data.added, b64("x"), "other keys stay");
    }
    const g = await h.req("GET", `${base}/s1`);
    assert.equal(g.json.stringData, undefined);
    const dry = await h.req("POST", `${base}?dryRun=All`, {
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: "s2" },
      stringData: { a: "b" },
    });
    assert.equal(dry.status, 201, dry.text);
    assert.deepEqual(dry.json.data, { a: b64("b") });
    assert.equal(dry.json.stringData, undefined);
  });
});
