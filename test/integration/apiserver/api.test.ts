import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type Harness, startHarness } from "./harness.js";

let h: Harness;
before(async () => {
  h = await startHarness({ bookmarkIntervalMs: 200 });
});
after(async () => {
  await h?.close();
});

const pods = "/api/v1/namespaces/default/pods";
const pod = (name: string, labels: Record<string, string> = {}, extra: Record<string, unknown> = {}) => ({
  apiVersion: "v1",
  kind: "Pod",
  metadata: { name, labels },
  spec: { containers: [{ name: "c", image: "busybox" }], ...extra },
});

describe("apiserver REST semantics", () => {
  it("answers public health and version endpoints without credentials, everything else 401", async () => {
    for (const p of ["/healthz", "/readyz", "/livez"]) {
      const r = await h.req("GET", p, undefined, { token: null });
      assert.equal(r.status, 200);
      assert.equal(r.text, "ok");
    }
    const v = await h.req("GET", "/version", undefined, { token: null });
    assert.equal(v.json.major, "1");
    const denied = await h.req("GET", "/api/v1/namespaces", undefined, { token: null });
    assert.equal(denied.status, 401);
    assert.equal(denied.json.reason, "Unauthorized");
    const bad = await h.req("GET", "/api/v1/namespaces", undefined, { token: "nope" });
    assert.equal(bad.status, 401);
  });

  it("serves aggregated discovery only when asked, legacy otherwise", async () => {
    const agg = await h.req("GET", "/apis", undefined, {
      accept: "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json",
    });
    assert.match(String(agg.headers["content-type"]), /as=APIGroupDiscoveryList/);
    assert.deepEqual(agg.json.items.map((g: { metadata: { name: string } }) => g.metadata.name).sort(), [
      "apps",
      "coordination.k8s.io",
      "discovery.k8s.io",
    ]);
    const legacy = await h.req("GET", "/apis");
    assert.equal(legacy.json.kind, "APIGroupList");
    const core = await h.req("GET", "/api/v1");
    const names = core.json.resources.map((r: { name: string }) => r.name);
    for (const n of [
      "pods",
      "pods/status",
      "pods/binding",
      "nodes",
      "services",
      "endpoints",
      "componentstatuses",
      "replicationcontrollers/scale",
    ])
      assert.ok(names.includes(n), n);
    const oa = await h.req("GET", "/openapi/v3");
    const url = oa.json.paths["apis/apps/v1"].serverRelativeURL;
    const doc = await h.req("GET", url);
    const op = doc.json.paths["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"].patch;
    assert.equal(op["x-kubernetes-group-version-kind"].kind, "Deployment");
    assert.ok(op.parameters.some((p: { name: string }) => p.name === "fieldValidation"));
  });

  it("creates with uid, timestamp, generateName; 409 on duplicates; 404 in a missing namespace", async () => {
    const r = await h.req("POST", pods, pod("p1"));
    assert.equal(r.status, 201);
    assert.match(r.json.metadata.uid, /^[0-9a-f-]{36}$/);
    assert.match(r.json.metadata.creationTimestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.equal(r.json.status.phase, "Pending");
    const dup = await h.req("POST", pods, pod("p1"));
    assert.equal(dup.status, 409);
    assert.equal(dup.json.reason, "AlreadyExists");
    const gen = await h.req("POST", pods, { ...pod(""), metadata: { generateName: "web-" } });
    assert.equal(gen.status, 201);
    assert.match(gen.json.metadata.name, /^web-[bcdfghjklmnpqrstvwxz2456789]{5}$/);
    const nons = await h.req("POST", "/api/v1/namespaces/nope/pods", pod("x"));
    assert.equal(nons.status, 404);
    const mismatch = await h.req("POST", pods, { ...pod("y"), metadata: { name: "y", namespace: "kube-system" } });
    assert.equal(mismatch.status, 400);
  });

  it("rejects invalid objects with 422 Invalid and field causes", async () => {
    const r = await h.req("POST", "/api/v1/namespaces/default/services", {
      metadata: { name: "bad" },
      spec: { ports: [{ port: 70000 }] },
    });
    assert.equal(r.status, 422);
    assert.equal(r.json.reason, "Invalid");
    assert.ok(r.json.details.causes.some((c: { field: string }) => c.field === "spec.ports[0].port"));
    const out = await h.req("POST", "/api/v1/namespaces/default/services", {
      metadata: { name: "out" },
      spec: { clusterIP: "192.168.0.1", ports: [{ port: 80 }] },
    });
    assert.equal(out.status, 422);
    assert.match(out.json.message, /not in the valid range/);
  });

  it("update with a stale resourceVersion is a 409 Conflict; without one it is unconditional", async () => {
    const c = await h.req("POST", pods, pod("cas"));
    const v1 = c.json;
    const u = await h.req("PUT", `${pods}/cas`, { ...v1, metadata: { ...v1.metadata, labels: { a: "1" } } });
    assert.equal(u.status, 200);
    assert.notEqual(u.json.metadata.resourceVersion, v1.metadata.resourceVersion);
    const stale = await h.req("PUT", `${pods}/cas`, { ...v1, metadata: { ...v1.metadata, labels: { a: "2" } } });
    assert.equal(stale.status, 409);
    assert.equal(stale.json.reason, "Conflict");
    const { resourceVersion: _rv, ...noRV } = v1.metadata;
    const unconditional = await h.req("PUT", `${pods}/cas`, { ...v1, metadata: { ...noRV, labels: { a: "3" } } });
    assert.equal(unconditional.status, 200);
    assert.equal(unconditional.json.metadata.labels.a, "3");
  });

  it("status subresource changes only status; the main endpoint keeps stored status", async () => {
    const c = (await h.req("POST", pods, pod("st"))).json;
    const s = await h.req("PUT", `${pods}/st/status`, {
      ...c,
      metadata: { ...c.metadata, labels: { sneaky: "x" } },
      status: { phase: "Running" },
    });
    assert.equal(s.status, 200);
    assert.equal(s.json.status.phase, "Running");
    assert.equal(s.json.metadata.labels?.sneaky, undefined);
    const m = await h.req("PUT", `${pods}/st`, { ...s.json, status: { phase: "Failed" } });
    assert.equal(m.json.status.phase, "Running");
  });

  it("lists with label and field selectors, limit and continue; Table output has kubectl's columns", async () => {
    await h.req("POST", "/api/v1/namespaces", { metadata: { name: "sel" } });
    for (let i = 0; i < 7; i++)
      await h.req("POST", "/api/v1/namespaces/sel/pods", pod(`p${i}`, { app: i % 2 ? "odd" : "even", idx: String(i) }));
    const odd = await h.req("GET", "/api/v1/namespaces/sel/pods?labelSelector=app%3Dodd");
    assert.deepEqual(
      odd.json.items.map((p: { metadata: { name: string } }) => p.metadata.name),
      ["p1", "p3", "p5"],
    );
    const setb = await h.req("GET", "/api/v1/namespaces/sel/pods?labelSelector=idx+in+%281%2C2%29%2C%21missing");
    assert.equal(setb.json.items.length, 2);
    const byName = await h.req("GET", "/api/v1/pods?fieldSelector=metadata.name%3Dp4,metadata.namespace%3Dsel");
    assert.equal(byName.json.items.length, 1);
    const badField = await h.req("GET", "/api/v1/namespaces/sel/pods?fieldSelector=spec.foo%3Dx");
    assert.equal(badField.status, 400);
    const seen: string[] = [];
    let cont = "";
    let pages = 0;
    do {
      const r = await h.req(
        "GET",
        `/api/v1/namespaces/sel/pods?limit=3${cont ? `&continue=${encodeURIComponent(cont)}` : ""}`,
      );
      seen.push(...r.json.items.map((p: { metadata: { name: string } }) => p.metadata.name));
      cont = r.json.metadata.continue ?? "";
      pages++;
      if (pages === 1) await h.req("POST", "/api/v1/namespaces/sel/pods", pod("p9")); // not in this list's snapshot
    } while (cont);
    assert.deepEqual(seen, ["p0", "p1", "p2", "p3", "p4", "p5", "p6"]);
    assert.equal(pages, 3);
    const table = await h.req("GET", "/api/v1/namespaces/sel/pods?limit=2", undefined, {
      accept: "application/json;as=Table;v=v1;g=meta.k8s.io,application/json",
    });
    assert.equal(table.json.kind, "Table");
    assert.deepEqual(
      table.json.columnDefinitions.map((c: { name: string }) => c.name),
      ["Name", "Ready", "Status", "Restarts", "Age", "IP", "Node", "Nominated Node", "Readiness Gates"],
    );
    assert.deepEqual(table.json.rows[0].cells.slice(0, 4), ["p0", "0/1", "Pending", "0"]);
    assert.equal(table.json.rows[0].object.kind, "PartialObjectMetadata");
    assert.ok(table.json.metadata.continue);
  });

  it("watch from a resourceVersion streams changes, re-labels as ADDED/DELETED across a selector, and bookmarks", async () => {
    await h.req("POST", "/api/v1/namespaces", { metadata: { name: "wt" } });
    const list = await h.req("GET", "/api/v1/namespaces/wt/pods");
    const rv = list.json.metadata.resourceVersion;
    const w = await h.watch(
      `/api/v1/namespaces/wt/pods?watch=true&resourceVersion=${rv}&labelSelector=tier%3Dfe&allowWatchBookmarks=true`,
    );
    try {
      assert.equal(w.status, 200);
      const a = (await h.req("POST", "/api/v1/namespaces/wt/pods", pod("a", { tier: "fe" }))).json;
      await h.req("POST", "/api/v1/namespaces/wt/pods", pod("b", { tier: "be" }));
      await h.req(
        "PATCH",
        "/api/v1/namespaces/wt/pods/a",
        { metadata: { labels: { x: "y" } } },
        { contentType: "application/merge-patch+json" },
      );
      await h.req(
        "PATCH",
        "/api/v1/namespaces/wt/pods/b",
        { metadata: { labels: { tier: "fe" } } },
        { contentType: "application/merge-patch+json" },
      );
      await h.req(
        "PATCH",
        "/api/v1/namespaces/wt/pods/a",
        { metadata: { labels: { tier: "be" } } },
        { contentType: "application/merge-patch+json" },
      );
      await h.req("DELETE", "/api/v1/namespaces/wt/pods/b");
      const real = () => w.events.filter((e) => e.type !== "BOOKMARK");
      await w.until(() => real().length >= 5);
      assert.deepEqual(
        real().map((e) => `${e.type} ${e.object.metadata.name}`),
        ["ADDED a", "MODIFIED a", "ADDED b", "DELETED a", "DELETED b"],
      );
      assert.equal(real()[0].object.metadata.uid, a.metadata.uid);
      assert.equal(real()[0].object.kind, "Pod");
      await w.until(() => w.events.some((e) => e.type === "BOOKMARK"));
      const bm = w.events.find((e) => e.type === "BOOKMARK");
      assert.ok(Number(bm.object.metadata.resourceVersion) >= Number(rv));
    } finally {
      w.stop();
    }
  });

  it("watch without resourceVersion starts with ADDED for current objects; Table watch carries one-row tables", async () => {
    const w = await h.watch("/api/v1/namespaces?watch=1", {
      accept: "application/json;as=Table;v=v1;g=meta.k8s.io,application/json",
    });
    try {
      await w.until(() => w.events.length >= 4);
      assert.ok(w.events.every((e) => e.type === "ADDED" && e.object.kind === "Table" && e.object.rows.length === 1));
      assert.ok(w.events.some((e) => e.object.rows[0].cells[0] === "default"));
    } finally {
      w.stop();
    }
  });

  it("410 Expired for a watch from a compacted resourceVersion; timeoutSeconds ends the stream", async () => {
    const first = (await h.req("POST", pods, pod("old"))).json.metadata.resourceVersion;
    for (let i = 0; i < 3; i++)
      await h.req(
        "PATCH",
        `${pods}/old`,
        { metadata: { labels: { i: String(i) } } },
        { contentType: "application/merge-patch+json" },
      );
    const rev = await h.server.store.currentRevision();
    await h.server.store.compact(rev);
    const gone = await h.req("GET", `${pods}?watch=true&resourceVersion=${first}`);
    assert.equal(gone.status, 410);
    assert.equal(gone.json.reason, "Expired");
    const w = await h.watch(`${pods}?watch=true&resourceVersion=${rev}&timeoutSeconds=1`);
    await w.until(() => w.ended, 5000);
  });

  it("graceful pod delete sets deletionTimestamp; grace 0 removes; finalizers hold other objects", async () => {
    await h.req("POST", pods, pod("g1", {}, { nodeName: "n1" }));
    const d = await h.req("DELETE", `${pods}/g1`, { propagationPolicy: "Background" });
    assert.equal(d.status, 200);
    assert.ok(d.json.metadata.deletionTimestamp);
    assert.equal(d.json.metadata.deletionGracePeriodSeconds, 30);
    assert.equal((await h.req("GET", `${pods}/g1`)).status, 200);
    await h.req("DELETE", `${pods}/g1?gracePeriodSeconds=0`);
    assert.equal((await h.req("GET", `${pods}/g1`)).status, 404);
    const unbound = await h.req("POST", pods, pod("g2"));
    assert.equal(unbound.status, 201);
    await h.req("DELETE", `${pods}/g2`);
    assert.equal((await h.req("GET", `${pods}/g2`)).status, 404, "unscheduled pods go at once");
    const cm = "/api/v1/namespaces/default/configmaps";
    await h.req("POST", cm, { metadata: { name: "fin", finalizers: ["example.com/hold"] }, data: { a: "b" } });
    const held = await h.req("DELETE", `${cm}/fin`);
    assert.ok(held.json.metadata.deletionTimestamp);
    assert.equal((await h.req("GET", `${cm}/fin`)).status, 200);
    await h.req("PATCH", `${cm}/fin`, [{ op: "remove", path: "/metadata/finalizers" }], {
      contentType: "application/json-patch+json",
    });
    assert.equal((await h.req("GET", `${cm}/fin`)).status, 404);
  });

  it("strategic merge patch as kubectl apply sends it: port 80 → 81 replaces the list entry", async () => {
    const svc = "/api/v1/namespaces/default/services";
    const c = await h.req("POST", svc, {
      metadata: { name: "smp" },
      spec: { selector: { app: "x" }, ports: [{ port: 80, targetPort: 8080 }] },
    });
    assert.equal(c.status, 201);
    const p = await h.req(
      "PATCH",
      `${svc}/smp`,
      {
        spec: {
          "$setElementOrder/ports": [{ port: 81 }],
          ports: [
            { port: 81, targetPort: 8080 },
            { $patch: "delete", port: 80 },
          ],
        },
      },
      { contentType: "application/strategic-merge-patch+json" },
    );
    assert.equal(p.status, 200);
    assert.deepEqual(p.json.spec.ports, [{ port: 81, targetPort: 8080, protocol: "TCP" }]);
    assert.equal(p.json.spec.clusterIP, c.json.spec.clusterIP, "the ClusterIP survives");
    // Server-side apply needs a field manager (as kube-apiserver: 422 naming fieldManager); other types → 415.
    const bad = await h.req("PATCH", `${svc}/smp`, { x: 1 }, { contentType: "application/apply-patch+yaml" });
    assert.equal(bad.status, 422);
    assert.match(JSON.stringify(bad.json), /fieldManager/);
    const odd = await h.req("PATCH", `${svc}/smp`, { x: 1 }, { contentType: "application/x-unknown-patch" });
    assert.equal(odd.status, 415);
  });

  it("scale subresource reads and writes spec.replicas; binding sets nodeName once", async () => {
    const deps = "/apis/apps/v1/namespaces/default/deployments";
    const d = await h.req("POST", deps, {
      metadata: { name: "sc" },
      spec: {
        selector: { matchLabels: { app: "sc" } },
        template: { metadata: { labels: { app: "sc" } }, spec: { containers: [{ name: "c", image: "i" }] } },
      },
    });
    assert.equal(d.status, 201);
    assert.equal(d.json.spec.replicas, 1);
    const s = await h.req(
      "PATCH",
      `${deps}/sc/scale`,
      { spec: { replicas: 3 } },
      { contentType: "application/merge-patch+json" },
    );
    assert.equal(s.json.kind, "Scale");
    assert.equal(s.json.spec.replicas, 3);
    assert.equal(s.json.status.selector, "app=sc");
    const after = await h.req("GET", `${deps}/sc`);
    assert.equal(after.json.spec.replicas, 3);
    assert.equal(after.json.metadata.generation, 2);
    await h.req("POST", pods, pod("tobind"));
    const b = await h.req("POST", `${pods}/tobind/binding`, {
      apiVersion: "v1",
      kind: "Binding",
      metadata: { name: "tobind" },
      target: { kind: "Node", name: "n1" },
    });
    assert.equal(b.status, 201);
    const bound = await h.req("GET", `${pods}/tobind`);
    assert.equal(bound.json.spec.nodeName, "n1");
    assert.ok(
      bound.json.status.conditions.some(
        (c: { type: string; status: string }) => c.type === "PodScheduled" && c.status === "True",
      ),
    );
    const again = await h.req("POST", `${pods}/tobind/binding`, { target: { kind: "Node", name: "n2" } });
    assert.equal(again.status, 409);
  });

  it("node credentials: own Node and status of own pods only (403 otherwise)", async () => {
    const { tokenOf } = await import("./harness.js");
    const token = tokenOf(h.server.nodeKubeconfig("n1"));
    const node = (name: string) => ({
      metadata: { name },
      status: { conditions: [{ type: "Ready", status: "True" }] },
    });
    assert.equal((await h.req("POST", "/api/v1/nodes", node("n1"), { token })).status, 201);
    const other = await h.req("POST", "/api/v1/nodes", node("n2"), { token });
    assert.equal(other.status, 403);
    assert.equal(other.json.reason, "Forbidden");
    assert.match(other.json.message, /system:node:n1/);
    assert.equal((await h.req("GET", "/api/v1/pods", undefined, { token })).status, 200);
    await h.req("POST", pods, pod("mine", {}, { nodeName: "n1" }));
    await h.req("POST", pods, pod("theirs", {}, { nodeName: "n2" }));
    const mine = await h.req(
      "PATCH",
      `${pods}/mine/status`,
      { status: { phase: "Running" } },
      { token, contentType: "application/merge-patch+json" },
    );
    assert.equal(mine.status, 200);
    const theirs = await h.req(
      "PATCH",
      `${pods}/theirs/status`,
      { status: { phase: "Running" } },
      { token, contentType: "application/merge-patch+json" },
    );
    assert.equal(theirs.status, 403);
    const create = await h.req("POST", pods, pod("sneak"), { token });
    assert.equal(create.status, 403);
  });

  it("ClusterIPs and NodePorts are never handed out twice; a requested one that is taken is a 422", async () => {
    const svc = "/api/v1/namespaces/default/services";
    const made = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        h.req("POST", svc, {
          metadata: { name: `np${i}` },
          spec: { type: "NodePort", selector: { a: "b" }, ports: [{ port: 80 }] },
        }),
      ),
    );
    assert.ok(made.every((r) => r.status === 201));
    const ips = made.map((r) => r.json.spec.clusterIP);
    const ports = made.map((r) => r.json.spec.ports[0].nodePort);
    assert.equal(new Set(ips).size, 20);
    assert.equal(new Set(ports).size, 20);
    const taken = await h.req("POST", svc, {
      metadata: { name: "dupport" },
      spec: { type: "NodePort", ports: [{ port: 80, nodePort: ports[0] }] },
    });
    assert.equal(taken.status, 422);
    const takenIP = await h.req("POST", svc, {
      metadata: { name: "dupip" },
      spec: { clusterIP: ips[0], ports: [{ port: 80 }] },
    });
    assert.equal(takenIP.status, 422);
    await h.req("DELETE", `${svc}/np0`);
    const reuse = await h.req("POST", svc, {
      metadata: { name: "reuse" },
      spec: { type: "NodePort", clusterIP: ips[0], ports: [{ port: 80, nodePort: ports[0] }] },
    });
    assert.equal(reuse.status, 201, "released on delete");
    const kube = await h.req("GET", `${svc}/kubernetes`);
    assert.equal(kube.json.spec.clusterIP, "10.96.0.1");
  });
});
