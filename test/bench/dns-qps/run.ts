/**
 * DNS benchmark: dnsperf against `podwire dns serve` and against knotd (Knot DNS) serving the same records, in
 * one run, printing QPS, latency, server CPU per query and the ratio; then the memory of podwire holding 10,000
 * services + 50,000 pods, against CoreDNS's published (pods + services)/1000 + 54 MB.
 *
 *   npm run build && node dist/test/bench/dns-qps/run.js [--seconds 15] [--rounds 2] [--skip-memory] [--skip-qps]
 *     [--baseline-bin OTHER/bin/podwire]   (one more 1-process podwire from another build, e.g. the previous commit)
 *
 * Everything runs on 127.0.0.1 with random ports; knotd gets its own config, rundir and storage in a temp dir
 * and is stopped by PID.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const args = process.argv.slice(2);
const arg = (name: string, def: number) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : def;
};
const SECONDS = arg("--seconds", 15);
const ROUNDS = arg("--rounds", 2);
const SERVICES = 1000;
/** `--baseline-bin PATH`: another build's bin/podwire, run side by side (e.g. the commit before a change). */
const BASELINE = args.includes("--baseline-bin") ? args[args.indexOf("--baseline-bin") + 1] : undefined;
const bin = fileURLToPath(new URL("../../../../bin/podwire", import.meta.url));
const dir = mkdtempSync(join(os.tmpdir(), "podwire-dns-bench-"));

const svcIp = (i: number) => `10.96.${Math.floor(i / 250)}.${(i % 250) + 1}`;
const svcName = (i: number) => `svc-${i}.ns-${i % 20}`;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, "127.0.0.1", () => {
      const a = s.address();
      s.close(() => (a && typeof a === "object" ? resolve(a.port) : reject(new Error("no port"))));
    });
  });
}

function run(cmd: string, argv: string[]): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile(cmd, argv, { maxBuffer: 1 << 24 }, (e, out, err) =>
      e ? reject(new Error(`${cmd}: ${err || e.message}`)) : resolve(out),
    ),
  );
}

/** The process and its children (a --workers primary and its workers). */
function tree(pid: number): number[] {
  let kids: number[] = [];
  try {
    kids = readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    // gone
  }
  return [pid, ...kids.flatMap(tree)];
}
function cpuTicks(pid: number): number {
  let sum = 0;
  for (const p of tree(pid)) {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      sum += Number(fields[11]) + Number(fields[12]); // utime + stime
    } catch {
      // exited
    }
  }
  return sum;
}
function treeRssMb(pid: number): number {
  return tree(pid).reduce((a, p) => a + rssMb(p), 0);
}
function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) / 1024 : Number.NaN;
}

async function waitForDns(port: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    try {
      const out = await run("dig", [
        "@127.0.0.1",
        "-p",
        String(port),
        "svc-1.ns-1.svc.cluster.local",
        "A",
        "+short",
        "+tries=1",
        "+time=1",
      ]);
      if (out.trim() === svcIp(1)) return;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no DNS answer on port ${port}`);
}

async function stop(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return;
  p.kill("SIGTERM");
  const t = setTimeout(() => p.kill("SIGKILL"), 10_000);
  await once(p, "exit");
  clearTimeout(t);
}

function objectsFile(path: string, services: number, podsPerService: number, withPods: boolean): void {
  const items: unknown[] = [];
  for (let n = 0; n < 20; n++) items.push({ apiVersion: "v1", kind: "Namespace", metadata: { name: `ns-${n}` } });
  for (let i = 0; i < services; i++) {
    const ns = `ns-${i % 20}`;
    const name = `svc-${i}`;
    items.push({
      apiVersion: "v1",
      kind: "Service",
      metadata: { name, namespace: ns },
      spec: { clusterIP: svcIp(i), clusterIPs: [svcIp(i)], ports: [{ name: "http", port: 80, protocol: "TCP" }] },
    });
    if (podsPerService === 0) continue;
    const eps = [];
    for (let k = 0; k < podsPerService; k++) {
      const p = i * podsPerService + k;
      const ip = `10.${128 + Math.floor(p / 65536)}.${Math.floor(p / 256) % 256}.${p % 256}`;
      eps.push({
        addresses: [ip],
        conditions: { ready: true },
        targetRef: { kind: "Pod", name: `${name}-${k}`, namespace: ns },
      });
      if (withPods)
        items.push({
          apiVersion: "v1",
          kind: "Pod",
          metadata: { name: `${name}-${k}`, namespace: ns, labels: { app: name } },
          spec: { containers: [{ name: "c", image: "netexec" }], nodeName: "node-1" },
          status: { phase: "Running", podIP: ip, podIPs: [{ ip }] },
        });
    }
    items.push({
      apiVersion: "discovery.k8s.io/v1",
      kind: "EndpointSlice",
      metadata: { name: `${name}-abc`, namespace: ns, labels: { "kubernetes.io/service-name": name } },
      addressType: "IPv4",
      ports: [{ name: "http", port: 80, protocol: "TCP" }],
      endpoints: eps,
    });
  }
  writeFileSync(path, JSON.stringify({ apiVersion: "v1", kind: "List", items }));
}

function knotZone(path: string): void {
  const lines = [
    "$ORIGIN cluster.local.",
    "$TTL 5",
    "@ SOA ns.dns.cluster.local. hostmaster.cluster.local. 1 7200 1800 86400 5",
    "@ NS ns.dns.cluster.local.",
    "ns.dns A 127.0.0.1",
  ];
  for (let i = 0; i < SERVICES; i++) lines.push(`${svcName(i)}.svc A ${svcIp(i)}`);
  writeFileSync(path, `${lines.join("\n")}\n`);
}

async function startPodwire(
  extra: string[],
  nodeFlags: string[] = [],
  binary = bin,
): Promise<{ proc: ChildProcess; port: number }> {
  const port = await freePort();
  const proc = spawn(
    process.execPath,
    [...nodeFlags, binary, "dns", "serve", "--listen", `127.0.0.1:${port}`, "--upstream", "none", ...extra],
    {
      stdio: ["ignore", "ignore", "inherit"],
    },
  );
  try {
    await waitForDns(port);
  } catch (e) {
    await stop(proc); // never leave a server behind
    throw e;
  }
  return { proc, port };
}

async function startKnot(): Promise<{ proc: ChildProcess; port: number }> {
  const port = await freePort();
  const kd = join(dir, "knot");
  await run("mkdir", ["-p", join(kd, "run"), join(kd, "db")]);
  knotZone(join(kd, "cluster.local.zone"));
  writeFileSync(
    join(kd, "knot.conf"),
    [
      "server:",
      `    rundir: "${kd}/run"`,
      `    listen: 127.0.0.1@${port}`,
      "database:",
      `    storage: "${kd}/db"`,
      "log:",
      "  - target: stderr",
      "    any: error",
      "zone:",
      "  - domain: cluster.local",
      `    storage: "${kd}"`,
      '    file: "cluster.local.zone"',
      "    journal-content: none",
      "    zonefile-sync: -1",
      "",
    ].join("\n"),
  );
  const proc = spawn("knotd", ["-c", join(kd, "knot.conf")], { stdio: ["ignore", "ignore", "inherit"] });
  try {
    await waitForDns(port);
  } catch (e) {
    await stop(proc);
    throw e;
  }
  return { proc, port };
}

interface PerfResult {
  qps: number;
  avgMs: number;
  lostPct: number;
  cpuUsPerQuery: number;
  cpuPct: number;
}

async function dnsperf(port: number, pid: number, queries: string): Promise<PerfResult> {
  const hz = 100;
  const t0 = cpuTicks(pid);
  const w0 = performance.now();
  const out = await run("dnsperf", [
    "-s",
    "127.0.0.1",
    "-p",
    String(port),
    "-d",
    queries,
    "-l",
    String(SECONDS),
    "-c",
    "4",
    "-Q",
    "200000",
  ]);
  const wall = (performance.now() - w0) / 1000;
  const cpu = (cpuTicks(pid) - t0) / hz;
  const qps = Number(/Queries per second:\s+([\d.]+)/.exec(out)?.[1]);
  const avg = Number(/Average Latency \(s\):\s+([\d.]+)/.exec(out)?.[1]);
  const lost = Number(/Queries lost:\s+\d+ \(([\d.]+)%\)/.exec(out)?.[1] ?? 0);
  const completed = Number(/Queries completed:\s+(\d+)/.exec(out)?.[1]);
  return { qps, avgMs: avg * 1000, lostPct: lost, cpuUsPerQuery: (cpu / completed) * 1e6, cpuPct: (cpu / wall) * 100 };
}

function fmt(name: string, r: PerfResult): string {
  return `${name.padEnd(10)} ${r.qps.toFixed(0).padStart(8)} QPS  avg ${r.avgMs.toFixed(3)} ms  lost ${r.lostPct.toFixed(2)}%  server CPU ${r.cpuPct.toFixed(0)}%  ${r.cpuUsPerQuery.toFixed(1)} µs/query`;
}

async function qpsBench(): Promise<void> {
  const objs = join(dir, "qps.json");
  objectsFile(objs, SERVICES, 0, false);
  const queries = join(dir, "queries.txt");
  writeFileSync(
    queries,
    `${Array.from({ length: SERVICES }, (_, i) => `${svcName(i)}.svc.cluster.local A`).join("\n")}\n`,
  );
  const servers: [string, { proc: ChildProcess; port: number }][] = [];
  try {
    servers.push(["podwire", await startPodwire(["--objects", objs])]);
    servers.push(["podwire-w2", await startPodwire(["--objects", objs, "--workers", "2"])]);
    if (BASELINE) servers.push(["baseline", await startPodwire(["--objects", objs], [], BASELINE)]);
    servers.push(["knotd", await startKnot()]);
    const load = os
      .loadavg()
      .map((x) => x.toFixed(1))
      .join(" ");
    console.log(`dnsperf -l ${SECONDS} -c 4 -Q 200000, ${SERVICES} names (A), ${ROUNDS} round(s), loadavg ${load}`);
    const ratios = new Map<string, number[]>();
    for (let r = 0; r < ROUNDS; r++) {
      const res = new Map<string, PerfResult>();
      for (const [name, s] of servers) {
        const x = await dnsperf(s.port, s.proc.pid as number, queries);
        res.set(name, x);
        console.log(fmt(name, x));
      }
      const knot = res.get("knotd") as PerfResult;
      for (const name of ["podwire", "podwire-w2", ...(BASELINE ? ["baseline"] : [])]) {
        const ratio = (res.get(name) as PerfResult).qps / knot.qps;
        ratios.set(name, [...(ratios.get(name) ?? []), ratio]);
        console.log(`round ${r + 1}: ${name}/knotd QPS ratio ${ratio.toFixed(2)}`);
      }
    }
    for (const [name, rs] of ratios)
      console.log(
        `RATIO ${name}/knotd (mean of ${rs.length}): ${(rs.reduce((x, y) => x + y, 0) / rs.length).toFixed(2)}  (target >= 0.6)`,
      );
    console.log(
      `RSS after run: ${servers.map(([n, s]) => `${n} ${treeRssMb(s.proc.pid as number).toFixed(1)} MB`).join(", ")}`,
    );
  } finally {
    for (const [, s] of servers) await stop(s.proc);
  }
}

async function memoryBench(): Promise<void> {
  const services = 10_000;
  const perSvc = 5;
  const pods = services * perSvc;
  const budget = (pods + services) / 1000 + 54;
  // insecure (default): DNS watches Services + EndpointSlices only, so the pods reach it as 50,000 endpoints;
  // verified: it also watches the 50,000 Pod objects.
  // (`podwire dns` itself keeps V8's young generation small and compacts the heap after the first sync.)
  for (const [mode, nodeFlags] of [
    ["insecure", []],
    ["verified", []],
  ] as [string, string[]][]) {
    const objs = join(dir, `memory-${mode}.json`);
    objectsFile(objs, services, perSvc, mode === "verified");
    const t0 = performance.now();
    const pw = await startPodwire(["--objects", objs, "--pods", mode], nodeFlags);
    const readyS = (performance.now() - t0) / 1000;
    try {
      const idle = rssMb(pw.proc.pid as number);
      await new Promise((r) => setTimeout(r, 3000));
      const settled = rssMb(pw.proc.pid as number); // V8 unmaps freed pages on a background thread
      // Warm every service name into the fast path, like a busy cluster would.
      const queries = join(dir, "memq.txt");
      writeFileSync(
        queries,
        `${Array.from({ length: services }, (_, i) => `${svcName(i)}.svc.cluster.local A`).join("\n")}\n`,
      );
      await run("dnsperf", [
        "-s",
        "127.0.0.1",
        "-p",
        String(pw.port),
        "-d",
        queries,
        "-n",
        "2",
        "-c",
        "2",
        "-Q",
        "50000",
      ]);
      const warm = rssMb(pw.proc.pid as number);
      const what = mode === "verified" ? "Pod objects watched" : "as endpoints";
      console.log(
        `memory --pods ${mode}${nodeFlags.length ? ` (node ${nodeFlags.join(" ")})` : ""}: ${services} services + ${pods} pods (${what}): ready in ${readyS.toFixed(1)} s, RSS ${idle.toFixed(1)} MB at the first answer, ${settled.toFixed(1)} MB 3 s later, ${warm.toFixed(1)} MB with ${services} answers cached; CoreDNS budget (pods+services)/1000+54 = ${budget.toFixed(0)} MB`,
      );
    } finally {
      await stop(pw.proc);
    }
  }
}

try {
  console.log(
    `machine: ${os.cpus().length} x ${os.cpus()[0]?.model ?? "?"}, ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB, node ${process.version}, ${new Date().toISOString()}`,
  );
  if (!args.includes("--skip-qps")) await qpsBench();
  if (!args.includes("--skip-memory")) await memoryBench();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
