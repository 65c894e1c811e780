/**
 * One partial sync with N services present (default 1,000, one endpoint each, as in the e2e bench): the proxier
 * in a throwaway namespace, real iptables; per step one new Service + EndpointSlice, then one sync. Side by side:
 * in-place edits of the dispatch chains (what the sandbox runs) vs rewriting every changed chain whole (kube-proxy's
 * partial sync), on the nft and legacy backends. Prints wall time of the sync and its phases (render / plan /
 * iptables-restore), restore lines, and the ratio.
 *   npm run build && node dist/test/bench/e2e/partial-sync.js [--services 1000] [--steps 15]
 */
import { loadavg } from "node:os";
import type { EndpointSlice, Service } from "../../../src/api/index.js";
import { type Backend, IptablesRunner } from "../../../src/netlinux/iptables.js";
import { addNetns, delNetns } from "../../../src/netlinux/netns.js";
import { IptablesProxier, type SyncOutcome } from "../../../proxier/iptables/proxier.js";

const arg = (name: string, def: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? def) : def;
};
const N = Number(arg("services", "1000"));
const STEPS = Number(arg("steps", "15"));

function svc(i: number): Service {
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: { name: `s${i}`, namespace: "bench" },
    spec: {
      clusterIP: `10.96.${(i >> 8) & 255}.${i & 255}`,
      selector: { a: "b" },
      ports: [{ port: 80, targetPort: 8080, protocol: "TCP" }],
    },
  };
}
function slice(i: number): EndpointSlice {
  return {
    apiVersion: "discovery.k8s.io/v1",
    kind: "EndpointSlice",
    metadata: { name: `s${i}-x`, namespace: "bench", labels: { "kubernetes.io/service-name": `s${i}` } },
    addressType: "IPv4",
    endpoints: [{ addresses: ["10.244.1.5"], nodeName: "node1", conditions: { ready: true } }],
    ports: [{ port: 8080, protocol: "TCP" }],
  };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;

async function measure(backend: Backend, incrementalEdits: boolean) {
  const ns = `pwps${process.pid % 10000}`;
  await delNetns(ns).catch(() => {});
  await addNetns(ns);
  try {
    const p = new IptablesProxier({
      iptables: new IptablesRunner({ backend, netns: ns }),
      nodeName: "node1",
      nodeIPs: ["198.18.0.1"],
      render: { clusterCIDRs: ["10.244.0.0/16"] },
      incrementalEdits,
      minSyncPeriodMs: 3_600_000,
      syncPeriodMs: 3_600_000,
    });
    p.onServicesSynced();
    p.onEndpointSlicesSynced();
    // N + 1 endpoints from the start, so adding services does not cross the large-cluster threshold mid-run.
    for (let i = 0; i < N; i++) {
      p.onServiceAdd(svc(i));
      p.onEndpointSliceAdd(slice(i));
    }
    const full = await p.syncProxyRules();
    if (!full.ok) throw full.error;
    const outs: SyncOutcome[] = [];
    for (let k = 0; k < STEPS; k++) {
      p.onServiceAdd(svc(N + k));
      p.onEndpointSliceAdd(slice(N + k));
      const o = await p.syncProxyRules();
      if (!o.ok || o.full) throw new Error(`step ${k}: ${o.error?.message ?? "full sync"}`);
      outs.push(o);
    }
    return {
      fullMs: full.durationMs,
      wall: median(outs.map((o) => o.durationMs)),
      render: median(outs.map((o) => o.phases?.renderMs ?? 0)),
      plan: median(outs.map((o) => o.phases?.planMs ?? 0)),
      restore: median(outs.map((o) => o.phases?.iptablesMs ?? 0)),
      lines: median(outs.map((o) => o.plan?.totalLines ?? 0)),
    };
  } finally {
    await delNetns(ns);
  }
}

async function main() {
  const load = () =>
    loadavg()
      .map((x) => x.toFixed(1))
      .join(" ");
  console.log(`partial sync with ${N} services present, one new service per sync, median of ${STEPS}; load ${load()}`);
  for (const backend of ["nft", "legacy"] as const) {
    const inc = await measure(backend, true);
    const whole = await measure(backend, false);
    for (const [name, r] of [
      ["in-place edits", inc],
      ["whole chains  ", whole],
    ] as const) {
      console.log(
        `  ${backend.padEnd(6)} ${name}: ${String(r.wall).padStart(4)} ms (render ${r.render}, plan ${r.plan}, iptables-restore ${r.restore}) ${r.lines} lines; first full sync ${r.fullMs} ms`,
      );
    }
    console.log(`  ${backend.padEnd(6)} ratio in-place / whole: ${(inc.wall / whole.wall).toFixed(2)}`);
  }
  console.log(`load at end ${load()}`);
}

main().catch((e: Error) => {
  console.error(e.message);
  process.exit(1);
});
