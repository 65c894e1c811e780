/**
 * apiserver benchmark, sqlite vs etcd side by side in one run (each behind a real `podwire server` process):
 * writes/s (pod creates, 16 in flight), list latency with N pods (JSON list and kubectl's Table), and watch
 * fan-out latency (write acknowledged → event seen by each of 100 watchers).
 * Run: npm run build && node dist/test/bench/apiserver/bench.js [pods=10000] [watchers=100]
 */
import { readFileSync } from "node:fs";
import { Agent, request } from "node:https";
import { type ServerProcess, startServerProcess } from "../../e2e/kubectl/server-process.js";
import { startEtcdCluster } from "../../integration/apiserver/etcd-cluster.js";
import { serverClient } from "../../support/apiserver-client.js";
import { cpuMs } from "./cpu.js";
import { pct } from "../percentile.js";

const pods = Number(process.argv[2] ?? 10_000);
const watchers = Number(process.argv[3] ?? 100);

interface Result {
  writesPerSec: number;
  cpuPerWrite: number;
  svcWritesPerSec: number;
  listJsonMs: number;
  listTableMs: number;
  listPagedMs: number;
  watchP50: number;
  watchP99: number;
  watchMax: number;
}

async function run(label: string, srv: ServerProcess): Promise<Result> {
  const { call, token, ca, agent } = serverClient(srv);
  const pod = (name: string) => ({
    metadata: { name, labels: { app: "bench" } },
    spec: {
      nodeName: "n1",
      containers: [{ name: "c", image: "registry.k8s.io/pause:3.9", resources: { requests: { cpu: "10m" } } }],
    },
  });

  // writes/s
  let next = 0;
  const cpu0 = cpuMs(srv.proc.pid);
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      for (;;) {
        const i = next++;
        if (i >= pods) return;
        const r = await call("POST", "/api/v1/namespaces/default/pods", pod(`p-${i}`));
        if (r.status !== 201) throw new Error(`${label}: create → ${r.status} ${r.text}`);
      }
    }),
  );
  const writesPerSec = pods / ((performance.now() - t0) / 1000);
  const cpuPerWrite = ((cpuMs(srv.proc.pid) - cpu0) * 1000) / pods;

  // Service creates from 8 clients (what `kubectl apply` of many services through 8 clients sends): ClusterIP
  // allocation in the same transaction.
  const nSvc = Math.min(1000, pods);
  next = 0;
  const t1 = performance.now();
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      for (;;) {
        const i = next++;
        if (i >= nSvc) return;
        const r = await call("POST", "/api/v1/namespaces/default/services", {
          metadata: { name: `s-${i}` },
          spec: { selector: { app: `a${i}` }, ports: [{ port: 80, targetPort: 8080, protocol: "TCP" }] },
        });
        if (r.status !== 201) throw new Error(`${label}: create service → ${r.status} ${r.text}`);
      }
    }),
  );
  const svcWritesPerSec = nSvc / ((performance.now() - t1) / 1000);

  // list latency (median of 5)
  const time = async (fn: () => Promise<{ status: number; text: string }>) => {
    const xs: number[] = [];
    for (let i = 0; i < 5; i++) {
      const s = performance.now();
      const r = await fn();
      if (r.status !== 200) throw new Error(`${label}: list → ${r.status} ${r.text.slice(0, 200)}`);
      xs.push(performance.now() - s);
    }
    return pct(xs, 50);
  };
  const table = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json";
  const listJsonMs = await time(() => call("GET", "/api/v1/namespaces/default/pods"));
  const listTableMs = await time(() => call("GET", "/api/v1/namespaces/default/pods", undefined, table));
  const listPagedMs = await time(() => call("GET", "/api/v1/namespaces/default/pods?limit=500", undefined, table));

  // watch fan-out
  const rv = JSON.parse((await call("GET", "/api/v1/namespaces/default/configmaps")).text).metadata.resourceVersion;
  const seen = new Map<string, number[]>();
  const streams: { destroy(): void }[] = [];
  const wagent = new Agent({ keepAlive: true, maxSockets: watchers + 1 });
  await Promise.all(
    Array.from(
      { length: watchers },
      () =>
        new Promise<void>((resolve, reject) => {
          const r = request(
            {
              host: "127.0.0.1",
              port: srv.port,
              path: `/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=${rv}`,
              headers: { Authorization: `Bearer ${token}` },
              ca,
              agent: wagent,
            },
            (res) => {
              let buf = "";
              res.on("data", (c: Buffer) => {
                const at = performance.now();
                buf += c.toString();
                let i = buf.indexOf("\n");
                while (i >= 0) {
                  const ev = JSON.parse(buf.slice(0, i));
                  buf = buf.slice(i + 1);
                  const name = ev.object?.metadata?.name as string;
                  seen.get(name)?.push(at);
                  i = buf.indexOf("\n");
                }
              });
              resolve();
            },
          );
          r.on("error", reject);
          r.end();
          streams.push(r);
        }),
    ),
  );
  await new Promise((r) => setTimeout(r, 300));
  const lat: number[] = [];
  for (let i = 0; i < 50; i++) {
    const name = `cm-${i}`;
    seen.set(name, []);
    const s = performance.now();
    await call("POST", "/api/v1/namespaces/default/configmaps", { metadata: { name }, data: { i: String(i) } });
    const deadline = Date.now() + 10_000;
    while ((seen.get(name)?.length ?? 0) < watchers && Date.now() < deadline) await new Promise((r) => setImmediate(r));
    for (const at of seen.get(name) ?? []) lat.push(at - s);
    if ((seen.get(name)?.length ?? 0) < watchers)
      throw new Error(`${label}: only ${seen.get(name)?.length} watchers saw ${name}`);
  }
  for (const s of streams) s.destroy();
  agent.destroy();
  wagent.destroy();
  return {
    writesPerSec,
    cpuPerWrite,
    svcWritesPerSec,
    listJsonMs,
    listTableMs,
    listPagedMs,
    watchP50: pct(lat, 50),
    watchP99: pct(lat, 99),
    watchMax: Math.max(...lat),
  };
}

const loadBefore = readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
const sqlite = await startServerProcess(["--controllers", "none"]);
let a: Result;
try {
  a = await run("sqlite", sqlite);
} finally {
  await sqlite.cleanup();
}
const etcd = await startEtcdCluster(1);
let b: Result;
try {
  const srv = await startServerProcess([
    "--controllers",
    "none",
    "--storage",
    "etcd",
    "--etcd-endpoints",
    etcd.endpoints.join(","),
  ]);
  try {
    b = await run("etcd", srv);
  } finally {
    await srv.cleanup();
  }
} finally {
  await etcd.stop();
}
const rows: [string, keyof Result, string][] = [
  ["pod creates/s (16 in flight)", "writesPerSec", "higher"],
  ["server CPU µs per pod create", "cpuPerWrite", "lower"],
  ["service creates/s (8 clients)", "svcWritesPerSec", "higher"],
  [`list ${pods} pods JSON, ms (p50)`, "listJsonMs", "lower"],
  [`list ${pods} pods Table, ms (p50)`, "listTableMs", "lower"],
  ["list limit=500 Table, ms (p50)", "listPagedMs", "lower"],
  [`watch fan-out to ${watchers}, p50 ms`, "watchP50", "lower"],
  [`watch fan-out to ${watchers}, p99 ms`, "watchP99", "lower"],
  [`watch fan-out to ${watchers}, max ms`, "watchMax", "lower"],
];
console.log(
  `load before: ${loadBefore}; after: ${readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ")}`,
);
console.log(`| metric | sqlite | etcd (1 member) | sqlite/etcd |\n|---|---|---|---|`);
for (const [name, key] of rows)
  console.log(`| ${name} | ${a[key].toFixed(1)} | ${b[key].toFixed(1)} | ${(a[key] / b[key]).toFixed(2)} |`);
