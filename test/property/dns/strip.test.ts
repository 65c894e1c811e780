/**
 * The DNS informer transform (dns/zone/strip.ts) must not change a single answer: for random clusters, with the
 * noise real objects carry (annotations, managedFields, selectors, targetRefs, pod specs), the zone built from the
 * stripped objects answers every name and type exactly as the zone built from the whole objects.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import type { EndpointSlice, KubeObject, Pod, Service } from "../../../src/api/index.js";
import { RRType } from "../../../dns/records.js";
import { lookup } from "../../../dns/zone/lookup.js";
import { stripForDns } from "../../../dns/zone/strip.js";
import { buildZoneView, type PodsMode } from "../../../dns/zone/view.js";
import { runs } from "../../support/runs.js";

const noiseMeta = {
  uid: "0f1e2d3c-aaaa-bbbb-cccc-000000000000",
  resourceVersion: "12345",
  creationTimestamp: "2026-01-01T00:00:00Z",
  annotations: { "kubectl.kubernetes.io/last-applied-configuration": "{...}" },
  managedFields: [{ manager: "kubectl", operation: "Update", fieldsV1: { "f:spec": {} } }],
};

const label = fc.constantFrom("web", "db", "api", "Cache", "x-1");
const nsName = fc.constantFrom("default", "prod", "Kube-System");
const ip4 = fc.tuple(fc.constantFrom(10, 192), fc.nat(3), fc.nat(3), fc.nat(255)).map((a) => a.join("."));
const ip6 = fc.constantFrom("fd00::1", "2001:db8::5", "2001:db8:0:0:0:0:0:6", "fd00::a:1");
const port = fc.record(
  {
    name: fc.option(fc.constantFrom("http", "https", "DNS", ""), { nil: undefined }),
    protocol: fc.option(fc.constantFrom("TCP", "UDP"), { nil: undefined }),
    port: fc.integer({ min: 1, max: 65535 }),
    targetPort: fc.constant(8080),
  },
  { requiredKeys: ["port"] },
);

const service: fc.Arbitrary<Service> = fc
  .record({
    name: label,
    ns: nsName,
    kind: fc.constantFrom("cluster", "cluster6", "dual", "headless", "external"),
    ip: ip4,
    ip6,
    ports: fc.array(port, { maxLength: 3 }),
    pna: fc.boolean(),
  })
  .map((r) => {
    const spec: Service["spec"] = {
      ports: r.ports.map((p) => ({ ...p })) as Service["spec"]["ports"],
      selector: { app: r.name },
      sessionAffinity: "None",
      ...(r.pna ? { publishNotReadyAddresses: true } : {}),
    };
    if (r.kind === "external") Object.assign(spec, { type: "ExternalName", externalName: `${r.name}.example.com.` });
    else if (r.kind === "headless") Object.assign(spec, { clusterIP: "None", clusterIPs: ["None"] });
    else if (r.kind === "cluster") Object.assign(spec, { clusterIP: r.ip, clusterIPs: [r.ip] });
    else if (r.kind === "cluster6") Object.assign(spec, { clusterIP: r.ip6, clusterIPs: [r.ip6] });
    else Object.assign(spec, { clusterIP: r.ip, clusterIPs: [r.ip, r.ip6] });
    return {
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: r.name, namespace: r.ns, ...noiseMeta },
      spec,
      status: { loadBalancer: {} },
    } as Service;
  });

const slice: fc.Arbitrary<EndpointSlice> = fc
  .record({
    svc: label,
    ns: nsName,
    n: fc.nat(99),
    ports: fc.array(port, { maxLength: 2 }),
    eps: fc.array(
      fc.record({
        ip: fc.oneof(ip4, ip6),
        hostname: fc.option(fc.constantFrom("pet-0", "Pet-1"), { nil: undefined }),
        ready: fc.option(fc.boolean(), { nil: undefined }),
      }),
      { maxLength: 4 },
    ),
  })
  .map(
    (r) =>
      ({
        apiVersion: "discovery.k8s.io/v1",
        kind: "EndpointSlice",
        metadata: {
          name: `${r.svc}-${r.n}`,
          namespace: r.ns,
          labels: { "kubernetes.io/service-name": r.svc, "endpointslice.kubernetes.io/managed-by": "x" },
          ...noiseMeta,
        },
        addressType: "IPv4",
        ports: r.ports.map(({ targetPort: _t, ...p }) => p),
        endpoints: r.eps.map((e) => ({
          addresses: [e.ip],
          ...(e.hostname ? { hostname: e.hostname } : {}),
          conditions: { ...(e.ready === undefined ? {} : { ready: e.ready }), serving: true, terminating: false },
          nodeName: "node-1",
          zone: "a",
          targetRef: { kind: "Pod", name: `p-${e.ip}`, namespace: r.ns },
        })),
      }) as EndpointSlice,
  );

const pod: fc.Arbitrary<Pod> = fc
  .record({
    name: label,
    ns: nsName,
    ip: ip4,
    phase: fc.constantFrom("Running", "Pending", "Succeeded"),
    deleting: fc.boolean(),
  })
  .map(
    (r) =>
      ({
        apiVersion: "v1",
        kind: "Pod",
        metadata: {
          name: r.name,
          namespace: r.ns,
          ...noiseMeta,
          ...(r.deleting ? { deletionTimestamp: "2026-01-01T00:00:01Z" } : {}),
        },
        spec: { containers: [{ name: "c", image: "netexec" }], nodeName: "node-1" },
        status: {
          phase: r.phase,
          podIP: r.ip,
          podIPs: [{ ip: r.ip }],
          conditions: [{ type: "Ready", status: "True" }],
        },
      }) as Pod,
  );

const cluster = fc.tuple(
  fc.array(service, { maxLength: 8 }),
  fc.array(slice, { maxLength: 8 }),
  fc.array(pod, { maxLength: 6 }),
  fc.constantFrom<PodsMode>("disabled", "insecure", "verified"),
);

/** Every name the zone could answer for these objects, plus a few it should not. */
function namesOf(objects: KubeObject[]): string[] {
  const out = new Set<string>([
    "cluster.local",
    "dns-version.cluster.local",
    "svc.cluster.local",
    "nope.cluster.local",
  ]);
  for (const o of objects) {
    const ns = (o.metadata.namespace ?? "").toLowerCase();
    const name = (o.metadata.name ?? "").toLowerCase();
    out.add(`${ns}.svc.cluster.local`);
    if (o.kind === "Service") {
      out.add(`${name}.${ns}.svc.cluster.local`);
      for (const p of (o as Service).spec.ports ?? [])
        if (p.name)
          out.add(`_${p.name.toLowerCase()}._${(p.protocol ?? "TCP").toLowerCase()}.${name}.${ns}.svc.cluster.local`);
      for (const ip of (o as Service).spec.clusterIPs ?? [])
        if (ip.includes(".")) out.add(`${ip.split(".").reverse().join(".")}.in-addr.arpa`);
    }
    if (o.kind === "EndpointSlice") {
      const svc = o.metadata.labels?.["kubernetes.io/service-name"]?.toLowerCase() ?? "";
      for (const e of (o as EndpointSlice).endpoints ?? []) {
        const ip = e.addresses[0] ?? "";
        if (e.hostname) out.add(`${e.hostname.toLowerCase()}.${svc}.${ns}.svc.cluster.local`);
        if (ip.includes(".")) {
          out.add(`${ip.replaceAll(".", "-")}.${svc}.${ns}.svc.cluster.local`);
          out.add(`${ip.split(".").reverse().join(".")}.in-addr.arpa`);
        }
      }
    }
    if (o.kind === "Pod") {
      const ip = (o as Pod).status?.podIP ?? "";
      out.add(`${ip.replaceAll(".", "-")}.${ns}.pod.cluster.local`);
    }
  }
  return [...out];
}

const TYPES = [RRType.A, RRType.AAAA, RRType.SRV, RRType.PTR, RRType.TXT, RRType.SOA, RRType.ANY];

describe("DNS informer transform (strip.ts)", () => {
  it("the zone answers identically from stripped and whole objects", () => {
    fc.assert(
      fc.property(cluster, ([svcs, slices, pods, mode]) => {
        const objects: KubeObject[] = [...svcs, ...slices, ...pods];
        const before = JSON.stringify(objects);
        const stripped = objects.map(stripForDns);
        assert.equal(JSON.stringify(objects), before, "the transform must not change its input");
        const opts = { zone: "cluster.local", ttl: 5, pods: mode };
        const whole = buildZoneView(objects, opts, 7);
        const small = buildZoneView(stripped, opts, 7);
        for (const name of namesOf(objects))
          for (const t of TYPES)
            assert.deepEqual(
              lookup(small, opts, name.split("."), t),
              lookup(whole, opts, name.split("."), t),
              `${name} type ${t}`,
            );
        for (const s of stripped) {
          const json = JSON.stringify(s);
          for (const noise of [
            "managedFields",
            "annotations",
            "resourceVersion",
            "targetRef",
            "selector",
            "containers",
          ])
            assert.ok(!json.includes(noise), `${noise} survived in ${json}`);
        }
      }),
      { numRuns: runs(2000, 300) },
    );
  });
});
