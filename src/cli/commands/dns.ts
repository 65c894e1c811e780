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

interface DnsFlags {
  kubeconfig?: string;
  objects?: string[];
  listen: string;
  zone: string;
  ttl: number;
  upstream?: string[];
  pods: string;
  allow?: string[];
  metricsBindAddress?: string;
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
    .option("--pods <mode>", "pod records a-b-c-d.ns.pod.zone: disabled|insecure|verified", "insecure")
    .option(
      "--allow <cidr>",
      `clients that may use forwarding (repeatable; default ${DEFAULT_ALLOW.join(",")})`,
      collectCsv,
    )
    .option("--metrics-bind-address <host:port>", "serve Prometheus metrics (CoreDNS names) at /metrics");
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
  const metricsBind = flags.metricsBindAddress
    ? listenArg("--metrics-bind-address", flags.metricsBindAddress)
    : undefined;

  const log = pino({ base: undefined }, pino.destination(2));
  const source = informerSource({
    kubeconfig: flags.kubeconfig,
    objects: flags.objects,
    log,
    file: {
      onReloadError: (e) => log.warn({ err: e.message }, "dns: objects reload failed; serving the last good set"),
    },
  });
  const dns = await startDnsServer({
    listen,
    zone,
    ttl: flags.ttl,
    pods: flags.pods as PodsMode,
    upstreams,
    allow,
    metricsBind,
    source,
    log,
  });
  const where = dns.address.host.includes(":") ? `[${dns.address.host}]` : dns.address.host;
  process.stdout.write(`podwire dns: listening on ${where}:${dns.address.port} (udp+tcp)\n`);
  if (dns.metricsAddress)
    process.stdout.write(`podwire dns: metrics on ${dns.metricsAddress.host}:${dns.metricsAddress.port}\n`);
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
