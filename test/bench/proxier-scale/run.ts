/**
 * proxier-scale benchmark: render time and payload size for N services × 10 endpoints, the iptables-restore time
 * of that payload in a throwaway namespace on the legacy and nft backends (the floor any kube-proxy pays), and a
 * partial sync after one endpoint change (lines written, wall time vs the restore floor of that same payload).
 * The restores are plain iptables-{legacy,nft}-restore runs of the payload without podwire: the payload is the
 * text kube-proxy writes for the same cluster (byte-identical after its canonical sort), so they are the peer's cost.
 * When the nft restore does not finish within --nft-timeout, the same restore is measured at n/16 and n/8
 * services and the growth exponent and an extrapolated time for n are printed (marked as such).
 * Every figure comes with the load average at the time (the machine may be shared). The legacy restore runs once per
 * counted render round, right after it, so the ratios also come round by round under the same conditions.
 *
 * Render is printed two ways (docs/proxier.md, "What the render ratio measures"): objects → payload in one go, and
 * as the daemon does it — the change tracker builds each object's model on its informer event (ingest), the sync
 * renders from that model. The ratio lines give the sync's render, the ingest, the sync's render plus the slices'
 * ingest (kube-proxy builds endpoint infos, SEP hashes included, inside syncProxyRules), and the one-go render.
 *
 *   npm run build && node dist/test/bench/proxier-scale/run.js [--sizes 1000,10000] [--nft-timeout 300]
 */
import { spawnSync } from "node:child_process";
import { performance } from "node:perf_hooks";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { cpus, hostname, loadavg } from "node:os";
import { IptablesRunner } from "../../../src/netlinux/iptables.js";
import { addNetns, delNetns, listNetns, runIn } from "../../../src/netlinux/netns.js";
import { chainHashEngine } from "../../../proxier/iptables/hash.js";
import { nativeLineWriter } from "../../../proxier/iptables/linewriter.js";
import { IptablesProxier } from "../../../proxier/iptables/proxier.js";
import { render } from "../../../proxier/iptables/render.js";
import { ChangeTracker } from "../../../proxier/iptables/tracker.js";
import { EPS, NODE, objects, slice } from "./objects.js";

const args = process.argv.slice(2);
const arg = (name: string, def: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1]! : def;
};
const sizes = arg("--sizes", "1000,10000").split(",").map(Number);
const nftTimeoutS = Number(arg("--nft-timeout", "300"));

const lines = (s: string) => s.split("\n").length - 1;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;

// A full GC on demand (the bench's own process only): V8's gc() without --expose-gc on the command line.
setFlagsFromString("--expose-gc");
const settleHeap = runInNewContext("gc") as () => void;
const secs = (ms: number) => `${(ms / 1000).toFixed(3)} s`;

interface Restore {
  /** Wall time, null when it did not finish within the timeout. */
  ms: number | null;
  /** CPU seconds of the restore process (user = iptables' own code, sys = kernel, mostly netlink/commit). */
  userS: number;
  sysS: number;
}

async function timedRestore(ns: string, bin: string, payload: string, timeoutS: number): Promise<Restore> {
  const t = performance.now();
  const r = await runIn(
    ns,
    "/usr/bin/time",
    ["-f", "pwtime %U %S", "timeout", String(timeoutS), bin, "-w", "120", "--noflush", "--counters"],
    { input: payload, check: false },
  );
  const ms = performance.now() - t;
  const m = r.stderr.match(/pwtime ([\d.]+) ([\d.]+)/);
  const cpu = { userS: Number(m?.[1] ?? Number.NaN), sysS: Number(m?.[2] ?? Number.NaN) };
  if (r.code === 124) return { ms: null, ...cpu };
  if (r.code !== 0) throw new Error(`${bin}: ${r.stderr}`);
  return { ms, ...cpu };
}

const load = () => `load ${loadavg()[0]!.toFixed(1)}`;
const restoreText = (r: Restore, timeoutS: number) =>
  `${r.ms === null ? `did not finish in ${timeoutS} s` : secs(r.ms)} (cpu user ${r.userS.toFixed(2)} s, sys ${r.sysS.toFixed(2)} s; ${load()})`;

function renderPayload(n: number): string {
  const { services, slices } = objects(n);
  return render(
    { services, endpointSlices: slices, node: { name: NODE, ips: ["198.18.0.1"] } },
    { clusterCIDRs: ["10.128.0.0/10"] },
  ).payload;
}

/** Namespaces this run has made and not yet deleted (a signal handler deletes them: `finally` does not run then). */
const live = new Set<string>();

async function withNs<T>(tag: string, fn: (ns: string) => Promise<T>): Promise<T> {
  const ns = `pwbench-${tag}-${process.pid}`;
  live.add(ns);
  await addNetns(ns);
  try {
    return await fn(ns);
  } finally {
    await delNetns(ns);
    live.delete(ns);
  }
}

for (const sig of ["SIGINT", "SIGTERM"] as const) {
  process.once(sig, () => {
    for (const ns of live) spawnSync("ip", ["netns", "delete", ns], { stdio: "ignore" });
    process.exit(sig === "SIGINT" ? 130 : 143);
  });
}

/** True when a process with this PID exists (EPERM: it does, owned by someone else). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Deletes namespaces left by bench runs that died without cleaning up (SIGKILL): `pwbench-TAG-PID`, PID gone. */
async function deleteStaleNamespaces(): Promise<void> {
  for (const ns of listNetns("pwbench-")) {
    const pid = Number(/-(\d+)$/.exec(ns)?.[1] ?? Number.NaN);
    if (Number.isInteger(pid) && pid !== process.pid && !alive(pid)) {
      console.log(`deleting ${ns}, left by bench run ${pid} (no longer running)`);
      await delNetns(ns);
    }
  }
}

async function bench(n: number) {
  console.log(`\n== ${n} services × ${EPS} endpoints ==`);
  const { services, slices } = objects(n);
  const input = { services, endpointSlices: slices, node: { name: NODE, ips: ["198.18.0.1"] } };
  const opts = { clusterCIDRs: ["10.128.0.0/10"] };
  // Cold render: fresh objects every run, so no per-object memo or fragment cache helps. Two ways, interleaved:
  // (a) objects → payload in one go (render() builds the model itself: the figure printed since the start);
  // (b) what the daemon does at start-up: the ChangeTracker builds each object's model (ports, endpoints, chain-name
  //     hashes) as its informer event arrives ("ingest"), then the first full sync renders from that model.
  // Rounds: the first few run while V8 is still compiling the render (a 1k render takes ~10 renders to reach its
  // optimised speed: 150 ms → 40 ms); they are printed as the start-up figure and not counted. The counted rounds
  // start on a settled heap: the fresh objects are made, then a full GC, then the clock starts — so the GC debt of
  // making the input (a young generation full of just-cloned objects, ~15 ms per scavenge at 1k) is not charged to
  // the render, while every GC the render itself causes is.
  // Warm render: the same objects again (what a sync pays when little changed).
  const warmUp = n >= 10_000 ? 2 : 10;
  const counted = n >= 10_000 ? 3 : 9;
  const renderRuns: number[] = [];
  const legacyRuns: Restore[] = [];
  const renderCpu: number[] = [];
  const startRuns: number[] = [];
  const split: { svc: number; slices: number; sync: number; cpu: number }[] = [];
  let payload = "";
  for (let k = 0; k < warmUp + counted; k++) {
    const measured = k >= warmUp;
    const oneGo = () => {
      const fresh = structuredClone(input);
      if (measured) settleHeap();
      const c = process.cpuUsage();
      const t = performance.now();
      payload = render(fresh, opts).payload;
      const ms = performance.now() - t;
      const d = process.cpuUsage(c);
      if (!measured) {
        startRuns.push(ms);
        return;
      }
      renderRuns.push(ms);
      renderCpu.push((d.user + d.system) / 1000);
    };
    const onEvents = () => {
      const fresh = structuredClone(input);
      if (measured) settleHeap();
      const tracker = new ChangeTracker(Date.now, { family: "IPv4", nodeName: NODE });
      const t0 = performance.now();
      for (const s of fresh.services) tracker.serviceUpdate(undefined, s);
      const t1 = performance.now();
      for (const s of fresh.endpointSlices) tracker.sliceUpdate(s, false);
      const t2 = performance.now();
      const c = process.cpuUsage();
      const p = render(
        { services: [...tracker.services.values()], endpointSlices: [...tracker.slices.values()], node: fresh.node },
        opts,
      ).payload;
      const t3 = performance.now();
      const d = process.cpuUsage(c);
      if (payload !== "" && p !== payload) throw new Error("sync render differs from the one-go render");
      if (measured) split.push({ svc: t1 - t0, slices: t2 - t1, sync: t3 - t2, cpu: (d.user + d.system) / 1000 });
    };
    // Alternate which goes first, so neither always runs on the heap the other left behind.
    if (k % 2 === 0) {
      oneGo();
      onEvents();
    } else {
      onEvents();
      oneGo();
    }
    // The peer right after, into an empty namespace: each counted round pairs the renders with a restore made under
    // the same conditions (this machine's speed drifts by up to 2× over minutes; the render, allocation-heavy,
    // drifts more than the restore).
    if (measured)
      legacyRuns.push(await withNs("leg", (ns) => timedRestore(ns, "iptables-legacy-restore", payload, 600)));
  }
  const renderMs = Math.min(...renderRuns);
  const syncMs = Math.min(...split.map((r) => r.sync));
  const ingestMs = Math.min(...split.map((r) => r.svc + r.slices));
  // kube-proxy builds endpoint infos (the SEP hashes) inside syncProxyRules (endpointsMap.Update), service infos on
  // events: its sync's share is the sync render plus the slices' ingest.
  const kubeLikeMs = Math.min(...split.map((r) => r.sync + r.slices));
  const med = {
    renderMs: median(renderRuns),
    syncMs: median(split.map((r) => r.sync)),
    kubeLikeMs: median(split.map((r) => r.sync + r.slices)),
  };
  render(input, opts);
  const t0 = performance.now();
  void render(input, opts).payload;
  const warmMs = performance.now() - t0;
  const fullLines = lines(payload);
  console.log(
    `render, objects → payload in one go (cold objects, incl. payload text): ${secs(renderMs)} best, ${secs(med.renderMs)} median of ${renderRuns.length} (process cpu ${secs(Math.min(...renderCpu))}); warm re-render ${secs(warmMs)}; payload ${fullLines} lines, ${(payload.length / 1e6).toFixed(1)} MB; ${load()}`,
  );
  // Not counted, shown beside it: the start-up rounds (code not yet optimised by the JIT — what a daemon's first
  // full sync after start pays, and every `proxy render` CLI run, which renders once per process).
  console.log(
    `  start-up rounds (not counted): ${startRuns.map((x) => (x / 1000).toFixed(3)).join(" ")} s${n === sizes[0] ? " (the first is the first render in this process)" : ""}`,
  );
  console.log(
    `as the daemon does it: ingest on informer events ${secs(ingestMs)} (services ${secs(Math.min(...split.map((r) => r.svc)))}, slices ${secs(Math.min(...split.map((r) => r.slices)))}), then the sync's render (model → payload) ${secs(syncMs)} best, ${secs(med.syncMs)} median (process cpu ${secs(Math.min(...split.map((r) => r.cpu)))}); ${split.length} rounds; ${load()}`,
  );

  // The floor varies run to run as much as the render (0.29–0.50 s at 1k on the idle development VM): one restore
  // per counted round (above); best and median, compared with the render's best and median, and round by round.
  const legacyMsRuns = legacyRuns.map((r) => r.ms!);
  const legacyMs = Math.min(...legacyMsRuns);
  const legacyMed = median(legacyMsRuns);
  const legacy = legacyRuns[legacyMsRuns.indexOf(legacyMs)]!;
  console.log(
    `iptables-legacy-restore of the full payload (empty namespace): ${restoreText(legacy, 600)} best of ${legacyRuns.length}, one per counted round (${legacyMsRuns.map((x) => (x / 1000).toFixed(3)).join(" ")} s)`,
  );
  const nft = await withNs("nft", (ns) => timedRestore(ns, "iptables-nft-restore", payload, nftTimeoutS));
  const nftMs = nft.ms;
  console.log(`iptables-nft-restore of the full payload (empty namespace): ${restoreText(nft, nftTimeoutS)}`);
  // Why nft is slow: for --noflush, iptables-nft-restore (1.8.9, nft-cache.c) collects every chain a command
  // names or jumps to in a sorted linked list (cache_chain_list_insert: O(chains) per insert, so O(lines × chains))
  // and then fetches those chains one by one. A command without a chain (here a table-wide `-Z`) makes it fetch
  // all chains in one dump instead. Not what podwire or kube-proxy write (it zeroes every rule counter in the
  // table); measured only to show where the time goes.
  const zPayload = payload.replace("*filter\n", "*filter\n-Z\n").replace("*nat\n", "*nat\n-Z\n");
  const nftZ = await withNs("nftz", (ns) => timedRestore(ns, "iptables-nft-restore", zPayload, nftTimeoutS));
  console.log(`  same payload with a table-wide -Z first (diagnostic, not used): ${restoreText(nftZ, nftTimeoutS)}`);
  if (nftMs === null && n >= 160) {
    // How it grows: the same restore at n/16 and n/8 services.
    const probe: [number, number][] = [];
    for (const m of [n >> 4, n >> 3]) {
      const r = await withNs("nftp", (ns) => timedRestore(ns, "iptables-nft-restore", renderPayload(m), nftTimeoutS));
      console.log(`  iptables-nft-restore at ${m} services: ${restoreText(r, nftTimeoutS)}`);
      if (r.ms !== null) probe.push([m, r.ms]);
    }
    if (probe.length === 2) {
      const k = Math.log(probe[1]![1] / probe[0]![1]) / Math.log(2);
      const est = probe[1]![1] * 8 ** k;
      console.log(
        `  nft restore time grows like n^${k.toFixed(2)}: extrapolated ${(est / 1000).toFixed(0)} s for ${n} services (an estimate, not a measurement)`,
      );
    }
  }

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
    return { fullMs: full.durationMs, wall, lines: r.plan!.totalLines, payload: r.plan!.payload, floor: floor.ms! };
  });
  console.log(`proxier full sync (legacy; jump rules, iptables-save, restore): ${secs(partial.fullMs)}`);
  console.log(
    `partial sync after one endpoint change: ${partial.lines} lines written, ${secs(partial.wall)} wall (render+plan+restore); restore floor of that payload ${secs(partial.floor)}`,
  );
  const ratio = (a: number, b: number) => (b ? (a / b).toFixed(4) : "n/a");
  console.log(`ratios (${load()}):`);
  const r = (x: number) => (legacyMs ? ratio(x, legacyMs) : "n/a");
  const rm = (x: number) => ratio(x, legacyMed);
  console.log("  (best ÷ best, median ÷ median; target ≤ 0.10)");
  console.log(`  sync render / legacy restore       = ${r(syncMs)}, median ${rm(med.syncMs)}  (model built on events)`);
  console.log(`  ingest / legacy restore            = ${r(ingestMs)}  (on informer events, before the sync)`);
  console.log(
    `  sync render + slice ingest / legacy = ${r(kubeLikeMs)}, median ${rm(med.kubeLikeMs)}  (kube-proxy's accounting: SEP hashes in its sync)`,
  );
  console.log(`  render in one go / legacy restore  = ${r(renderMs)}, median ${rm(med.renderMs)}  (objects → payload)`);
  // Round by round: each round's one-go render ÷ the restore run right after it.
  const paired = renderRuns.map((x, k) => x / legacyMsRuns[k]!);
  console.log(
    `  … round by round (render ÷ the restore after it) = median ${median(paired).toFixed(4)}, worst ${Math.max(...paired).toFixed(4)}  (${paired.map((x) => x.toFixed(3)).join(" ")})`,
  );
  if (nftMs) console.log(`  render in one go / nft restore     = ${ratio(renderMs, nftMs)}`);
  console.log(`  partial lines / full lines         = ${ratio(partial.lines, fullLines)}  (target < 0.01)`);
  console.log(`  partial sync wall / restore floor  = ${ratio(partial.wall, partial.floor)}`);
  return { n, renderMs, syncMs, ingestMs, fullLines, legacyMs, nftMs, ...partial };
}

console.log(
  `proxier-scale on ${hostname()} (${cpus().length}× ${cpus()[0]?.model ?? "cpu"}), node ${process.version}, ${new Date().toISOString()}; chain-name hash: ${chainHashEngine}; line writer: ${nativeLineWriter ? "native" : "js"}`,
);
await deleteStaleNamespaces();
console.log(
  (await runIn(null, "iptables-legacy", ["--version"])).stdout.trim(),
  "/",
  (await runIn(null, "iptables-nft", ["--version"])).stdout.trim(),
);
for (const n of sizes) await bench(n);
