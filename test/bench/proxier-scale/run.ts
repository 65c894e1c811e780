/**
 * proxier-scale benchmark: render time and payload size for N services × 10 endpoints, the iptables-restore time
 * of that payload in a throwaway namespace on the legacy and nft backends (the floor any kube-proxy pays), and a
 * partial sync after one endpoint change (lines written, wall time vs the restore floor of that same payload).
 *
 *   npm run build && node dist/test/bench/proxier-scale/run.js [--sizes 1000,10000] [--nft-timeout 120]
 */
import { performance } from "node:perf_hooks";
import { cpus, hostname } from "node:os";
import { IptablesRunner } from "../../../src/netlinux/iptables.js";
import { addNetns, delNetns, runIn } from "../../../src/netlinux/netns.js";
import { IptablesProxier } from "../../../proxier/iptables/proxier.js";
import { render } from "../../../proxier/iptables/render.js";
import { EPS, NODE, objects, slice } from "./objects.js";

const args = process.argv.slice(2);
const arg = (name: string, def: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1]! : def;
};
const sizes = arg("--sizes", "1000,10000").split(",").map(Number);
const nftTimeoutS = Number(arg("--nft-timeout", "120"));

const lines = (s: string) => s.split("\n").length - 1;
const secs = (ms: number) => `${(ms / 1000).toFixed(3)} s`;

async function timedRestore(ns: string, bin: string, payload: string, timeoutS: number): Promise<number | null> {
  const t = performance.now();
  const r = await runIn(ns, "timeout", [String(timeoutS), bin, "-w", "120", "--noflush", "--counters"], {
    input: payload,
    check: false,
  });
  if (r.code === 124) return null;
  if (r.code !== 0) throw new Error(`${bin}: ${r.stderr}`);
  return performance.now() - t;
}

async function withNs<T>(tag: string, fn: (ns: string) => Promise<T>): Promise<T> {
  const ns = `pwbench-${tag}-${process.pid}`;
  await addNetns(ns);
  try {
    return await fn(ns);
  } finally {
    await delNetns(ns);
  }
}

async function bench(n: number) {
  console.log(`\n== ${n} services × ${EPS} endpoints ==`);
  const { services, slices } = objects(n);
  const input = { services, endpointSlices: slices, node: { name: NODE, ips: ["198.18.0.1"] } };
  const opts = { clusterCIDRs: ["10.128.0.0/10"] };
  // Cold render: fresh objects every run, so no per-object memo or fragment cache helps (what a full sync at
  // start-up pays). Warm render: the same objects again (what a sync pays when little changed).
  const renderRuns: number[] = [];
  let payload = "";
  for (let k = 0; k < (n >= 10_000 ? 2 : 5); k++) {
    const fresh = structuredClone(input);
    const t = performance.now();
    payload = render(fresh, opts).payload;
    renderRuns.push(performance.now() - t);
  }
  const renderMs = Math.min(...renderRuns);
  render(input, opts);
  const t0 = performance.now();
  void render(input, opts).payload;
  const warmMs = performance.now() - t0;
  const fullLines = lines(payload);
  console.log(
    `render (cold, incl. payload text): ${secs(renderMs)} (best of ${renderRuns.length}); warm re-render ${secs(warmMs)}; payload ${fullLines} lines, ${(payload.length / 1e6).toFixed(1)} MB`,
  );

  const legacyMs = await withNs("leg", (ns) => timedRestore(ns, "iptables-legacy-restore", payload, 600));
  console.log(
    `iptables-legacy-restore of the full payload (empty namespace): ${legacyMs === null ? "timeout" : secs(legacyMs)}`,
  );
  const nftMs = await withNs("nft", (ns) => timedRestore(ns, "iptables-nft-restore", payload, nftTimeoutS));
  console.log(
    `iptables-nft-restore of the full payload (empty namespace): ${nftMs === null ? `did not finish in ${nftTimeoutS} s` : secs(nftMs)}`,
  );

  // Partial sync through the proxier (legacy backend): full sync, change one endpoint, partial sync.
  const partial = await withNs("part", async (ns) => {
    const ipt = new IptablesRunner({ backend: "legacy", netns: ns, waitSeconds: 120 });
    const p = new IptablesProxier({
      iptables: ipt,
      nodeName: NODE,
      nodeIPs: ["198.18.0.1"],
      render: opts,
      minSyncPeriodMs: 0,
    });
    for (const s of services) p.onServiceAdd(s);
    for (const s of slices) p.onEndpointSliceAdd(s);
    p.onServicesSynced();
    p.onEndpointSlicesSynced();
    const full = await p.syncProxyRules();
    if (!full.ok) throw full.error;
    const changed = slice(n >> 1, 1_000_000); // one service's endpoints move
    changed.endpoints = [...slices[n >> 1]!.endpoints!.slice(1), changed.endpoints![0]!];
    p.onEndpointSliceUpdate(changed);
    const t = performance.now();
    const r = await p.syncProxyRules();
    const wall = performance.now() - t;
    if (!r.ok || r.full) throw new Error(`partial sync failed: ${r.error?.message}`);
    const floor = await timedRestore(ns, "iptables-legacy-restore", r.plan!.payload, 600);
    return { fullMs: full.durationMs, wall, lines: r.plan!.totalLines, payload: r.plan!.payload, floor: floor! };
  });
  console.log(`proxier full sync (legacy; jump rules, iptables-save, restore): ${secs(partial.fullMs)}`);
  console.log(
    `partial sync after one endpoint change: ${partial.lines} lines written, ${secs(partial.wall)} wall (render+plan+restore); restore floor of that payload ${secs(partial.floor)}`,
  );
  const ratio = (a: number, b: number) => (b ? (a / b).toFixed(4) : "n/a");
  console.log("ratios:");
  console.log(
    `  render / legacy restore            = ${legacyMs ? ratio(renderMs, legacyMs) : "n/a"}  (target ≤ 0.10)`,
  );
  if (nftMs) console.log(`  render / nft restore               = ${ratio(renderMs, nftMs)}`);
  console.log(`  partial lines / full lines         = ${ratio(partial.lines, fullLines)}  (target < 0.01)`);
  console.log(`  partial sync wall / restore floor  = ${ratio(partial.wall, partial.floor)}`);
  return { n, renderMs, fullLines, legacyMs, nftMs, ...partial };
}

console.log(
  `proxier-scale on ${hostname()} (${cpus().length}× ${cpus()[0]?.model ?? "cpu"}), node ${process.version}, ${new Date().toISOString()}`,
);
console.log(
  (await runIn(null, "iptables-legacy", ["--version"])).stdout.trim(),
  "/",
  (await runIn(null, "iptables-nft", ["--version"])).stdout.trim(),
);
for (const n of sizes) await bench(n);
