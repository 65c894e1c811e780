import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { EndpointSlice, Service } from "../../../src/api/index.js";
import { ConntrackRunner } from "../../../src/netlinux/conntrack.js";
import { type Iptables, IptablesRunner, type Table } from "../../../src/netlinux/iptables.js";
import { runIn } from "../../../src/netlinux/netns.js";
import { IptablesProxier } from "../../../proxier/iptables/proxier.js";
import { CLIENT_IP, EXTERNAL_IP, NODE_IP, ProxyWorld, tally } from "./world.js";

const NODE = "node-a";

/** Wraps the real runner; `corruptNext` makes the next restore carry a line the kernel rejects. */
class FlakyIptables implements Iptables {
  corruptNext = 0;
  constructor(readonly inner: IptablesRunner) {}
  get family() {
    return this.inner.family;
  }
  restore(payload: string) {
    if (this.corruptNext > 0) {
      this.corruptNext--;
      payload = payload.replace(/COMMIT\n$/, "-A KUBE-NO-SUCH-CHAIN -j ACCEPT\nCOMMIT\n");
    }
    return this.inner.restore(payload);
  }
  save(t: Table) {
    return this.inner.save(t);
  }
  ensureChain(t: Table, c: string) {
    return this.inner.ensureChain(t, c);
  }
  chainExists(t: Table, c: string) {
    return this.inner.chainExists(t, c);
  }
  ensureRule(p: "prepend" | "append", t: Table, c: string, a: string[]) {
    return this.inner.ensureRule(p, t, c, a);
  }
  hasRandomFully() {
    return this.inner.hasRandomFully();
  }
}

function service(name: string, ip: string, mutate: (s: Service) => void = () => {}): Service {
  const s: Service = {
    apiVersion: "v1",
    kind: "Service",
    metadata: { name, namespace: "default" },
    spec: {
      clusterIP: ip,
      ports: [
        { name: "http", port: 80, protocol: "TCP" },
        { name: "dns", port: 53, protocol: "UDP" },
      ],
    },
  };
  mutate(s);
  return s;
}

function slice(name: string, ips: string[]): EndpointSlice {
  return {
    apiVersion: "discovery.k8s.io/v1",
    kind: "EndpointSlice",
    metadata: { name: `${name}-1`, namespace: "default", labels: { "kubernetes.io/service-name": name } },
    addressType: "IPv4",
    endpoints: ips.map((ip) => ({ addresses: [ip], nodeName: NODE })),
    ports: [
      { name: "http", port: 8080, protocol: "TCP" },
      { name: "dns", port: 5353, protocol: "UDP" },
    ],
  };
}

for (const backend of ["nft", "legacy"] as const) {
  describe(`iptables proxier on the real kernel (${backend} backend)`, () => {
    const w = new ProxyWorld();
    let ipt: FlakyIptables;
    let p: IptablesProxier;
    const b1 = "10.244.1.2";
    const b2 = "10.244.2.2";

    before(async () => {
      await w.setup(2);
      ipt = new FlakyIptables(new IptablesRunner({ backend, netns: w.node, waitSeconds: 60 }));
      p = new IptablesProxier({
        iptables: ipt,
        conntrack: new ConntrackRunner(w.node),
        nodeName: NODE,
        nodeIPs: [NODE_IP],
        render: { clusterCIDRs: ["10.244.0.0/16"], localhostNodePorts: false },
        minSyncPeriodMs: 0,
      });
      p.onServiceAdd(
        service("web", "10.96.0.10", (s) => {
          s.spec.type = "NodePort";
          s.spec.ports![0]!.nodePort = 30080;
          s.spec.externalIPs = [EXTERNAL_IP];
        }),
      );
      p.onEndpointSliceAdd(slice("web", [b1, b2]));
      p.onServiceAdd(
        service("sticky", "10.96.0.11", (s) => {
          s.spec.sessionAffinity = "ClientIP";
          s.spec.sessionAffinityConfig = { clientIP: { timeoutSeconds: 600 } };
        }),
      );
      p.onEndpointSliceAdd(slice("sticky", [b1, b2]));
      p.onServiceAdd(service("empty", "10.96.0.12"));
      p.onServicesSynced();
      p.onEndpointSlicesSynced();
      const r = await p.syncProxyRules();
      assert.ok(r.ok && r.full, r.error?.message);
      // The client reaches service IPs through the node.
      await runIn(w.client, "ip", ["route", "add", "10.96.0.0/12", "via", NODE_IP]);
      await runIn(w.client, "ip", ["route", "add", `${EXTERNAL_IP}/32`, "via", NODE_IP]);
    });
    after(async () => {
      await p?.stop();
      await w.cleanup();
    });

    it("ClusterIP TCP traffic is answered by both backends (load spread)", async () => {
      const t = tally(await w.tcp("10.96.0.10", 80, 40));
      assert.deepEqual(Object.keys(t).sort(), ["backend-1", "backend-2"], JSON.stringify(t));
      assert.ok(t["backend-1"]! >= 6 && t["backend-2"]! >= 6, `spread: ${JSON.stringify(t)}`);
    });

    it("ClusterIP UDP traffic is answered", async () => {
      const r = await w.udp("10.96.0.10", 53, 6);
      assert.ok(
        r.every((x) => x.startsWith("backend-")),
        JSON.stringify(r),
      );
    });

    it("NodePort and externalIP traffic is answered", async () => {
      assert.ok((await w.tcp(NODE_IP, 30080, 4)).every((x) => x.startsWith("backend-")));
      assert.ok((await w.tcp(EXTERNAL_IP, 80, 4)).every((x) => x.startsWith("backend-")));
    });

    it("ClientIP affinity keeps a client on one backend", async () => {
      const t = tally(await w.tcp("10.96.0.11", 80, 20));
      assert.equal(Object.keys(t).length, 1, JSON.stringify(t));
    });

    it("a service without endpoints REJECTs (connection refused, not a timeout)", async () => {
      const r = await w.tcp("10.96.0.12", 80, 2);
      assert.deepEqual(r, ["ERR:ECONNREFUSED", "ERR:ECONNREFUSED"]);
    });

    it("a pod reaching its own service through the ClusterIP is hairpin-masqueraded and answered", async () => {
      const r = await w.tcp("10.96.0.10", 80, 10, w.backends[0]!.ns);
      assert.ok(
        r.every((x) => x.startsWith("backend-")),
        JSON.stringify(r),
      );
    });

    it("a rejected restore leaves the previous rules working; the next (full) sync applies the change", async () => {
      p.onEndpointSliceUpdate(slice("web", [b2]));
      ipt.corruptNext = 1;
      const bad = await p.syncProxyRules();
      assert.equal(bad.ok, false);
      assert.equal(bad.full, false);
      const during = tally(await w.tcp("10.96.0.10", 80, 20));
      assert.ok(during["backend-1"] && during["backend-2"], `old rules still in place: ${JSON.stringify(during)}`);
      const good = await p.syncProxyRules();
      assert.ok(good.ok && good.full, good.error?.message);
      assert.deepEqual(tally(await w.tcp("10.96.0.10", 80, 10)), { "backend-2": 10 });
    });

    it("partial sync after an endpoint change writes only the changed service's chains", async () => {
      p.onEndpointSliceUpdate(slice("web", [b1, b2]));
      const r = await p.syncProxyRules();
      assert.ok(r.ok && !r.full, r.error?.message);
      assert.ok(!r.plan!.payload.includes(":KUBE-SERVICES "), "shared chains untouched");
      assert.ok(
        r.plan!.writtenChains.nat.every((c) => /^KUBE-(SVC|SEP|EXT)-/.test(c)),
        r.plan!.payload,
      );
      const t = tally(await w.tcp("10.96.0.10", 80, 30));
      assert.ok(t["backend-1"] && t["backend-2"], JSON.stringify(t));
    });

    it("after someone flushes the nat and mangle tables, the canary triggers a full resync that repairs", async () => {
      for (const table of ["nat", "mangle"]) {
        await runIn(w.node, `iptables-${backend}`, ["-w", "60", "-t", table, "-F"]);
        await runIn(w.node, `iptables-${backend}`, ["-w", "60", "-t", table, "-X"]);
      }
      const broken = await w.tcp("10.96.0.10", 80, 1);
      assert.notEqual(broken[0]?.startsWith("backend-"), true, "traffic is broken after the flush");
      assert.equal(await p.checkCanary(), false);
      const r = await p.syncProxyRules();
      assert.ok(r.ok && r.full, r.error?.message);
      assert.ok((await w.tcp("10.96.0.10", 80, 4)).every((x) => x.startsWith("backend-")));
    });

    it("UDP conntrack entries pinned to a removed endpoint are deleted", async () => {
      // One client socket (fixed source port) is pinned to some backend by conntrack.
      const first = await w.udp("10.96.0.10", 53, 3, 40053);
      assert.equal(new Set(first).size, 1, JSON.stringify(first));
      const pinned = first[0]!;
      const keep = pinned === "backend-1" ? b2 : b1;
      p.onEndpointSliceUpdate(slice("web", [keep]));
      const r = await p.syncProxyRules();
      assert.ok(r.ok, r.error?.message);
      const afterChange = await w.udp("10.96.0.10", 53, 3, 40053);
      assert.ok(
        afterChange.every((x) => x !== pinned && x.startsWith("backend-")),
        `${pinned} → ${JSON.stringify(afterChange)}`,
      );
      void CLIENT_IP;
    });
  });
}
