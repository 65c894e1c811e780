import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { RRType, type ZoneAnswer } from "../../../dns/records.js";
import { lookup, PASS } from "../../../dns/zone/lookup.js";
import { buildZoneView, endpointHost, reverseNames, type ZoneOptions, type ZoneView } from "../../../dns/zone/view.js";
import { namespace, pod, service, slice, specObjects } from "./fixtures.js";

const opts: ZoneOptions = { zone: "cluster.local", ttl: 5, pods: "insecure" };
const view = buildZoneView(specObjects(), opts, 42);

function ask(name: string, type: keyof typeof RRType, v: ZoneView | undefined = view, o = opts): ZoneAnswer {
  const r = lookup(v, o, name.toLowerCase().split("."), RRType[type]);
  assert.notEqual(r, PASS, `${name} should be answered by the zone`);
  return r as ZoneAnswer;
}

/** Answer records as `type value` strings, in order. */
function values(a: ZoneAnswer): string[] {
  return a.answers.map((r) => {
    const d = r.data;
    switch (d.type) {
      case "A":
      case "AAAA":
        return `${d.type} ${d.address}`;
      case "SRV":
        return `SRV ${d.priority} ${d.weight} ${d.port} ${d.target}`;
      case "TXT":
        return `TXT ${d.text.join(",")}`;
      case "SOA":
        return `SOA ${d.mname}`;
      default:
        return `${d.type} ${d.target}`;
    }
  });
}

function assertNegative(a: ZoneAnswer, rcode: "NXDOMAIN" | "NOERROR") {
  assert.equal(a.rcode, rcode);
  assert.equal(a.answers.length, 0);
  assert.equal(a.authority.length, 1, "negative answers carry the zone SOA");
  const soa = a.authority[0];
  assert.equal(soa?.data.type, "SOA");
  if (soa?.data.type === "SOA") assert.equal(soa.data.minimum, opts.ttl);
}

describe("cluster zone records (spec 1.1.0 examples)", () => {
  it("dns-version TXT is 1.1.0 with TTL 28800", () => {
    const a = ask("dns-version.cluster.local", "TXT");
    assert.deepEqual(values(a), ["TXT 1.1.0"]);
    assert.equal(a.answers[0]?.ttl, 28800);
    assertNegative(ask("dns-version.cluster.local", "A"), "NOERROR");
  });

  it("ClusterIP service: A for IPv4, AAAA for IPv6, NODATA for the other family", () => {
    assert.deepEqual(values(ask("kubernetes.default.svc.cluster.local", "A")), ["A 10.3.0.1"]);
    assert.equal(ask("kubernetes.default.svc.cluster.local", "A").answers[0]?.ttl, 5);
    assertNegative(ask("kubernetes.default.svc.cluster.local", "AAAA"), "NOERROR");
    assert.deepEqual(values(ask("kubernetes6.default.svc.cluster.local", "AAAA")), ["AAAA 2001:db8:0:0:0:0:0:1"]);
    assertNegative(ask("kubernetes6.default.svc.cluster.local", "A"), "NOERROR");
  });

  it("names are case-insensitive", () => {
    assert.deepEqual(values(ask("KUBERNETES.Default.SVC.cluster.LOCAL", "A")), ["A 10.3.0.1"]);
  });

  it("SRV per named port only; target is the service name; A glue in additional", () => {
    const a = ask("_https._tcp.kubernetes.default.svc.cluster.local", "SRV");
    assert.deepEqual(values(a), ["SRV 10 100 443 kubernetes.default.svc.cluster.local"]);
    assert.deepEqual(
      a.additional.map((r) => r.name),
      ["kubernetes.default.svc.cluster.local"],
    );
    assertNegative(ask("_http._tcp.kubernetes.default.svc.cluster.local", "SRV"), "NXDOMAIN");
    assertNegative(ask("_https._udp.kubernetes.default.svc.cluster.local", "SRV"), "NXDOMAIN");
    // the name exists, but has no A record
    assertNegative(ask("_https._tcp.kubernetes.default.svc.cluster.local", "A"), "NOERROR");
  });

  it("PTR for ClusterIPs, v4 and v6", () => {
    assert.deepEqual(values(ask("1.0.3.10.in-addr.arpa", "PTR")), ["PTR kubernetes.default.svc.cluster.local"]);
    const v6 = `${"1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0"}.8.b.d.0.1.0.0.2.ip6.arpa`;
    assert.deepEqual(values(ask(v6, "PTR")), ["PTR kubernetes6.default.svc.cluster.local"]);
  });

  it("headless: one A per ready endpoint, per-host names, SRV per endpoint x named port, PTR to the host name", () => {
    assert.deepEqual(values(ask("headless.default.svc.cluster.local", "A")), [
      "A 10.3.0.100",
      "A 10.3.0.2",
      "A 10.3.0.3",
    ]);
    assert.deepEqual(values(ask("my-pet.headless.default.svc.cluster.local", "A")), ["A 10.3.0.100"]);
    assert.deepEqual(values(ask("10-3-0-2.headless.default.svc.cluster.local", "A")), ["A 10.3.0.2"]);
    assertNegative(ask("10-3-0-99.headless.default.svc.cluster.local", "A"), "NXDOMAIN"); // not ready
    const srv = ask("_https._tcp.headless.default.svc.cluster.local", "SRV");
    assert.deepEqual(values(srv), [
      "SRV 10 100 443 my-pet.headless.default.svc.cluster.local",
      "SRV 10 100 443 10-3-0-2.headless.default.svc.cluster.local",
      "SRV 10 100 443 10-3-0-3.headless.default.svc.cluster.local",
    ]);
    assert.equal(srv.additional.length, 3);
    assert.deepEqual(values(ask("100.0.3.10.in-addr.arpa", "PTR")), ["PTR my-pet.headless.default.svc.cluster.local"]);
  });

  it("headless with no ready endpoints is NXDOMAIN (spec 2.4.1)", () => {
    assertNegative(ask("empty-headless.default.svc.cluster.local", "A"), "NXDOMAIN");
  });

  it("publishNotReadyAddresses serves not-ready endpoints", () => {
    assert.deepEqual(values(ask("notready.default.svc.cluster.local", "A")), ["A 10.3.1.7"]);
  });

  it("ExternalName: CNAME; an in-zone target is followed", () => {
    const a = ask("foo.default.svc.cluster.local", "A");
    assert.deepEqual(values(a), ["CNAME www.example.com"]);
    assert.equal(a.chase, "www.example.com");
    assert.deepEqual(values(ask("alias.default.svc.cluster.local", "A")), [
      "CNAME kubernetes.default.svc.cluster.local",
      "A 10.3.0.1",
    ]);
  });

  it("apex SOA and NS; svc/pod/namespace names are NODATA; unknown namespace NXDOMAIN", () => {
    assert.deepEqual(values(ask("cluster.local", "SOA")), ["SOA ns.dns.cluster.local"]);
    assert.deepEqual(values(ask("cluster.local", "NS")), ["NS ns.dns.cluster.local"]);
    assertNegative(ask("cluster.local", "A"), "NOERROR");
    assertNegative(ask("svc.cluster.local", "A"), "NOERROR");
    assertNegative(ask("pod.cluster.local", "A"), "NOERROR");
    assertNegative(ask("default.svc.cluster.local", "A"), "NOERROR");
    assertNegative(ask("empty-ns.svc.cluster.local", "A"), "NOERROR");
    assertNegative(ask("nope.svc.cluster.local", "A"), "NXDOMAIN");
    assertNegative(ask("kubernetes.nope.svc.cluster.local", "A"), "NXDOMAIN");
    assertNegative(ask("missing.default.svc.cluster.local", "A"), "NXDOMAIN");
    assertNegative(ask("other.cluster.local", "A"), "NXDOMAIN");
    assertNegative(ask("a.b.c.d.kubernetes.default.svc.cluster.local", "A"), "NXDOMAIN");
  });

  it("an existing name with another type is NODATA, e.g. MX", () => {
    assertNegative(ask("kubernetes.default.svc.cluster.local", "MX"), "NOERROR");
  });

  it("zone transfers are refused", () => {
    assert.equal(ask("cluster.local", "AXFR").rcode, "REFUSED");
  });

  it("SERVFAIL before the first sync", () => {
    for (const name of ["kubernetes.default.svc.cluster.local", "1.0.3.10.in-addr.arpa"]) {
      const a = lookup(undefined, opts, name.split("."), RRType.A) as ZoneAnswer;
      assert.equal(a.rcode, "SERVFAIL", name);
    }
  });

  it("names outside the zone, and unknown reverse names, pass to the next handler", () => {
    assert.equal(lookup(view, opts, ["example", "com"], RRType.A), PASS);
    assert.equal(lookup(view, opts, "9.9.9.9.in-addr.arpa".split("."), RRType.PTR), PASS);
    assert.equal(lookup(view, opts, "3.10.in-addr.arpa".split("."), RRType.PTR), PASS);
  });

  it("a custom zone is honoured", () => {
    const o: ZoneOptions = { zone: "k8s.example", ttl: 30, pods: "insecure" };
    const v = buildZoneView(specObjects(), o);
    assert.deepEqual(values(ask("kubernetes.default.svc.k8s.example", "A", v, o)), ["A 10.3.0.1"]);
    assert.equal(lookup(v, o, "kubernetes.default.svc.cluster.local".split("."), RRType.A), PASS);
  });
});

describe("pod records", () => {
  const objs = [
    namespace("default"),
    pod("default", "p", "10.244.1.5"),
    pod("default", "done", "10.244.1.6", "Succeeded"),
  ];
  it("insecure: A from the name when the namespace exists; v6 names; wrong family NODATA", () => {
    assert.deepEqual(values(ask("10-244-9-9.default.pod.cluster.local", "A")), ["A 10.244.9.9"]);
    assertNegative(ask("10-244-9-9.default.pod.cluster.local", "AAAA"), "NOERROR");
    assert.deepEqual(values(ask("fd00--1.default.pod.cluster.local", "AAAA")), ["AAAA fd00:0:0:0:0:0:0:1"]);
    assertNegative(ask("10-244-9-9.nope.pod.cluster.local", "A"), "NXDOMAIN");
    assertNegative(ask("not-an-ip.default.pod.cluster.local", "A"), "NXDOMAIN");
    assertNegative(ask("10-244-9-300.default.pod.cluster.local", "A"), "NXDOMAIN");
  });
  it("disabled: always NXDOMAIN", () => {
    const o: ZoneOptions = { ...opts, pods: "disabled" };
    assertNegative(ask("10-244-1-5.default.pod.cluster.local", "A", buildZoneView(objs, o), o), "NXDOMAIN");
  });
  it("verified: only IPs of running pods in that namespace", () => {
    const o: ZoneOptions = { ...opts, pods: "verified" };
    const v = buildZoneView([...objs, namespace("other")], o);
    assert.deepEqual(values(ask("10-244-1-5.default.pod.cluster.local", "A", v, o)), ["A 10.244.1.5"]);
    assertNegative(ask("10-244-1-5.other.pod.cluster.local", "A", v, o), "NXDOMAIN");
    assertNegative(ask("10-244-1-6.default.pod.cluster.local", "A", v, o), "NXDOMAIN");
    assertNegative(ask("10-244-1-7.default.pod.cluster.local", "A", v, o), "NXDOMAIN");
  });
});

describe("zone view", () => {
  it("de-duplicates endpoints repeated across slices and names v6 endpoints like CoreDNS", () => {
    const v = buildZoneView(
      [
        service("ns", "h", { clusterIP: "None" }),
        slice("ns", "h", [{ ip: "10.0.0.1" }], [{ name: "p", port: 1 }], "a"),
        slice("ns", "h", [{ ip: "10.0.0.1" }], [{ name: "p", port: 1 }], "b"),
        slice("ns", "h", [{ ip: "fd00::1" }], [{ name: "p", port: 1 }], "c"),
      ],
      opts,
    );
    const svc = v.services.get("h.ns");
    assert.deepEqual(svc?.endpoints.map(endpointHost), ["10-0-0-1", "fd00--1"]);
  });
  it("a ClusterIP reverse match wins over endpoint names", () => {
    const v = buildZoneView(
      [
        service("ns", "a", { clusterIP: "10.0.0.1", ports: [{ port: 1 }] }),
        service("ns", "b", { clusterIP: "None" }),
        slice("ns", "b", [{ ip: "10.0.0.1" }], []),
      ],
      opts,
    );
    assert.deepEqual(reverseNames(v, "10.0.0.1"), ["a.ns.svc.cluster.local"]);
  });
});
