/**
 * `dig` against `podwire dns serve --objects` on 127.0.0.1 (random port): the spec's example queries, negative
 * answers, TCP fallback for a large headless service, reload on file change, forwarding + caching against a
 * loopback upstream, and a clean stop on SIGTERM.
 */
import assert from "node:assert/strict";
import { mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { service, slice, specObjects } from "../../unit/dns/fixtures.js";
import { dig, type Served, serveDns, startUpstream, type Upstream } from "./support.js";

const dir = mkdtempSync(join(tmpdir(), "podwire-dns-"));
const objectsFile = join(dir, "cluster.json");

function bigHeadless(n: number) {
  const eps = Array.from({ length: n }, (_, i) => ({ ip: `10.7.${Math.floor(i / 200)}.${(i % 200) + 1}` }));
  return [
    service("default", "big", { clusterIP: "None", ports: [{ name: "http", port: 80 }] }),
    slice("default", "big", eps, [{ name: "http", port: 80 }]),
  ];
}

function writeObjects(objs: unknown[]) {
  const tmp = `${objectsFile}.tmp`;
  writeFileSync(tmp, JSON.stringify({ apiVersion: "v1", kind: "List", items: objs }));
  renameSync(tmp, objectsFile);
}

let server: Served;
let upstream: Upstream;

describe("podwire dns serve, queried with dig", () => {
  before(async () => {
    writeObjects([...specObjects(), ...bigHeadless(120)]);
    upstream = await startUpstream();
    server = await serveDns(["--objects", objectsFile, "--upstream", `127.0.0.1:${upstream.port}`]);
  });
  after(async () => {
    try {
      await server?.stop();
      await upstream?.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("dns-version TXT", async () => {
    const r = await dig(server.port, "dns-version.cluster.local", "TXT");
    assert.equal(r.status, "NOERROR");
    assert.deepEqual(
      r.answer.map((a) => [a.ttl, a.type, a.data]),
      [[28800, "TXT", '"1.1.0"']],
    );
  });

  it("ClusterIP A, AAAA, SRV and PTR (v4 and v6)", async () => {
    const a = await dig(server.port, "kubernetes.default.svc.cluster.local", "A");
    assert.ok(a.flags.includes("aa"));
    assert.deepEqual(
      a.answer.map((x) => [x.name, x.type, x.data]),
      [["kubernetes.default.svc.cluster.local.", "A", "10.3.0.1"]],
    );
    const aaaa = await dig(server.port, "kubernetes6.default.svc.cluster.local", "AAAA");
    assert.deepEqual(
      aaaa.answer.map((x) => x.data),
      ["2001:db8::1"],
    );
    const srv = await dig(server.port, "_https._tcp.kubernetes.default.svc.cluster.local", "SRV");
    assert.deepEqual(
      srv.answer.map((x) => x.data),
      ["10 100 443 kubernetes.default.svc.cluster.local."],
    );
    const ptr = await dig(server.port, "1.0.3.10.in-addr.arpa", "PTR");
    assert.deepEqual(
      ptr.answer.map((x) => x.data),
      ["kubernetes.default.svc.cluster.local."],
    );
    const ptr6 = await dig(server.port, "-x", "2001:db8::1");
    assert.deepEqual(
      ptr6.answer.map((x) => x.data),
      ["kubernetes6.default.svc.cluster.local."],
    );
  });

  it("headless: A per ready endpoint, hostname records, SRV per endpoint, PTR", async () => {
    const a = await dig(server.port, "headless.default.svc.cluster.local", "A");
    assert.deepEqual(a.answer.map((x) => x.data).sort(), ["10.3.0.100", "10.3.0.2", "10.3.0.3"]);
    const pet = await dig(server.port, "my-pet.headless.default.svc.cluster.local", "A");
    assert.deepEqual(
      pet.answer.map((x) => x.data),
      ["10.3.0.100"],
    );
    const srv = await dig(server.port, "_https._tcp.headless.default.svc.cluster.local", "SRV");
    assert.ok(srv.answer.map((x) => x.data).includes("10 100 443 my-pet.headless.default.svc.cluster.local."));
    assert.equal(srv.answer.length, 3);
    const ptr = await dig(server.port, "100.0.3.10.in-addr.arpa", "PTR");
    assert.deepEqual(
      ptr.answer.map((x) => x.data),
      ["my-pet.headless.default.svc.cluster.local."],
    );
  });

  it("ExternalName: CNAME followed by the target's address from upstream", async () => {
    const upstreamExternal = await dig(server.port, "foo.default.svc.cluster.local", "A");
    assert.equal(upstreamExternal.answer[0]?.type, "CNAME");
    assert.equal(upstreamExternal.answer[0]?.data, "www.example.com.");
    assert.deepEqual(
      upstreamExternal.answer.slice(1).map((x) => [x.name, x.type, x.data]),
      [["www.example.com.", "A", "192.0.2.53"]],
    );
  });

  it("negative answers: NXDOMAIN vs NODATA, SOA in authority, case-insensitive", async () => {
    const nx = await dig(server.port, "nope.default.svc.cluster.local", "A");
    assert.equal(nx.status, "NXDOMAIN");
    assert.equal(nx.authority[0]?.type, "SOA");
    assert.match(
      nx.authority[0]?.data ?? "",
      /^ns\.dns\.cluster\.local\. hostmaster\.cluster\.local\. \d+ 7200 1800 86400 5$/,
    );
    const nodata = await dig(server.port, "kubernetes.default.svc.cluster.local", "AAAA");
    assert.equal(nodata.status, "NOERROR");
    assert.equal(nodata.answer.length, 0);
    assert.equal(nodata.authority[0]?.type, "SOA");
    const empty = await dig(server.port, "empty-headless.default.svc.cluster.local", "A");
    assert.equal(empty.status, "NXDOMAIN");
    const ns = await dig(server.port, "default.svc.cluster.local", "A");
    assert.equal(ns.status, "NOERROR");
    assert.equal(ns.answer.length, 0);
    const upper = await dig(server.port, "KUBERNETES.DEFAULT.SVC.CLUSTER.LOCAL", "A");
    assert.equal(upper.answer[0]?.name, "KUBERNETES.DEFAULT.SVC.CLUSTER.LOCAL.");
    assert.equal(upper.answer[0]?.data, "10.3.0.1");
  });

  it("large headless service: UDP reply truncated with whole records, dig retries over TCP and gets all", async () => {
    const udp = await dig(server.port, "big.default.svc.cluster.local", "A", ["+ignore", "+noedns"]);
    assert.ok(udp.flags.includes("tc"), `flags: ${udp.flags}`);
    assert.ok(udp.answer.length > 0 && udp.answer.length < 120, `${udp.answer.length} records over UDP`);
    const fallback = await dig(server.port, "big.default.svc.cluster.local", "A");
    assert.equal(fallback.answer.length, 120);
    assert.match(fallback.raw, /\(TCP\)/);
  });

  it("forwards other names to the upstream and caches them (TTL-honouring, negative too)", async () => {
    const before = upstream.queries();
    const a = await dig(server.port, "host1.example.test", "A");
    assert.equal(a.status, "NOERROR");
    assert.deepEqual(
      a.answer.map((x) => x.data),
      ["192.0.2.53"],
    );
    assert.ok(a.flags.includes("ra"));
    const again = await dig(server.port, "host1.example.test", "A");
    assert.ok((again.answer[0]?.ttl ?? 99) <= 60);
    const nx = await dig(server.port, "missing.example.test", "A");
    assert.equal(nx.status, "NXDOMAIN");
    await dig(server.port, "missing.example.test", "A");
    assert.equal(upstream.queries() - before, 2, "one upstream query per name");
  });

  it("reloads the objects file when it changes", async () => {
    writeObjects([...specObjects(), service("default", "fresh", { clusterIP: "10.3.9.9", ports: [{ port: 80 }] })]);
    let r = await dig(server.port, "fresh.default.svc.cluster.local", "A");
    for (let i = 0; i < 50 && r.status !== "NOERROR"; i++) {
      await sleep(100);
      r = await dig(server.port, "fresh.default.svc.cluster.local", "A");
    }
    assert.deepEqual(
      r.answer.map((x) => x.data),
      ["10.3.9.9"],
    );
    // a broken file keeps the last good objects
    writeFileSync(objectsFile, "{ not yaml: [");
    await sleep(1500);
    const still = await dig(server.port, "fresh.default.svc.cluster.local", "A");
    assert.equal(still.answer[0]?.data, "10.3.9.9");
  });

  it("stops cleanly on SIGTERM", async () => {
    const code = await server.stop();
    assert.equal(code, 0);
  });
});
