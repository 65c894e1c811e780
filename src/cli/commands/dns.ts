import cluster, { type Worker } from "node:cluster";
import v8 from "node:v8";
import type { Command } from "commander";
import pino from "pino";
import { CidrSet, DEFAULT_ALLOW } from "../../../dns/server/acl.js";
import { type Upstream, upstreamsFromResolvConf } from "../../../dns/server/forward.js";
import { startDnsServer } from "../../../dns/server/server.js";
import { type ListenAddress, parseHostPort } from "../../../dns/server/transport.js";
import type { PodsMode } from "../../../dns/zone/view.js";
import { informerSource } from "../../client/index.js";
import { UsageError } from "../errors.js";
import { collect, collectCsv, intArg } from "../program.js";

// Keep V8's young generation at its initial 1 MB semi-spaces. Loading the objects grows it to 2 × 16 MB, which
// then stays committed for good (~30 MB of RSS); a DNS server's per-query garbage is tiny and short-lived, so small
// semi-spaces cost nothing measurable in QPS. (--max-semi-space-size can only be given when node starts; this
// module is loaded only for `podwire dns`.)
v8.setFlagsFromString("--semi-space-growth-factor=1");

interface DnsFlags {
  kubeconfig?: string;
  objects?: string[];
  listen: string;
  zone: string;
  ttl: number;
  upstream?: string[];
  stubDomain?: string[];
  pods: string;
  allow?: string[];
  metricsBindAddress?: string;
  workers: number;
}

function listenArg(flag: string, s: string): ListenAddress {
  const a = parseHostPort(s);
  if (!a) throw new UsageError(`${flag}: expected HOST:PORT (e.g. 127.0.0.1:5353 or [::1]:53), got ${s}`);
  return a;
}

function upstreamArg(s: string): Upstream {
  const a = parseHostPort(s) ?? parseHostPort(s.includes(":") && !s.startsWith("[") ? `[${s}]:53` : `${s}:53`);
  if (!a || a.port === 0) throw new UsageError(`--upstream: expected IP or IP:PORT, got ${s}`);
  return { host: a.host, port: a.port };
}

function addDnsFlags(cmd: Command, listenDefault: string): Command {
  return cmd
    .option("--listen <host:port>", "UDP+TCP address to serve on", listenDefault)
    .option("--zone <domain>", "cluster domain", "cluster.local")
    .option("--ttl <seconds>", "TTL of cluster records and of negative answers (CoreDNS ttl)", intArg(0, 3600), 5)
    .option(
      "--upstream <ip:port>",
      "forward other names here (repeatable; default: nameservers of /etc/resolv.conf; 'none' disables)",
      collect,
    )
    .option(
      "--stub-domain <suffix=ip[:port],…>",
      "forward names under suffix to these servers instead (repeatable; like kube-dns stubDomains)",
      collect,
    )
    .option("--pods <mode>", "pod records a-b-c-d.ns.pod.zone: disabled|insecure|verified", "insecure")
    .option(
      "--allow <cidr>",
      `clients that may use forwarding (repeatable; default ${DEFAULT_ALLOW.join(",")})`,
      collectCsv,
    )
    .option("--metrics-bind-address <host:port>", "serve Prometheus metrics (CoreDNS names) at /metrics")
    .option(
      "--workers <n>",
      "server processes sharing the UDP/TCP sockets (like CoreDNS multisocket; metrics come from worker 0)",
      intArg(1, 64),
      1,
    );
}

async function run(flags: DnsFlags): Promise<void> {
  const listen = listenArg("--listen", flags.listen);
  const zone = flags.zone.replace(/\.$/, "").toLowerCase();
  if (!/^([a-z0-9]([a-z0-9-]*[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]*[a-z0-9])?$/.test(zone))
    throw new UsageError(`--zone: not a domain name: ${flags.zone}`);
  if (!["disabled", "insecure", "verified"].includes(flags.pods))
    throw new UsageError(`--pods: expected disabled, insecure or verified, got ${flags.pods}`);
  const allow = flags.allow?.length ? flags.allow : DEFAULT_ALLOW;
  for (const c of allow) {
    try {
      CidrSet.validate(c);
    } catch {
      throw new UsageError(`--allow: not a CIDR: ${c}`);
    }
  }
  let upstreams: Upstream[];
  if (flags.upstream?.includes("none")) upstreams = [];
  else if (flags.upstream?.length) upstreams = flags.upstream.map(upstreamArg);
  else upstreams = upstreamsFromResolvConf();
  const stubDomains = (flags.stubDomain ?? []).map((spec) => {
    const m = /^([^=]+)=(.+)$/.exec(spec);
    if (!m?.[1] || !m[2]) throw new UsageError(`--stub-domain: expected SUFFIX=IP[:PORT][,IP…], got ${spec}`);
    return { suffix: m[1].replace(/\.$/, "").toLowerCase(), upstreams: m[2].split(",").map(upstreamArg) };
  });
  const workerIndex = cluster.isWorker ? Number(process.env.PODWIRE_DNS_WORKER ?? 0) : 0;
  const metricsBind =
    flags.metricsBindAddress && workerIndex === 0
      ? listenArg("--metrics-bind-address", flags.metricsBindAddress)
      : undefined;
  if (flags.workers > 1 && cluster.isPrimary) return runPrimary(flags.workers);

  const log = pino({ base: undefined }, pino.destination(2));
  const source = informerSource({
    kubeconfig: flags.kubeconfig,
    objects: flags.objects,
    log,
    file: {
      // Only the informers' stripped copies stay in memory, not the parsed files.
      retainObjects: false,
      onReloadError: (e) => log.warn({ err: e.message }, "dns: objects reload failed; serving the last good set"),
    },
  });
  const dns = await startDnsServer({
    listen,
    zone,
    ttl: flags.ttl,
    pods: flags.pods as PodsMode,
    upstreams,
    stubDomains,
    allow,
    metricsBind,
    source,
    compactHeapAfterSync: true,
    log,
  });
  const where = dns.address.host.includes(":") ? `[${dns.address.host}]` : dns.address.host;
  const lines = [`podwire dns: listening on ${where}:${dns.address.port} (udp+tcp)`];
  if (dns.metricsAddress) lines.push(`podwire dns: metrics on ${dns.metricsAddress.host}:${dns.metricsAddress.port}`);
  if (cluster.isWorker) process.send?.({ type: "listening", lines });
  else process.stdout.write(`${lines.join("\n")}\n`);
  const stopOnError = (e: unknown) => log.error({ err: String(e) }, "dns: unexpected error (kept running)");
  // Last resort: the handler catches everything itself, but a stray rejection must never kill the server.
  process.on("unhandledRejection", stopOnError);
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once("SIGTERM", stop);
    process.once("SIGINT", stop);
  });
  await dns.close();
  source.stop();
  process.removeListener("unhandledRejection", stopOnError);
}

/**
 * `--workers N`: the primary forks N copies of this command (cluster module); they share the listening sockets
 * (the kernel hands each datagram to one of them), so the server uses more than one core. A worker that dies is
 * replaced; one that fails before any is ready makes the command fail with its exit code.
 */
async function runPrimary(n: number): Promise<void> {
  let stopping = false;
  let ready = 0;
  const live = new Set<Worker>();
  let failed: ((code: number) => void) | undefined;
  const fork = (i: number) => {
    const w = cluster.fork({ PODWIRE_DNS_WORKER: String(i) });
    live.add(w);
    w.on("message", (m: { type?: string; lines?: string[] }) => {
      if (m?.type !== "listening") return;
      ready++;
      if (ready === n) process.stdout.write(`${(m.lines ?? []).join("\n")}\n`);
    });
    w.on("exit", (code) => {
      live.delete(w);
      if (stopping) return;
      if (ready === 0) failed?.(code ?? 1);
      else setTimeout(() => fork(i), 1000).unref();
    });
  };
  for (let i = 0; i < n; i++) fork(i);
  const code = await new Promise<number>((resolve) => {
    failed = resolve;
    process.once("SIGTERM", () => resolve(0));
    process.once("SIGINT", () => resolve(0));
  });
  stopping = true;
  await Promise.all(
    [...live].map(
      (w) =>
        new Promise<void>((resolve) => {
          if (w.isDead()) return resolve();
          const t = setTimeout(() => w.process.kill("SIGKILL"), 9000);
          w.once("exit", () => {
            clearTimeout(t);
            resolve();
          });
          w.process.kill("SIGTERM");
        }),
    ),
  );
  if (code !== 0) throw new Error(`dns worker exited with code ${code} before serving`);
}

/** `podwire dns`: cluster DNS server (daemon against an apiserver) and `podwire dns serve --objects` (offline). */
export function registerDns(program: Command): void {
  const dns = addDnsFlags(
    program
      .command("dns")
      .description("cluster DNS server (CoreDNS kubernetes+cache+forward) watching the API")
      .option("--kubeconfig <file>", "kubeconfig (default: KUBECONFIG, in-cluster, ~/.kube/config)"),
    "0.0.0.0:53",
  ).action((flags: DnsFlags) => run(flags));
  addDnsFlags(
    dns
      .command("serve")
      .description("serve the cluster zone from objects files (reloaded on change), no apiserver")
      .requiredOption("--objects <file>", "YAML/JSON objects file (repeatable)", collect),
    "127.0.0.1:5353",
  ).action((flags: DnsFlags) => {
    if (!flags.objects?.length) throw new UsageError("--objects is required");
    return run(flags);
  });
}
