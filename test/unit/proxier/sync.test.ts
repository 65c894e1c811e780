import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { EndpointSlice, Service } from "../../../src/api/index.js";
import { FakeConntrack } from "../../../src/netlinux/conntrack.js";
import { FakeIptables } from "../../../src/netlinux/iptables.js";
import { HealthState, ProxierMetrics } from "../../../proxier/metrics.js";
import { IptablesProxier } from "../../../proxier/iptables/proxier.js";
import { makeTestEndpointSlice, makeTestService, testHostname, testNodeIP } from "./fixtures.js";

const opts = { clusterCIDRs: ["10.0.0.0/8"], masqueradeMark: "0x4000" };

function svc(n: number, mutate: (s: Service) => void = () => {}): Service {
  return makeTestService("ns", `svc${n}`, (s) => {
    s.spec.clusterIP = `172.30.0.${n}`;
    s.spec.ports = [{ name: "p", port: 80, protocol: "TCP" }];
    mutate(s);
  });
}
function slice(n: number, ips: string[], proto: "TCP" | "UDP" = "TCP"): EndpointSlice {
  return makeTestEndpointSlice("ns", `svc${n}`, 1, (e) => {
    e.endpoints = ips.map((ip) => ({ addresses: [ip], nodeName: testHostname }));
    e.ports = [{ name: "p", port: 8080, protocol: proto }];
  });
}

function newProxier(ipt = new FakeIptables(), extra: Partial<ConstructorParameters<typeof IptablesProxier>[0]> = {}) {
  const metrics = new ProxierMetrics();
  const p = new IptablesProxier({
    iptables: ipt,
    nodeName: testHostname,
    nodeIPs: [testNodeIP],
    render: opts,
    metrics,
    minSyncPeriodMs: 0,
    ...extra,
  });
  return { p, ipt, metrics };
}

/** The nat+filter state a single full restore of the proxier's current objects would leave in a fresh kernel. */
async function freshState(p: IptablesProxier) {
  const ipt = new FakeIptables();
  const q = newProxier(ipt).p;
  for (const s of p.tracker.services.values()) q.onServiceAdd(s);
  for (const s of p.tracker.slices.values()) q.onEndpointSliceAdd(s);
  q.onServicesSynced();
  q.onEndpointSlicesSynced();
  await q.syncProxyRules();
  return ipt;
}

function tablesOf(ipt: FakeIptables) {
  return { nat: Object.fromEntries(ipt.dump("nat")), filter: Object.fromEntries(ipt.dump("filter")) };
}

async function started(n = 3) {
  const env = newProxier();
  for (let i = 1; i <= n; i++) {
    env.p.onServiceAdd(svc(i));
    env.p.onEndpointSliceAdd(slice(i, [`10.1.${i}.1`, `10.1.${i}.2`]));
  }
  env.p.onServicesSynced();
  env.p.onEndpointSlicesSynced();
  const first = await env.p.syncProxyRules();
  assert.ok(first.ok && first.full);
  return env;
}

describe("iptables proxier sync loop (fake kernel)", () => {
  it("writes nothing before Services and EndpointSlices have synced", async () => {
    const { p, ipt } = newProxier();
    p.onServiceAdd(svc(1));
    const r = await p.syncProxyRules();
    assert.equal(r.ok, false);
    assert.equal(ipt.restores.length, 0);
  });

  it("first sync is full: jump rules, canary chains and the full payload", async () => {
    const { ipt } = await started();
    assert.ok(
      ipt.tables
        .get("nat")!
        .get("PREROUTING")!
        .some((r) => r.includes("-j KUBE-SERVICES")),
    );
    for (const t of ["mangle", "nat", "filter"] as const) assert.ok(ipt.tables.get(t)!.has("KUBE-PROXY-CANARY"));
    assert.equal(ipt.tables.get("nat")!.get("KUBE-SERVICES")!.length, 4, "3 cluster IPs + the NodePorts jump");
  });

  it("partial sync after one endpoint change rewrites only that service's chains, not shared chains", async () => {
    const { p, ipt } = await started();
    p.onEndpointSliceUpdate(slice(2, ["10.1.2.1", "10.1.2.9"]));
    const r = await p.syncProxyRules();
    assert.ok(r.ok && !r.full);
    const payload = ipt.restores.at(-1)!;
    assert.ok(!payload.includes(":KUBE-SERVICES "), "KUBE-SERVICES untouched");
    assert.ok(!payload.includes(":KUBE-NODEPORTS "), "KUBE-NODEPORTS untouched");
    assert.ok(!payload.includes("*filter"), "filter table untouched");
    assert.ok(payload.includes("ns/svc2:p -> 10.1.2.9:8080"));
    assert.ok(!payload.includes("ns/svc1:p"), "other services untouched");
    assert.match(payload, /-X KUBE-SEP-/, "the removed endpoint's chain is deleted");
    assert.deepEqual(tablesOf(ipt), tablesOf(await freshState(p)));
  });

  it("a sync without changes writes nothing", async () => {
    const { p, ipt } = await started();
    const before = ipt.restores.length;
    const r = await p.syncProxyRules();
    assert.ok(r.ok && r.plan?.empty);
    assert.equal(ipt.restores.length, before);
  });

  it("deleting a service deletes its chains and rewrites KUBE-SERVICES", async () => {
    const { p, ipt } = await started();
    p.onServiceDelete(svc(3));
    await p.syncProxyRules();
    const payload = ipt.restores.at(-1)!;
    assert.ok(payload.includes(":KUBE-SERVICES - [0:0]"));
    assert.ok(!payload.includes("*filter"), "filter chains did not change");
    assert.deepEqual(tablesOf(ipt), tablesOf(await freshState(p)));
  });

  it("a failed restore keeps the previous rules; the next sync is full and repairs", async () => {
    const { p, ipt, metrics } = await started();
    const before = tablesOf(ipt);
    p.onEndpointSliceUpdate(slice(1, ["10.1.1.7"]));
    ipt.failNextRestores = 1;
    const bad = await p.syncProxyRules();
    assert.equal(bad.ok, false);
    assert.equal(bad.full, false);
    assert.deepEqual(tablesOf(ipt), before, "kernel keeps the previous rules");
    const good = await p.syncProxyRules();
    assert.ok(good.ok && good.full, "retry is a full sync");
    assert.deepEqual(tablesOf(ipt), tablesOf(await freshState(p)));
    const text = await metrics.registry.metrics();
    assert.match(text, /kubeproxy_sync_proxy_rules_iptables_restore_failures_total 1/);
    assert.match(text, /kubeproxy_sync_proxy_rules_iptables_partial_restore_failures_total 1/);
  });

  it("when the canary vanishes (rules flushed), the next sync is full and restores jump rules", async () => {
    const { p, ipt } = await started();
    ipt.flushAndDelete("mangle", "KUBE-PROXY-CANARY");
    ipt.tables.get("nat")!.set("PREROUTING", []);
    assert.equal(await p.checkCanary(), false);
    const r = await p.syncProxyRules();
    assert.ok(r.ok && r.full);
    assert.ok(
      ipt.tables
        .get("nat")!
        .get("PREROUTING")!
        .some((l) => l.includes("-j KUBE-SERVICES")),
    );
    assert.ok(ipt.tables.get("mangle")!.has("KUBE-PROXY-CANARY"));
  });

  it("full syncs delete stale service chains left in the kernel by an earlier run", async () => {
    const ipt = new FakeIptables();
    ipt.restoreSync(
      "*nat\n:KUBE-SVC-STALESTALESTALE1 - [0:0]\n:KUBE-SEP-STALESTALESTALE2 - [0:0]\n-A KUBE-SVC-STALESTALESTALE1 -j KUBE-SEP-STALESTALESTALE2\nCOMMIT\n",
    );
    const { p } = newProxier(ipt);
    p.onServiceAdd(svc(1));
    p.onServicesSynced();
    p.onEndpointSlicesSynced();
    const r = await p.syncProxyRules();
    assert.ok(r.ok, r.error?.message);
    assert.ok(!ipt.tables.get("nat")!.has("KUBE-SVC-STALESTALESTALE1"));
    assert.ok(!ipt.tables.get("nat")!.has("KUBE-SEP-STALESTALESTALE2"));
  });

  it("metrics: rule counts per table and sync durations with kube-proxy's names", async () => {
    const { p, metrics } = await started();
    const text = await metrics.registry.metrics();
    const nat = p.lastRender!.stats.natRules;
    assert.match(text, new RegExp(`kubeproxy_sync_proxy_rules_iptables_total\\{table="nat"\\} ${nat}`));
    assert.match(text, /kubeproxy_sync_full_proxy_rules_duration_seconds_count 1/);
    p.onEndpointSliceUpdate(slice(1, ["10.1.1.5"]));
    await p.syncProxyRules();
    assert.match(await metrics.registry.metrics(), /kubeproxy_sync_partial_proxy_rules_duration_seconds_count 1/);
  });

  it("UDP conntrack: entries DNATed to a removed endpoint and 0→N service IPs are deleted", async () => {
    const ct = new FakeConntrack();
    const { p } = newProxier(new FakeIptables(), { conntrack: ct });
    const udp = svc(5, (s) => (s.spec.ports = [{ name: "p", port: 53, protocol: "UDP", nodePort: 30053 }]));
    udp.spec.type = "NodePort";
    p.onServiceAdd(udp);
    p.onServicesSynced();
    p.onEndpointSlicesSynced();
    await p.syncProxyRules();
    assert.deepEqual(ct.deletions, [], "first sync deletes nothing");
    p.onEndpointSliceAdd(slice(5, ["10.5.0.1", "10.5.0.2"], "UDP"));
    await p.syncProxyRules();
    assert.deepEqual(ct.deletions.splice(0), [
      { kind: "ip", ip: "172.30.0.5", proto: "udp" },
      { kind: "port", port: 30053, proto: "udp", family: "IPv4" },
    ]);
    p.onEndpointSliceUpdate(slice(5, ["10.5.0.1"], "UDP"));
    await p.syncProxyRules();
    assert.deepEqual(ct.deletions.splice(0), [
      { kind: "nat", origin: "172.30.0.5", dest: "10.5.0.2", proto: "udp" },
      { kind: "portnat", port: 30053, dest: "10.5.0.2", proto: "udp" },
    ]);
  });

  it("health turns unhealthy when a queued update is not programmed within the timeout", () => {
    let now = 1000;
    const h = new HealthState(500, () => now);
    h.updated();
    assert.ok(h.healthy());
    now = 1100;
    h.queued();
    now = 1500;
    assert.ok(h.healthy());
    now = 1700;
    assert.ok(!h.healthy());
    h.updated();
    assert.ok(h.healthy());
  });

  it("the runner starts syncs no closer than minSyncPeriod and coalesces requests", async () => {
    const ipt = new FakeIptables();
    const { p } = newProxier(ipt, { minSyncPeriodMs: 150, syncPeriodMs: 60_000 });
    // Record when each sync starts (the runner calls the method through the instance). Only counts per burst and
    // gaps (10 ms allowed for timer granularity) are asserted — never how many syncs fit into a window of wall
    // time, which a loaded machine stretches.
    const starts: number[] = [];
    const sync = p.syncProxyRules.bind(p);
    p.syncProxyRules = () => {
      starts.push(performance.now());
      return sync();
    };
    const servicePorts = async (n: number) => {
      for (let i = 0; i < 3000 && p.lastRender?.stats.servicePorts !== n; i++)
        await new Promise((r) => setTimeout(r, 10));
      assert.equal(p.lastRender?.stats.servicePorts, n);
    };
    p.onServicesSynced();
    p.onEndpointSlicesSynced();
    p.start();
    try {
      for (let i = 1; i <= 5; i++) p.onServiceAdd(svc(i));
      await servicePorts(5);
      assert.ok(starts.length <= 2, `5 changes in one burst coalesce into at most 2 syncs, got ${starts.length}`);
      for (let i = 6; i <= 8; i++) {
        p.onServiceAdd(svc(i));
        await new Promise((r) => setImmediate(r));
      }
      await servicePorts(8);
      for (let i = 1; i < starts.length; i++)
        assert.ok(
          starts[i]! - starts[i - 1]! >= 140,
          `sync ${i} started ${starts[i]! - starts[i - 1]!} ms after the one before`,
        );
    } finally {
      await p.stop();
    }
  });
});
