/**
 * Userspace-mode benchmark: the same backends reached directly, through haproxy (TCP mode, single thread) and
 * through podwire's userspace proxy (via its ClusterIP portal), in one run, inside one throwaway namespace.
 *   node dist/test/bench/userspace/bench.js [--seconds 8] [--conns 50] [--rounds 3] [--paths a,b] [--loads bulk,ka,nc]
 *     [--tw-reuse 1] [--conntrack-all] [--baseline OTHER_DIST_DIR] [--base-tcp native|handles|net] [--base-env K=V,...] [--node-args "FLAGS"]
 * Backends: iperf3 server (bulk) and an haproxy HTTP responder (`http-request return`, C-speed, so the proxy is
 * the bottleneck). Load: iperf3 -c (bulk), wrk keep-alive and wrk with `Connection: close` (one TCP connection
 * per request). Prints Gbit/s, req/s, p50/p99 latency, added latency vs direct, and ratios vs haproxy.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import { ip, netnsPath, runIn } from "../../../src/netlinux/netns.js";
import { NetnsScope } from "../../support/netns.js";
import { NsProcess, objectsFor } from "../../integration/userspace/support.js";

const args = process.argv.slice(2);
const opt = (name: string, def: number) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : def;
};
const SECONDS = opt("seconds", 8);
const CONNS = opt("conns", 50);
const ROUNDS = opt("rounds", 3);
/**
 * `net.ipv4.tcp_tw_reuse` in the bench namespace (wrk's). Through podwire most client legs end with the client
 * closing first, so TIME_WAIT sockets pile up on wrk's ephemeral ports; with Linux's default (2: loopback
 * addresses only) a path measured within 60 s after a fast podwire run found wrk's ports nearly all taken
 * (measured: 300-390 req/s with p50 55-70 ms, against 2500-2900 req/s once reuse was allowed, same proxy).
 * 1 = every path starts from the same state; `--tw-reuse 2` reproduces the default.
 */
const TW_REUSE = opt("tw-reuse", 1);
/** `--node-args "--cpu-prof --cpu-prof-dir=/tmp/p"`: extra node flags for the podwire proxy (and its workers). */
const NODE_ARGS = (() => {
  const i = args.indexOf("--node-args");
  return i >= 0 ? (args[i + 1] ?? "").split(" ").filter(Boolean) : [];
})();
/**
 * `--conntrack-all`: one portal-like DNAT rule (for an address nothing uses) in the bench netns for the whole
 * run, so connection tracking is on for every path. Without it only the podwire paths pay conntrack (+ NAT on
 * the client leg): its portal rules exist only while it runs, and with no NAT rule the kernel tracks nothing —
 * on a real node (any kube-proxy mode, CNI masquerading) haproxy's connections would be tracked too.
 */
const CONNTRACK_ALL = args.includes("--conntrack-all");
/** `--baseline DIR`: a dist/ directory of another build, measured as path "podwire-base" (before/after in one run). */
const BASELINE = (() => {
  const i = args.indexOf("--baseline");
  return i >= 0 ? (args[i + 1] ?? null) : null;
})();
/**
 * `--base-tcp native|handles|net`: path "podwire-base" is this build with PODWIRE_USERSPACE_TCP set so (e.g. the
 * native engine against Node's handles in one run); with `--baseline DIR` it applies to that build.
 */
const BASE_TCP = (() => {
  const i = args.indexOf("--base-tcp");
  return i >= 0 ? (args[i + 1] ?? null) : null;
})();
const listOpt = (name: string): string[] | null => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? (args[i + 1] ?? "").split(",").filter(Boolean) : null;
};
/** `--base-env K=V,K=V`: more environment for path "podwire-base" (e.g. PODWIRE_NATIVE_MERGE_FIN=0 for an A/B). */
const BASE_ENV: Record<string, string> = Object.fromEntries(
  (listOpt("base-env") ?? [])
    .filter((kv) => kv.includes("="))
    .map((kv) => [kv.slice(0, kv.indexOf("=")), kv.slice(kv.indexOf("=") + 1)]),
);
/** `--paths direct,podwire` runs a subset (the ratios need haproxy); `--loads nc` only new connections. */
const ONLY_PATHS = listOpt("paths");
const LOADS = new Set(listOpt("loads") ?? ["bulk", "ka", "nc"]);
const NO_WRK: WrkResult = {
  rps: Number.NaN,
  requests: 0,
  cpuUsPerReq: Number.NaN,
  userUsPerReq: Number.NaN,
  p50ms: Number.NaN,
  p99ms: Number.NaN,
  errors: 0,
  errorKinds: "",
  kernel: "",
};

/** CPU time (user and system, µs) of pids and their child processes (workers), from /proc. */
function cpuUs(pids: number[]): { user: number; sys: number } {
  const tick = 1e6 / 100; // USER_HZ
  let user = 0;
  let sys = 0;
  const seen = new Set<number>();
  const visit = (pid: number) => {
    if (seen.has(pid)) return;
    seen.add(pid);
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      user += Number(f[11]) * tick; // utime
      sys += Number(f[12]) * tick; // stime
      for (const c of readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/))
        if (c) visit(Number(c));
    } catch {
      // gone
    }
  };
  for (const p of pids) visit(p);
  return { user, sys };
}
/** haproxy's threads: one, as each podwire path has one accepting process (the fair CPU budget for the rates). */
const PEER_THREADS = 1;
const NODE_IP = "198.18.0.1";
const HTTP_PORT = 8080;
const IPERF_PORT = 5201;
const HAPROXY_HTTP = 18080;
const HAPROXY_IPERF = 15201;
const FIXTURES = new URL("../../integration/userspace/fixtures/", import.meta.url).pathname;

function startIn(ns: string, argv: string[], env: NodeJS.ProcessEnv = process.env): ChildProcess {
  return spawn("nsenter", [`--net=${netnsPath(ns)}`, "--", ...argv], { stdio: ["ignore", "pipe", "pipe"], env });
}

async function waitPort(ns: string, port: number): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const r = await runIn(ns, "ss", ["-Hltn", `sport = :${port}`], { check: false });
    if (r.stdout.trim()) return;
    await new Promise((res) => setTimeout(res, 100));
  }
  throw new Error(`nothing listens on ${port}`);
}

interface WrkResult {
  rps: number;
  /** Requests completed (for CPU per request). */
  requests: number;
  /** CPU (user + system) the proxy process(es) spent per request, µs; NaN where there is no proxy. */
  cpuUsPerReq: number;
  /** The user-space part of cpuUsPerReq. */
  userUsPerReq: number;
  p50ms: number;
  p99ms: number;
  errors: number;
  /** wrk's own words for the errors ("connect 0, read 3, write 0, timeout 0; non-2xx 0"), "" when none. */
  errorKinds: string;
  /** Kernel counters of the bench netns per request (segments, resets; see kernelCounters). */
  kernel: string;
}

/**
 * TCP counters of the namespace (/proc/net/snmp is per netns): segments sent and resets sent per request say
 * how much packet work each path makes the kernel do besides the proxy's own syscalls.
 */
async function kernelCounters(ns: string): Promise<Record<string, number>> {
  const r = await runIn(ns, "cat", ["/proc/net/snmp", "/proc/sys/net/netfilter/nf_conntrack_count"], {
    check: false,
  });
  const lines = r.stdout.split("\n");
  const tcp = lines.filter((l) => l.startsWith("Tcp:"));
  const out: Record<string, number> = {};
  if (tcp.length === 2) {
    const names = tcp[0]!.split(/\s+/);
    const vals = tcp[1]!.split(/\s+/);
    names.forEach((n, i) => {
      out[n] = Number(vals[i]);
    });
  }
  const last = lines.filter(Boolean).pop() ?? "";
  out.conntrack = /^\d+$/.test(last) ? Number(last) : Number.NaN;
  return out;
}

/** TIME_WAIT sockets in the namespace by local port: whose side of each leg holds them. */
async function timeWaitSides(ns: string, serverPorts: Record<string, number>): Promise<string> {
  const r = await runIn(ns, "ss", ["-Htan", "state", "time-wait"], { check: false });
  const count: Record<string, number> = {};
  for (const l of r.stdout.split("\n")) {
    const local = l.trim().split(/\s+/)[2];
    if (!local) continue;
    const port = Number(local.slice(local.lastIndexOf(":") + 1));
    const side = Object.entries(serverPorts).find(([, p]) => p === port)?.[0] ?? "ephemeral";
    count[side] = (count[side] ?? 0) + 1;
  }
  return Object.entries(count)
    .map(([k, v]) => `${k} ${v}`)
    .join(", ");
}

function toMs(v: string): number {
  const m = /^([\d.]+)(us|ms|s)$/.exec(v.trim());
  if (!m) return Number.NaN;
  const n = Number(m[1]);
  return m[2] === "us" ? n / 1000 : m[2] === "s" ? n * 1000 : n;
}

async function wrk(ns: string, url: string, close: boolean, proxyPids: number[] = []): Promise<WrkResult> {
  const a = ["-t1", `-c${CONNS}`, `-d${SECONDS}s`, "--latency", url];
  if (close) a.unshift("-H", "Connection: close");
  const k0 = await kernelCounters(ns);
  const cpu0 = cpuUs(proxyPids);
  const r = await runIn(ns, "wrk", a, { timeoutMs: (SECONDS + 30) * 1000 });
  const cpu1 = cpuUs(proxyPids);
  const k1 = await kernelCounters(ns);
  const out = r.stdout;
  const requests = Number(/(\d+) requests in/.exec(out)?.[1] ?? 0);
  const per = (x: number) => (proxyPids.length && requests ? x / requests : Number.NaN);
  const cpuUsPerReq = per(cpu1.user + cpu1.sys - cpu0.user - cpu0.sys);
  const userUsPerReq = per(cpu1.user - cpu0.user);
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? 0);
  const p50 = toMs(/\s50%\s+(\S+)/.exec(out)?.[1] ?? "");
  const p99 = toMs(/\s99%\s+(\S+)/.exec(out)?.[1] ?? "");
  const errM = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0);
  const errors = (errM ? errM.slice(1).reduce((s, x) => s + Number(x), 0) : 0) + non2xx;
  const errorKinds = errors
    ? `${errM ? errM[0].replace("Socket errors: ", "") : "no socket errors"}; non-2xx ${non2xx}`
    : "";
  const perReq = (k: string) => ((k1[k]! - k0[k]!) / requests).toFixed(2);
  const kernel = requests
    ? `segs/req ${perReq("OutSegs")}, rsts/req ${perReq("OutRsts")}, conntrack entries ${k1.conntrack}`
    : "";
  return { rps, requests, cpuUsPerReq, userUsPerReq, p50ms: p50, p99ms: p99, errors, errorKinds, kernel };
}

async function iperf(ns: string, host: string, port: number): Promise<number> {
  const r = await runIn(ns, "iperf3", ["-c", host, "-p", String(port), "-t", String(SECONDS), "-J"], {
    timeoutMs: (SECONDS + 30) * 1000,
  });
  const j = JSON.parse(r.stdout) as { end: { sum_received: { bits_per_second: number } } };
  return j.end.sum_received.bits_per_second / 1e9;
}

async function main(): Promise<void> {
  const scope = new NetnsScope("ub");
  const dir = mkdtempSync(join(os.tmpdir(), "pwusb-"));
  const procs: ChildProcess[] = [];
  let proxy: NsProcess | undefined;
  try {
    const ns = await scope.add("node");
    const peer = await scope.add("peer"); // only to give the node an eth0 (no dummy module here)
    await ip(ns, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", peer);
    await ip(ns, "addr", "add", `${NODE_IP}/24`, "dev", "eth0");
    await ip(ns, "link", "set", "eth0", "up");
    // Route ClusterIPs over lo: the host portal DNATs them to a local address anyway, and the route decides the
    // client socket's MSS — via the 1500-byte veth the podwire path would pay for 1460-byte segments that the
    // haproxy and direct paths (local addresses, 64 KiB MTU) do not.
    await ip(ns, "route", "add", "10.96.0.0/12", "dev", "lo");
    await runIn(ns, "sysctl", ["-qw", `net.ipv4.tcp_tw_reuse=${TW_REUSE}`]);
    if (CONNTRACK_ALL) {
      const rule = ["-t", "nat", "-A", "OUTPUT", "-d", "10.96.0.99/32", "-p", "tcp", "-j", "DNAT"];
      await runIn(ns, "iptables", ["-w", ...rule, "--to-destination", `${NODE_IP}:1`]);
    }

    // Backends.
    writeFileSync(
      join(dir, "backend.cfg"),
      `global\n  nbthread 1\n  maxconn 9000\ndefaults\n  mode http\n  timeout client 30s\n  timeout server 30s\n  timeout connect 5s\n` +
        `frontend web\n  bind ${NODE_IP}:${HTTP_PORT}\n  http-request return status 200 content-type text/plain string ok\n`,
    );
    procs.push(startIn(ns, ["haproxy", "-f", join(dir, "backend.cfg"), "-db"]));
    procs.push(startIn(ns, ["iperf3", "-s", "-B", NODE_IP, "-p", String(IPERF_PORT)]));
    // The peer: haproxy in TCP mode, one thread, the same backends.
    writeFileSync(
      join(dir, "peer.cfg"),
      `global\n  nbthread ${PEER_THREADS}\n  maxconn 9000\ndefaults\n  mode tcp\n  timeout client 30s\n  timeout server 30s\n  timeout connect 5s\n` +
        `listen web\n  bind ${NODE_IP}:${HAPROXY_HTTP}\n  server b1 ${NODE_IP}:${HTTP_PORT}\n` +
        `listen bulk\n  bind ${NODE_IP}:${HAPROXY_IPERF}\n  server b1 ${NODE_IP}:${IPERF_PORT}\n`,
    );
    const haproxyPeer = startIn(ns, ["haproxy", "-f", join(dir, "peer.cfg"), "-db"]);
    procs.push(haproxyPeer);
    // podwire: two services with the backends as endpoints, reached through their ClusterIPs (host portal).
    writeFileSync(
      join(dir, "objects.json"),
      JSON.stringify({
        apiVersion: "v1",
        kind: "List",
        items: objectsFor([
          { name: "web", clusterIP: "10.96.0.10", port: 80, targetPort: HTTP_PORT, endpoints: [NODE_IP] },
          { name: "bulk", clusterIP: "10.96.0.11", port: 5201, targetPort: IPERF_PORT, endpoints: [NODE_IP] },
        ]),
      }),
    );
    const objectsPath = join(dir, "objects.json");
    /** The TCP implementation each podwire path reported (printed once per path). */
    const tcpOf = new Map<string, string>();
    const startPodwire = async (name: string, workers: number, fixtures = FIXTURES, env = process.env) => {
      proxy = new NsProcess(
        startIn(
          ns,
          [
            process.execPath,
            ...NODE_ARGS,
            join(fixtures, "proxy.js"),
            JSON.stringify({ objects: [objectsPath], nodeName: "n1", workers }),
          ],
          env,
        ),
      );
      const line = await proxy.waitLine((l) => l.includes('"synced":1'));
      if (!tcpOf.has(name)) {
        let impl = "unknown (a build before the field)";
        try {
          impl = (JSON.parse(line) as { tcp?: string }).tcp ?? impl;
        } catch {}
        tcpOf.set(name, impl);
        console.log(`  ${name}: TCP implementation ${impl}`);
      }
    };
    const stopPodwire = async () => {
      // Syncs during the run: nothing changes, so anything past the first is work that competes with the proxy.
      const syncs = proxy?.lines.filter((l) => l.includes('"synced"')).length ?? 0;
      if (syncs > 1) console.log(`  (podwire synced ${syncs} times during the run)`);
      await proxy?.stop();
      proxy = undefined;
    };
    for (const p of [HTTP_PORT, IPERF_PORT, HAPROXY_HTTP, HAPROXY_IPERF]) await waitPort(ns, p);

    const viaPodwire = { http: "http://10.96.0.10:80/", bulk: ["10.96.0.11", 5201] as const };
    type Path = {
      name: string;
      http: string;
      bulk: readonly [string, number];
      workers?: number;
      fixtures?: string;
      /** The proxy's environment (podwire-base: with --base-tcp / --base-env). */
      env?: NodeJS.ProcessEnv;
    };
    const allPaths: Path[] = [
      { name: "direct", http: `http://${NODE_IP}:${HTTP_PORT}/`, bulk: [NODE_IP, IPERF_PORT] },
      { name: "haproxy", http: `http://${NODE_IP}:${HAPROXY_HTTP}/`, bulk: [NODE_IP, HAPROXY_IPERF] },
      { name: "podwire", ...viaPodwire, workers: 0 },
      { name: "podwire-w1", ...viaPodwire, workers: 1 },
    ];
    // `--baseline DIR`: another build's dist/ (e.g. an older commit's) as path "podwire-base", side by side.
    if (BASELINE || BASE_TCP || Object.keys(BASE_ENV).length)
      allPaths.push({
        name: "podwire-base",
        ...viaPodwire,
        workers: 0,
        fixtures: BASELINE ? join(BASELINE, "test/integration/userspace/fixtures/") : FIXTURES,
        env: { ...process.env, ...(BASE_TCP ? { PODWIRE_USERSPACE_TCP: BASE_TCP } : {}), ...BASE_ENV },
      });
    const paths = allPaths.filter((p) => !ONLY_PATHS || ONLY_PATHS.includes(p.name));
    type Sample = { bulk: number; ka: WrkResult; nc: WrkResult; load: number };
    const samples: Record<string, Sample[]> = {};
    const load1 = () => os.loadavg()[0]!;
    const f0 = (x: number) => x.toFixed(0);
    const f2 = (x: number) => x.toFixed(2);
    const loadsAtStart = os.loadavg();
    // Rounds interleave the paths so a noisy neighbour hurts them alike; per-round ratios compare neighbours in
    // time, and the median with its spread over the rounds is reported.
    for (let round = 0; round < ROUNDS; round++) {
      for (const p of paths) {
        if (p.workers !== undefined) await startPodwire(p.name, p.workers, p.fixtures, p.env);
        try {
          const load = load1();
          const bulk = LOADS.has("bulk") ? await iperf(ns, p.bulk[0], p.bulk[1]) : Number.NaN;
          // nsenter execs its command, so these are the proxies' own PIDs (workers are found as children).
          const pids = p.name === "haproxy" ? [haproxyPeer.pid!] : p.workers !== undefined ? [proxy!.child.pid!] : [];
          const ka = LOADS.has("ka") ? await wrk(ns, p.http, false, pids) : NO_WRK;
          const nc = LOADS.has("nc") ? await wrk(ns, p.http, true, pids) : NO_WRK;
          // TIME_WAIT sockets after the new-connection run, by the side that holds them (leg ends by port).
          const synced = proxy?.lines.find((l) => l.includes('"synced"'));
          const proxyPorts = synced
            ? Object.values((JSON.parse(synced) as { ports: Record<string, number> }).ports)
            : [];
          const tw = LOADS.has("nc")
            ? await timeWaitSides(ns, {
                backend: HTTP_PORT,
                "haproxy-listener": HAPROXY_HTTP,
                ...Object.fromEntries(proxyPorts.map((x, i) => [`podwire-listener${i ? i : ""}`, x])),
              })
            : "";
          const list = samples[p.name] ?? [];
          list.push({ bulk, ka, nc, load });
          samples[p.name] = list;
          console.log(
            `round ${round + 1} ${p.name.padEnd(10)} load ${load.toFixed(1)} | bulk ${f2(bulk)} Gbit/s | keep-alive ${f0(ka.rps)} req/s p50 ${ka.p50ms.toFixed(3)} ms p99 ${ka.p99ms.toFixed(3)} ms err ${ka.errors}${ka.errorKinds && ` (${ka.errorKinds})`} | new-conn ${f0(nc.rps)} req/s p50 ${nc.p50ms.toFixed(3)} ms p99 ${nc.p99ms.toFixed(3)} ms err ${nc.errors}${nc.errorKinds && ` (${nc.errorKinds})`} | proxy CPU/req keep-alive ${f0(ka.cpuUsPerReq)} µs, new-conn ${f0(nc.cpuUsPerReq)} µs (user ${f0(nc.userUsPerReq)})`,
          );
          if (nc.kernel)
            console.log(`  new-conn kernel (bench netns): ${nc.kernel}; TIME_WAIT sockets after: ${tw || "none"}`);
        } finally {
          if (p.workers !== undefined) await stopPodwire();
        }
      }
    }
    const sorted = (xs: number[]) => xs.filter((x) => !Number.isNaN(x)).sort((a, b) => a - b);
    const med = (xs: number[]) => {
      const s = sorted(xs);
      if (s.length === 0) return Number.NaN;
      const m = Math.floor(s.length / 2);
      return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
    };
    /** "median (min–max)" over the rounds. */
    const spread = (xs: number[], fmt: (x: number) => string) => {
      const s = sorted(xs);
      if (s.length === 0) return "n/a";
      return s.length === 1 ? fmt(s[0]!) : `${fmt(med(s))} (${fmt(s[0]!)}–${fmt(s[s.length - 1]!)})`;
    };
    const of = (name: string) => samples[name] ?? []; // a path left out by --paths: no figures
    const col = (name: string, f: (x: Sample) => number) => of(name).map(f);
    console.log(`\nmedian (min–max) of ${ROUNDS} round(s):`);
    for (const p of paths) {
      const xs = of(p.name);
      const cpu =
        p.name === "direct"
          ? ""
          : ` | proxy CPU/req keep-alive ${spread(
              col(p.name, (x) => x.ka.cpuUsPerReq),
              f0,
            )} µs, new-conn ${spread(
              col(p.name, (x) => x.nc.cpuUsPerReq),
              f0,
            )} µs (user ${spread(
              col(p.name, (x) => x.nc.userUsPerReq),
              f0,
            )})`;
      const errors = xs.reduce((a, x) => a + x.ka.errors + x.nc.errors, 0);
      console.log(
        `${p.name.padEnd(10)} bulk ${spread(
          col(p.name, (x) => x.bulk),
          f2,
        )} Gbit/s | keep-alive ${spread(
          col(p.name, (x) => x.ka.rps),
          f0,
        )} req/s | new-conn ${spread(
          col(p.name, (x) => x.nc.rps),
          f0,
        )} req/s | errors ${errors}${cpu} | load ${spread(
          col(p.name, (x) => x.load),
          (x) => x.toFixed(1),
        )}`,
      );
    }
    /** Per-round ratio a/b (the two ran minutes apart at most), then median and spread over the rounds. */
    const ratios = (a: string, b: string, f: (x: Sample) => number) => {
      const xa = of(a);
      const xb = of(b);
      return spread(
        xa.map((x, i) => (xb[i] ? f(x) / f(xb[i]!) : Number.NaN)),
        f2,
      );
    };
    for (const name of ["podwire", "podwire-w1", "podwire-base"]) {
      if (!of(name).length) continue;
      console.log(
        `${name}/haproxy: bulk ${ratios(name, "haproxy", (x) => x.bulk)} (target >= 0.80), keep-alive ${ratios(name, "haproxy", (x) => x.ka.rps)}, new-conn ${ratios(name, "haproxy", (x) => x.nc.rps)} (target >= 0.70)`,
      );
      console.log(
        `${name}/direct: bulk ${ratios(name, "direct", (x) => x.bulk)}, keep-alive ${ratios(name, "direct", (x) => x.ka.rps)}, new-conn ${ratios(name, "direct", (x) => x.nc.rps)}`,
      );
      // CPU per request depends much less on what else runs on the machine than req/s does.
      console.log(
        `${name}/haproxy CPU per request (haproxy µs ÷ podwire µs, higher is better): keep-alive ${ratios("haproxy", name, (x) => x.ka.cpuUsPerReq)}, new-conn ${ratios("haproxy", name, (x) => x.nc.cpuUsPerReq)}`,
      );
    }
    for (const name of ["haproxy", "podwire", "podwire-w1", "podwire-base"]) {
      if (!of(name).length || !of("direct").length) continue;
      const d = (f: (x: Sample) => number) => med(col(name, f)) - med(col("direct", f));
      const ms = (x: number) => `${x >= 0 ? "+" : ""}${x.toFixed(3)} ms`;
      console.log(
        `${name} added latency vs direct (medians): keep-alive p50 ${ms(d((x) => x.ka.p50ms))} p99 ${ms(d((x) => x.ka.p99ms))}; new-conn p50 ${ms(d((x) => x.nc.p50ms))} p99 ${ms(d((x) => x.nc.p99ms))}`,
      );
    }
    // The CPU budget of each side: one accepting thread/process each (the fair comparison for the rates).
    console.log(
      `CPU budget: haproxy nbthread ${PEER_THREADS} (mode tcp, maxconn 9000, no splice options); podwire (and podwire-base) 1 process accepting (--proxy-workers 0); podwire-w1 1 worker process accepting, the primary only holding the socket (--proxy-workers 1)`,
    );
    console.log(`load average at start ${loadsAtStart.map((x) => x.toFixed(1)).join(" ")}`);
    console.log(
      `machine: ${os.cpus().length}x ${os.cpus()[0]?.model ?? "?"}, kernel ${os.release()}, node ${process.version}, load average ${os
        .loadavg()
        .map((x) => x.toFixed(1))
        .join(
          " ",
        )}; ${SECONDS} s per run, wrk -t1 -c${CONNS}; tcp_tw_reuse=${TW_REUSE} in the bench netns; conntrack ${CONNTRACK_ALL ? "on for every path (--conntrack-all)" : "on only while podwire runs"}; ${new Date().toISOString()}`,
    );
  } finally {
    await proxy?.stop();
    for (const p of procs) {
      if (p.exitCode === null) p.kill("SIGTERM");
    }
    await new Promise((r) => setTimeout(r, 300));
    for (const p of procs) if (p.exitCode === null) p.kill("SIGKILL");
    await scope.cleanup();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
