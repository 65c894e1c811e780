import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import type { EndpointSlice, Service } from "../../../src/api/index.js";
import { FakeIptables } from "../../../src/netlinux/iptables.js";
import { IptablesProxier } from "../../../proxier/iptables/proxier.js";
import { parseRules, tracePacket } from "../../../proxier/rules/index.js";
import { runs } from "../../support/runs.js";

const NODE = "test-hostname";
const NODE_IP = "192.168.0.2";
const CLUSTER_CIDR = "10.0.0.0/8";
const N_SERVICES = 4;

interface SvcSpec {
  type: "ClusterIP" | "NodePort" | "LoadBalancer";
  proto: "TCP" | "UDP";
  etpLocal: boolean;
  itpLocal: boolean;
  affinity: boolean;
  externalIP: boolean;
  sourceRanges: boolean;
}
interface EpSpec {
  local: boolean;
  ready?: boolean;
  serving?: boolean;
  terminating?: boolean;
}

const svcSpec = fc.record({
  type: fc.constantFrom("ClusterIP", "NodePort", "LoadBalancer") as fc.Arbitrary<SvcSpec["type"]>,
  proto: fc.constantFrom("TCP", "UDP") as fc.Arbitrary<SvcSpec["proto"]>,
  etpLocal: fc.boolean(),
  itpLocal: fc.boolean(),
  affinity: fc.boolean(),
  externalIP: fc.boolean(),
  sourceRanges: fc.boolean(),
});
const epSpec = fc.record(
  {
    local: fc.boolean(),
    ready: fc.option(fc.boolean(), { nil: undefined }),
    serving: fc.option(fc.boolean(), { nil: undefined }),
    terminating: fc.option(fc.boolean(), { nil: undefined }),
  },
  { requiredKeys: ["local"] },
);
const epList = fc.array(epSpec, { maxLength: 4 });

function makeService(i: number, s: SvcSpec): Service {
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: { name: `svc${i}`, namespace: "ns" },
    spec: {
      type: s.type,
      clusterIP: `172.30.0.${i + 1}`,
      ports: [{ name: "p", port: 80, protocol: s.proto, ...(s.type !== "ClusterIP" ? { nodePort: 30000 + i } : {}) }],
      ...(s.etpLocal ? { externalTrafficPolicy: "Local" as const } : {}),
      ...(s.itpLocal ? { internalTrafficPolicy: "Local" as const } : {}),
      ...(s.affinity ? { sessionAffinity: "ClientIP" as const } : {}),
      ...(s.externalIP ? { externalIPs: [`192.168.99.${i + 1}`] } : {}),
      ...(s.sourceRanges ? { loadBalancerSourceRanges: ["203.0.113.0/25"] } : {}),
    },
    status: s.type === "LoadBalancer" ? { loadBalancer: { ingress: [{ ip: `1.2.3.${i + 1}` }] } } : {},
  };
}

function epIP(i: number, j: number): string {
  return `10.${i + 1}.0.${j + 1}`;
}

function makeSlice(i: number, proto: "TCP" | "UDP", eps: EpSpec[]): EndpointSlice {
  return {
    apiVersion: "discovery.k8s.io/v1",
    kind: "EndpointSlice",
    metadata: { name: `svc${i}-1`, namespace: "ns", labels: { "kubernetes.io/service-name": `svc${i}` } },
    addressType: "IPv4",
    endpoints: eps.map((e, j) => ({
      addresses: [epIP(i, j)],
      nodeName: e.local ? NODE : "other-node",
      conditions: {
        ...(e.ready !== undefined ? { ready: e.ready } : {}),
        ...(e.serving !== undefined ? { serving: e.serving } : {}),
        ...(e.terminating !== undefined ? { terminating: e.terminating } : {}),
      },
    })),
    ports: [{ name: "p", port: 8080, protocol: proto }],
  };
}

type Op =
  | { op: "service"; i: number; spec: SvcSpec }
  | { op: "slice"; i: number; eps: EpSpec[] }
  | { op: "deleteService"; i: number }
  | { op: "deleteSlice"; i: number }
  | { op: "fail" };

const idx = fc.integer({ min: 0, max: N_SERVICES - 1 });
const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ op: fc.constant("service" as const), i: idx, spec: svcSpec }),
  fc.record({ op: fc.constant("slice" as const), i: idx, eps: epList }),
  fc.record({ op: fc.constant("deleteService" as const), i: idx }),
  fc.record({ op: fc.constant("deleteSlice" as const), i: idx }),
  fc.record({ op: fc.constant("fail" as const) }),
);

function newProxier(ipt: FakeIptables) {
  const p = new IptablesProxier({
    iptables: ipt,
    nodeName: NODE,
    nodeIPs: [NODE_IP],
    render: { clusterCIDRs: [CLUSTER_CIDR], masqueradeMark: "0x4000" },
  });
  p.onServicesSynced();
  p.onEndpointSlicesSynced();
  return p;
}

/** Chain → rules per table; chain order is not part of the state (iptables-save orders them its own way). */
function kernelState(ipt: FakeIptables) {
  const sorted = (m: Map<string, string[]>) => Object.fromEntries([...m].sort(([a], [b]) => (a < b ? -1 : 1)));
  return { filter: sorted(ipt.dump("filter")), nat: sorted(ipt.dump("nat")), mangle: sorted(ipt.dump("mangle")) };
}

/** Services and slices the ops leave behind (for the reference proxier and the oracle). */
class World {
  services = new Map<number, Service>();
  slices = new Map<number, EndpointSlice>();
  protoOf = new Map<number, "TCP" | "UDP">();
  apply(p: IptablesProxier, o: Op, ipt: FakeIptables) {
    switch (o.op) {
      case "service": {
        const old = this.services.get(o.i);
        const s = makeService(o.i, o.spec);
        this.services.set(o.i, s);
        this.protoOf.set(o.i, o.spec.proto);
        p.onServiceUpdate(old, s);
        break;
      }
      case "slice": {
        const s = makeSlice(o.i, this.protoOf.get(o.i) ?? "TCP", o.eps);
        this.slices.set(o.i, s);
        p.onEndpointSliceUpdate(s);
        break;
      }
      case "deleteService": {
        const s = this.services.get(o.i);
        if (s) p.onServiceDelete(s);
        this.services.delete(o.i);
        break;
      }
      case "deleteSlice": {
        const s = this.slices.get(o.i);
        if (s) p.onEndpointSliceDelete(s);
        this.slices.delete(o.i);
        break;
      }
      case "fail":
        ipt.failNextRestores = 1;
        break;
    }
  }
}

/** Traces every service's flows on a fresh full sync and checks them against an independent endpoint oracle. */
async function checkFlows(specs: [SvcSpec, EpSpec[]][], src: string): Promise<void> {
  const ipt = new FakeIptables();
  const p = newProxier(ipt);
  specs.forEach(([s, eps], i) => {
    p.onServiceAdd(makeService(i, s));
    p.onEndpointSliceAdd(makeSlice(i, s.proto, eps));
  });
  assert.ok((await p.syncProxyRules()).ok);
  const dump = parseRules(ipt.saveSync("filter") + ipt.saveSync("nat"));
  const inCluster = src.startsWith("10.");
  specs.forEach(([s, eps], i) => {
    const proto = s.proto.toLowerCase() as "tcp" | "udp";
    const all = eps.map((e, j) => ({ ...e, ip: epIP(i, j) }));
    // kube-proxy's CategorizeEndpoints, written out independently of the renderer.
    const poolOf = (list: typeof all) => {
      const ready = list.filter((e) => e.ready !== false);
      if (ready.length) return ready;
      return list.filter((e) => e.serving !== false && e.terminating === true);
    };
    const clusterPool = poolOf(all).map((e) => e.ip);
    const localPool = poolOf(all.filter((e) => e.local)).map((e) => e.ip);
    const trace = (dst: string, dport: number) =>
      tracePacket(dump, { src, dst, dport, proto }, { nodeIPs: [NODE_IP] }).outcomes.filter((o) => o.target);
    const ipsOf = (os: { target: string | null }[]) => [...new Set(os.map((o) => o.target!.split(":")[0]!))].sort();
    // ClusterIP: exactly the policy's pool, masqueraded iff the source is outside the cluster CIDR.
    const cip = trace(`172.30.0.${i + 1}`, 80);
    const internal = s.itpLocal ? localPool : clusterPool;
    assert.deepEqual(ipsOf(cip), [...internal].sort(), `svc${i}: clusterIP targets`);
    for (const o of cip) assert.equal(o.masquerade, !inCluster, `svc${i}: masquerade iff off-cluster (${src})`);
    // NodePort from outside the cluster.
    if (s.type !== "ClusterIP" && !inCluster) {
      const np = trace(NODE_IP, 30000 + i);
      const external = s.etpLocal ? localPool : clusterPool;
      assert.deepEqual(ipsOf(np), [...external].sort(), `svc${i}: NodePort targets`);
      for (const o of np) assert.equal(o.masquerade, !s.etpLocal, "eTP=Local keeps the source, Cluster SNATs");
    }
  });
}

describe("iptables proxier properties", () => {
  it("partial syncs after any sequence of changes leave the same kernel state as one full sync", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 12 }), async (ops) => {
        const ipt = new FakeIptables();
        const p = newProxier(ipt);
        const world = new World();
        assert.ok((await p.syncProxyRules()).ok);
        for (const o of ops) {
          world.apply(p, o, ipt);
          await p.syncProxyRules();
        }
        const final = await p.syncProxyRules(); // a failure injected last is repaired here
        assert.ok(final.ok);
        const fresh = new FakeIptables();
        const q = newProxier(fresh);
        for (const s of world.services.values()) q.onServiceAdd(s);
        for (const s of world.slices.values()) q.onEndpointSliceAdd(s);
        assert.ok((await q.syncProxyRules()).ok);
        assert.deepEqual(kernelState(ipt), kernelState(fresh));
      }),
      { numRuns: runs(300, 60) },
    );
  });

  it("flows reach ready endpoints, Local policies never pick a remote endpoint, masquerade iff source is off-cluster", async () => {
    const srcArb = fc.constantFrom(
      "10.200.0.7", // a pod (inside the cluster CIDR, not an endpoint)
      "203.0.113.9", // an external client
      "198.51.100.20", // another external client
    );
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(svcSpec, epList), { minLength: 1, maxLength: N_SERVICES }),
        srcArb,
        checkFlows,
      ),
      { numRuns: runs(300, 60) },
    );
  });
});
