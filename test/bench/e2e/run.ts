/**
 * Sandbox benchmarks (outside `npm test`): on a `podwire up` cluster,
 *  1. pod start latency: create M pods (default 30, one every 100 ms) → Ready with an IP, p50/p99;
 *  2. service programming latency: create N services (default 1,000, 8 concurrent clients) selecting one pod →
 *     each one's ClusterIP rule present in every node's kernel (iptables-save of every node namespace, polled),
 *     p50/p99 — target p50 < 200 ms.
 * The peer is the target (no other engine runs here): the ratio printed is measured / target.
 * Usage: node dist/test/bench/e2e/run.js [--services 1000] [--pods 30] [--name pwb] [--keep]
 * (reuses a running sandbox of that name, else starts one and removes it afterwards unless --keep).
 */
import { spawnSync } from "node:child_process";
import type { Pod, Service } from "../../../src/api/core.js";
import { connect } from "../../../src/client/index.js";
import { runIn } from "../../../src/netlinux/netns.js";
import { readState } from "../../../src/sandbox/state.js";
import { podwire } from "../../e2e/sandbox/helpers.js";

const arg = (name: string, def: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? def) : def;
};
const NSVC = Number(arg("services", "1000"));
const NPODS = Number(arg("pods", "30"));
const NAME = arg("name", "pwb");
const KEEP = process.argv.includes("--keep");
const TARGET_P50_MS = 200;

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? Number.NaN;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function main(): Promise<void> {
  let started = false;
  if (!readState(NAME)) {
    const r = spawnSync(podwire, ["up", "--nodes", "3", "--name", NAME], { stdio: ["ignore", "inherit", "inherit"] });
    if (r.status !== 0) throw new Error("podwire up failed");
    started = true;
  }
  const state = readState(NAME);
  if (!state) throw new Error("no sandbox state");
  process.noDeprecation = true;
  const client = connect({ kubeconfig: state.kubeconfig });
  const ns = `bench${Date.now() % 100000}`;
  try {
    await client.create({ apiVersion: "v1", kind: "Namespace", metadata: { name: ns } });

    // 1. pod start latency (first, on a quiet cluster); these pods are also the services' endpoints
    const createdPods = new Map<string, number>();
    const readyAt = new Map<string, number>();
    const podsDone = (async () => {
      const end = Date.now() + 180_000;
      while (Date.now() < end && readyAt.size < NPODS) {
        const r = await client.list("Pod", { namespace: ns });
        if (r.ok) {
          for (const p of r.value.items as Pod[]) {
            const name = p.metadata.name ?? "";
            if (readyAt.has(name) || !p.status?.podIP) continue;
            if (p.status.conditions?.some((c) => c.type === "Ready" && c.status === "True"))
              readyAt.set(name, Date.now());
          }
        }
        await sleep(50);
      }
    })();
    for (let i = 0; i < NPODS; i++) {
      const pod: Pod = {
        apiVersion: "v1",
        kind: "Pod",
        metadata: {
          name: `p${i}`,
          namespace: ns,
          labels: i === 0 ? { app: "bench", target: "yes" } : { app: "bench" },
        },
        spec: { containers: [{ name: "c", image: "pause" }] },
      };
      createdPods.set(`p${i}`, Date.now());
      const r = await client.create(pod);
      if (!r.ok) throw new Error(`create pod: ${r.error.message}`);
      await sleep(100);
    }
    await podsDone;
    const plat = [...createdPods].filter(([n]) => readyAt.has(n)).map(([n, t]) => (readyAt.get(n) ?? t) - t);
    console.log(
      `pod start latency (create → Ready with IP, ${plat.length}/${NPODS} pods, one every 100 ms, poll 50 ms):`,
    );
    console.log(`  p50 ${pct(plat, 50)} ms  p99 ${pct(plat, 99)} ms  max ${Math.max(...plat)} ms`);
    // 2. service programming latency (each service selects pod p0: one endpoint, so KUBE-SVC/KUBE-SEP nat rules)
    const created = new Map<string, number>(); // clusterIP → create returned (ms)
    const seen = new Map<string, number>(); // clusterIP → present on every node (ms)
    const perNode = state.nodes.map(() => new Set<string>());
    let stop = false;
    const poller = (async () => {
      while (!stop) {
        await Promise.all(
          state.nodes.map(async (n, i) => {
            const out = (await runIn(n.ns, "iptables-save", ["-t", "nat"], { check: false })).stdout;
            const now = Date.now();
            for (const line of out.split("\n")) {
              if (!line.startsWith("-A KUBE-SERVICES -d ")) continue;
              const ip = line.slice(20, line.indexOf("/"));
              if (!perNode[i]?.has(ip)) perNode[i]?.add(ip);
            }
            for (const ip of created.keys()) if (!seen.has(ip) && perNode.every((s) => s.has(ip))) seen.set(ip, now);
          }),
        );
        await sleep(20);
      }
    })();
    const t0 = Date.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (next < NSVC) {
          const i = next++;
          const svc: Service = {
            apiVersion: "v1",
            kind: "Service",
            metadata: { name: `s${i}`, namespace: ns },
            spec: { selector: { target: "yes" }, ports: [{ port: 80, targetPort: 8080, protocol: "TCP" }] },
          };
          const r = await client.create(svc);
          if (!r.ok) throw new Error(`create s${i}: ${r.error.message}`);
          created.set(r.value.spec.clusterIP ?? "", Date.now());
        }
      }),
    );
    const createMs = Date.now() - t0;
    const deadline = Date.now() + 120_000;
    while (seen.size < created.size && Date.now() < deadline) await sleep(100);
    stop = true;
    await poller;
    const lat = [...created].filter(([ip]) => seen.has(ip)).map(([ip, t]) => (seen.get(ip) ?? t) - t);
    const p50 = pct(lat, 50);
    const p99 = pct(lat, 99);
    console.log(
      `service programming latency (${created.size} services created in ${createMs} ms, 3 nodes, ${seen.size} seen on every node):`,
    );
    console.log(
      `  p50 ${p50} ms  p99 ${p99} ms  max ${Math.max(...lat)} ms  (poll interval ~20 ms + iptables-save time)`,
    );
    console.log(
      `  ratio p50 / target ${TARGET_P50_MS} ms = ${(p50 / TARGET_P50_MS).toFixed(2)}${p50 < TARGET_P50_MS ? " (meets target)" : " (misses target)"}`,
    );
  } finally {
    await client.delete("Namespace", undefined, ns);
    client.close();
    if (started && !KEEP) spawnSync(podwire, ["down", "--name", NAME], { stdio: "inherit" });
  }
}

main().catch((e: Error) => {
  console.error(e.message);
  process.exit(1);
});
