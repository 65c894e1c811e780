import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { ConfigMap, Pod, Service } from "../../../src/api/index.js";
import {
  type ClientConfig,
  isAlreadyExists,
  isConflict,
  isConnectionError,
  isNotFound,
  RestClient,
  type WatchEvent,
} from "../../../src/client/index.js";
import { type HttpFake, makeTls, serveFake, type TlsFiles } from "./http-fake.js";

const cm = (name: string, data: Record<string, string> = {}): ConfigMap => ({
  apiVersion: "v1",
  kind: "ConfigMap",
  metadata: { name, namespace: "default" },
  data,
});

describe("RestClient over HTTP", () => {
  let srv: HttpFake;
  let client: RestClient;
  before(async () => {
    srv = await serveFake();
    client = new RestClient({ server: srv.url, namespace: "default" });
  });
  after(async () => {
    client.close();
    await srv.close();
  });

  it("creates, gets, lists and returns errors as values carrying the Status", async () => {
    const c = await client.create(cm("a", { k: "v" }));
    assert.ok(c.ok);
    assert.ok(c.value.metadata.uid);
    const again = await client.create(cm("a"));
    assert.ok(!again.ok && isAlreadyExists(again.error));
    assert.equal(again.ok ? "" : again.error.status.reason, "AlreadyExists");
    const g = await client.get("ConfigMap", "default", "a");
    assert.ok(g.ok);
    assert.deepEqual(g.value.data, { k: "v" });
    const missing = await client.get("ConfigMap", "default", "nope");
    assert.ok(!missing.ok && isNotFound(missing.error));
    assert.match(missing.ok ? "" : missing.error.message, /"nope" not found/);
    const l = await client.list("ConfigMap", { namespace: "default" });
    assert.ok(l.ok);
    assert.deepEqual(
      l.value.items.map((i) => i.metadata.name),
      ["a"],
    );
    assert.ok(Number(l.value.metadata.resourceVersion) >= 1);
  });

  it("update with a stale resourceVersion is a Conflict; without one it applies", async () => {
    const c = await client.create(cm("b", { x: "1" }));
    assert.ok(c.ok);
    const u1 = await client.update({ ...c.value, data: { x: "2" } });
    assert.ok(u1.ok);
    const stale = await client.update({ ...c.value, data: { x: "3" } });
    assert.ok(!stale.ok && isConflict(stale.error));
    const uncond = await client.update({
      ...c.value,
      metadata: { ...c.value.metadata, resourceVersion: undefined },
      data: { x: "4" },
    });
    assert.ok(uncond.ok);
    assert.equal(uncond.value.data?.x, "4");
  });

  it("sends the right Content-Type for each patch type and applies them", async () => {
    assert.ok((await client.create(cm("p", { a: "1", b: "2" }))).ok);
    const m = await client.patch("ConfigMap", "default", "p", { data: { a: null, c: "3" } }, "merge");
    assert.ok(m.ok);
    assert.deepEqual(m.value.data, { b: "2", c: "3" });
    const j = await client.patch("ConfigMap", "default", "p", [{ op: "replace", path: "/data/b", value: "9" }], "json");
    assert.ok(j.ok);
    assert.equal(j.value.data?.b, "9");
    const s = await client.patch("ConfigMap", "default", "p", { metadata: { labels: { x: "y" } } }, "strategic");
    assert.ok(s.ok);
    const types = srv.requests.filter((r) => r.method === "PATCH").map((r) => r.headers["content-type"]);
    assert.deepEqual(types, [
      "application/merge-patch+json",
      "application/json-patch+json",
      "application/strategic-merge-patch+json",
    ]);
  });

  it("updateStatus writes only the status; binding sets nodeName once", async () => {
    const pod: Pod = {
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: "web", namespace: "default" },
      spec: { containers: [{ name: "c", image: "pause" }] },
    };
    const c = await client.create(pod);
    assert.ok(c.ok);
    const st = await client.updateStatus({ ...c.value, spec: { containers: [] }, status: { phase: "Running" } });
    assert.ok(st.ok);
    assert.equal(st.value.status?.phase, "Running");
    assert.equal(st.value.spec.containers.length, 1);
    assert.equal(srv.requests.at(-1)?.path, "/api/v1/namespaces/default/pods/web/status");
    const body = { apiVersion: "v1", kind: "Binding", metadata: { name: "web" }, target: { kind: "Node", name: "n1" } };
    const b = await client.createSubresource("Pod", "default", "web", "binding", body);
    assert.ok(b.ok);
    const again = await client.createSubresource("Pod", "default", "web", "binding", body);
    assert.ok(!again.ok && again.error.code === 409);
    const g = await client.get("Pod", "default", "web");
    assert.equal(g.ok && g.value.spec.nodeName, "n1");
  });

  it("delete sends DeleteOptions and reports NotFound the second time", async () => {
    assert.ok((await client.create(cm("d"))).ok);
    const d = await client.delete("ConfigMap", "default", "d", { propagationPolicy: "Background" });
    assert.ok(d.ok);
    assert.deepEqual(JSON.parse(srv.requests.at(-1)!.body), {
      kind: "DeleteOptions",
      apiVersion: "v1",
      propagationPolicy: "Background",
    });
    const d2 = await client.delete("ConfigMap", "default", "d");
    assert.ok(!d2.ok && isNotFound(d2.error));
  });

  it("watch streams newline-delimited events from a resourceVersion and reports a 410 ERROR as the end", async () => {
    const l = await client.list("Service", { namespace: "default" });
    assert.ok(l.ok);
    const events: WatchEvent<Service>[] = [];
    const h = client.watch(
      "Service",
      { namespace: "default", resourceVersion: l.value.metadata.resourceVersion },
      (e) => events.push(e),
    );
    await h.started;
    const svc: Service = {
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: "s" },
      spec: { ports: [{ port: 80 }] },
    };
    assert.ok((await client.create(svc)).ok);
    assert.ok((await client.delete("Service", "default", "s")).ok);
    while (events.length < 2) await new Promise((r) => setTimeout(r, 5));
    assert.deepEqual(
      events.map((e) => `${e.type} ${e.object.metadata.name}`),
      ["ADDED s", "DELETED s"],
    );
    srv.fake.expireWatches();
    const end = await h.done;
    assert.equal(end.reason, "error");
    assert.equal(end.reason === "error" && end.error.code, 410);
    const w = srv.requests.find((r) => r.query.get("watch") === "true");
    assert.equal(w?.query.get("resourceVersion"), l.value.metadata.resourceVersion);
  });

  it("a stopped watch ends as stopped", async () => {
    const h = client.watch("Pod", {}, () => {});
    await h.started;
    h.stop();
    assert.deepEqual(await h.done, { reason: "stopped" });
  });

  it("a refused connection is a ConnectionError value, not an exception", async () => {
    const c = new RestClient({ server: "http://127.0.0.1:1", namespace: "default" });
    const r = await c.get("Pod", "default", "x");
    assert.ok(!r.ok && isConnectionError(r.error));
    const h = c.watch("Pod", {}, () => {});
    const end = await h.done;
    assert.ok(end.reason === "error" && isConnectionError(end.error));
    c.close();
  });
});

describe("RestClient over HTTPS", () => {
  let tls: TlsFiles;
  before(() => {
    tls = makeTls();
  });
  after(() => tls.cleanup());

  it("verifies the server with the kubeconfig CA and sends the bearer token", async () => {
    const srv = await serveFake({ tls, token: "s3cret" });
    try {
      const cfg: ClientConfig = { server: srv.url, ca: tls.ca, token: "s3cret", namespace: "default" };
      const c = new RestClient(cfg);
      const r = await c.list("Pod");
      assert.ok(r.ok, r.ok ? "" : r.error.message);
      c.close();
      const wrong = new RestClient({ ...cfg, token: "nope" });
      const r2 = await wrong.list("Pod");
      assert.ok(!r2.ok && r2.error.code === 401);
      wrong.close();
      const noCA = new RestClient({ server: srv.url, token: "s3cret", namespace: "default" });
      const r3 = await noCA.list("Pod");
      assert.ok(!r3.ok && isConnectionError(r3.error), "an unknown CA is refused");
      noCA.close();
    } finally {
      await srv.close();
    }
  });

  it("authenticates with a client certificate", async () => {
    const srv = await serveFake({ tls, requireClientCert: true });
    try {
      const c = new RestClient({
        server: srv.url,
        ca: tls.ca,
        cert: tls.clientCert,
        key: tls.clientKey,
        namespace: "default",
      });
      const r = await c.list("Node");
      assert.ok(r.ok, r.ok ? "" : r.error.message);
      c.close();
      const anon = new RestClient({ server: srv.url, ca: tls.ca, namespace: "default" });
      const r2 = await anon.list("Node");
      assert.ok(!r2.ok);
      anon.close();
    } finally {
      await srv.close();
    }
  });
});
