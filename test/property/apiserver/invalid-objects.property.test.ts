// biome-ignore-all lint/suspicious/noExplicitAny: the test builds and corrupts schemaless JSON
/**
 * Random invalid objects thrown at the apiserver: known-invalid fields get 422 Invalid naming the field;
 * arbitrary garbage (wrong types, nulls, huge values) gets a 4xx, never a 5xx, and the server stays healthy.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import fc from "fast-check";
import { runs } from "../../support/runs.js";
import { type Harness, startHarness } from "../../integration/apiserver/harness.js";

let h: Harness;
before(async () => {
  h = await startHarness();
});
after(async () => {
  await h?.close();
});

const bases: { path: string; obj: () => Record<string, unknown> }[] = [
  {
    path: "/api/v1/namespaces/default/services",
    obj: () => ({
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: "s" },
      spec: { selector: { app: "a" }, ports: [{ name: "http", port: 80, targetPort: 8080 }] },
    }),
  },
  {
    path: "/api/v1/namespaces/default/pods",
    obj: () => ({
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: "p", labels: { a: "b" } },
      spec: { containers: [{ name: "c", image: "i", ports: [{ containerPort: 80 }] }] },
    }),
  },
  {
    path: "/apis/apps/v1/namespaces/default/deployments",
    obj: () => ({
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name: "d" },
      spec: {
        replicas: 1,
        selector: { matchLabels: { a: "b" } },
        template: { metadata: { labels: { a: "b" } }, spec: { containers: [{ name: "c", image: "i" }] } },
      },
    }),
  },
  {
    path: "/api/v1/namespaces/default/configmaps",
    obj: () => ({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "c" }, data: { k: "v" } }),
  },
  { path: "/api/v1/namespaces", obj: () => ({ apiVersion: "v1", kind: "Namespace", metadata: { name: "n" } }) },
  {
    path: "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices",
    obj: () => ({
      apiVersion: "discovery.k8s.io/v1",
      kind: "EndpointSlice",
      metadata: { name: "e" },
      addressType: "IPv4",
      endpoints: [{ addresses: ["10.0.0.1"] }],
      ports: [{ port: 80 }],
    }),
  },
  { path: "/api/v1/nodes", obj: () => ({ apiVersion: "v1", kind: "Node", metadata: { name: "n" } }) },
];

/** Corruptions Kubernetes rejects with 422 and the field path it names. */
const invalidities: { applies: string; field: RegExp; apply: (o: Record<string, any>, v: number) => void }[] = [
  {
    applies: "*",
    field: /^metadata\.name$/,
    apply: (o, v) => (o.metadata.name = ["UPPER", "-lead", "a_b", "x".repeat(300)][v % 4]),
  },
  { applies: "*", field: /^metadata\.labels/, apply: (o) => (o.metadata.labels = { "bad key!": "v" }) },
  {
    applies: "Service",
    field: /^spec\.ports\[0\]\.port$/,
    apply: (o, v) => (o.spec.ports[0].port = [0, 65536, 70000, -1][v % 4]),
  },
  { applies: "Service", field: /^spec\.ports\[0\]\.protocol$/, apply: (o) => (o.spec.ports[0].protocol = "HTTP") },
  { applies: "Pod", field: /^spec\.containers\[0\]\.image$/, apply: (o) => (o.spec.containers[0].image = "") },
  {
    applies: "Pod",
    field: /^spec\.containers\[0\]\.ports\[0\]\.containerPort$/,
    apply: (o, v) => (o.spec.containers[0].ports[0].containerPort = [0, 65536][v % 2]),
  },
  { applies: "Deployment", field: /^spec\.replicas$/, apply: (o, v) => (o.spec.replicas = -1 - v) },
  {
    applies: "Deployment",
    field: /^spec\.template\.metadata\.labels$/,
    apply: (o) => (o.spec.template.metadata.labels = { other: "x" }),
  },
  { applies: "EndpointSlice", field: /^addressType$/, apply: (o) => (o.addressType = "Bogus") },
  {
    applies: "EndpointSlice",
    field: /^endpoints\[0\]\.addresses\[0\]$/,
    apply: (o) => (o.endpoints[0].addresses[0] = "999.1.1.1"),
  },
];

const garbage = fc.oneof(
  fc.constant(null),
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.string({ maxLength: 20 }),
  fc.array(fc.anything({ maxDepth: 2 }), { maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 5 }), fc.anything({ maxDepth: 2 }), { maxKeys: 3 }),
);

function paths(o: unknown, prefix: string[] = []): string[][] {
  if (o === null || typeof o !== "object") return [prefix];
  const out: string[][] = prefix.length ? [prefix] : [];
  for (const [k, v] of Object.entries(o)) out.push(...paths(v, [...prefix, k]));
  return out;
}

function setPath(o: Record<string, any>, path: string[], value: unknown): void {
  let cur: any = o;
  for (const p of path.slice(0, -1)) cur = cur[p];
  cur[path[path.length - 1] as string] = value;
}

let counter = 0;
describe("apiserver against random invalid objects", () => {
  it("known-invalid fields: 422 Invalid with a cause naming the field", async () => {
    await fc.assert(
      fc.asyncProperty(fc.nat(bases.length - 1), fc.nat(100), fc.nat(1000), async (bi, ii, v) => {
        const base = bases[bi] as (typeof bases)[number];
        const obj = base.obj() as Record<string, any>;
        const choices = invalidities.filter((x) => x.applies === "*" || x.applies === obj.kind);
        const inv = choices[ii % choices.length] as (typeof invalidities)[number];
        obj.metadata.name = `${obj.metadata.name}${counter++}`;
        inv.apply(obj, v);
        const r = await h.req("POST", base.path, obj);
        assert.equal(r.status, 422, `${obj.kind} ${inv.field}: ${r.text}`);
        assert.equal(r.json.reason, "Invalid");
        assert.ok(
          r.json.details.causes.some((c: { field: string }) => inv.field.test(c.field)),
          `${obj.kind}: no cause for ${inv.field} in ${JSON.stringify(r.json.details.causes)}`,
        );
      }),
      { numRuns: runs(1000, 150) },
    );
  });

  it("garbage anywhere in the object: a 4xx (or a 2xx when it happens to be valid), never a 5xx", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.nat(bases.length - 1),
        fc.nat(1000),
        garbage,
        fc.boolean(),
        async (bi, pi, value, asPatch) => {
          const base = bases[bi] as (typeof bases)[number];
          const obj = base.obj() as Record<string, any>;
          obj.metadata.name = `${obj.metadata.name}g${counter++}`;
          const all = paths(obj);
          const path = all[pi % all.length] as string[];
          if (asPatch) {
            const created = await h.req("POST", base.path, obj);
            assert.equal(created.status, 201, created.text);
            const patch: Record<string, any> = {};
            let cur = patch;
            for (const p of path.slice(0, -1)) cur = cur[p] = {};
            cur[path[path.length - 1] as string] = value;
            const r = await h.req("PATCH", `${base.path}/${obj.metadata.name}`, patch, {
              contentType: "application/merge-patch+json",
            });
            assert.ok(r.status < 500, `PATCH ${path.join(".")}=${JSON.stringify(value)} → ${r.status} ${r.text}`);
          } else {
            setPath(obj, path, value);
            const r = await h.req("POST", base.path, obj);
            assert.ok(r.status < 500, `POST ${path.join(".")}=${JSON.stringify(value)} → ${r.status} ${r.text}`);
            if (r.status >= 400) assert.equal(r.json?.kind, "Status");
          }
        },
      ),
      { numRuns: runs(1000, 200) },
    );
    assert.equal((await h.req("GET", "/readyz", undefined, { token: null })).text, "ok");
  });
});
