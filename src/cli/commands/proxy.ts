/**
 * `podwire proxy` (daemon) and `podwire proxy render` (offline). Flags are named like kube-proxy's.
 * The mode branch is one table (`modes`): iptables mode lives in proxier/iptables, userspace in proxier/userspace.
 */
import { Command, Option } from "commander";
import pino from "pino";
import { loadObjectsFiles } from "../../objects/load.js";
import { startIptablesDaemon } from "../../../proxier/iptables/daemon.js";
import { ProxyFlagError, type ProxyRuleFlags, renderFromObjects } from "../../../proxier/iptables/offline.js";
import {
  UserspaceFlagError,
  type UserspaceFlags,
  renderUserspaceFromObjects,
  runUserspace as runUserspaceMode,
  validateUserspaceFlags,
} from "../../../proxier/userspace/cli.js";
import { cleanupUserspaceRules, execRunner } from "../../../proxier/userspace/index.js";
import { UsageError } from "../errors.js";
import { boolArg, collect, collectCsv, intArg } from "../program.js";

/** Flags shared by `proxy` and `proxy render`, as commander hands them over. */
export interface ProxyCliFlags {
  objects?: string[];
  kubeconfig?: string;
  proxyMode: "iptables" | "userspace";
  nodeName?: string;
  nodeIp?: string[];
  clusterCidr?: string[];
  masqueradeBit: number;
  masqueradeAll?: boolean;
  localhostNodeports: boolean;
  nodeportAddresses?: string[];
  ipFamily?: "ipv4" | "ipv6";
  // userspace mode
  bindAddress?: string;
  proxyPortRange?: string;
  udpTimeout: number;
  proxyWorkers: number;
  // daemon only
  metricsBindAddress: string;
  healthzBindAddress: string;
  iptablesMinSyncPeriod: number;
  iptablesSyncPeriod: number;
  fullSyncPeriod: number;
  iptablesBackend: "auto" | "legacy" | "nft";
  netns?: string;
}

export function ruleFlags(f: ProxyCliFlags): ProxyRuleFlags {
  return {
    ...(f.nodeName ? { nodeName: f.nodeName } : {}),
    nodeIPs: f.nodeIp ?? [],
    clusterCIDRs: f.clusterCidr ?? [],
    masqueradeBit: f.masqueradeBit,
    masqueradeAll: !!f.masqueradeAll,
    localhostNodePorts: f.localhostNodeports,
    nodePortAddresses: f.nodeportAddresses ?? [],
    ...(f.ipFamily ? { ipFamily: f.ipFamily === "ipv6" ? "IPv6" : "IPv4" } : {}),
  };
}

function addRuleFlags(cmd: Command): Command {
  return cmd
    .option("--objects <file>", "objects file (YAML/JSON, List or multi-doc; repeatable)", collect)
    .addOption(new Option("--proxy-mode <mode>", "proxy mode").choices(["iptables", "userspace"]).default("iptables"))
    .option("--node-name <name>", "this node's name (default: hostname)")
    .option("--node-ip <ip>", "node IP (repeatable; default: the Node's InternalIP/ExternalIP)", collectCsv)
    .option("--cluster-cidr <cidr>", "pod CIDR: traffic from outside it to a ClusterIP is masqueraded", collectCsv)
    .option("--masquerade-bit <n>", "fwmark bit for SNAT", intArg(0, 31), 14)
    .option("--masquerade-all", "SNAT all traffic to ClusterIPs")
    .option("--localhost-nodeports <bool>", "accept NodePort traffic on 127.0.0.1 (true|false)", boolArg, true)
    .option("--nodeport-addresses <cidr,...>", "node addresses NodePorts listen on (default: all)", collectCsv)
    .addOption(new Option("--ip-family <family>", "IP family of this proxier").choices(["ipv4", "ipv6"]))
    .option("--bind-address <ip>", "userspace mode: address the proxy sockets listen on (default 0.0.0.0)")
    .option("--proxy-port-range <range>", "userspace mode: local proxy ports, A-B or A+N (default: kernel-chosen)");
}

function seconds(v: string): number {
  const m = v.match(/^(\d+(?:\.\d+)?)(ms|s|m|h)?$/);
  if (!m) throw new UsageError(`invalid duration: ${v} (e.g. 1s, 500ms, 30s, 1h)`);
  const n = Number(m[1]);
  const unit = m[2] ?? "s";
  return n * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[unit]!;
}

function asUsage<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof ProxyFlagError || e instanceof UserspaceFlagError) throw new UsageError(e.message);
    throw e;
  }
}

async function renderIptables(f: ProxyCliFlags): Promise<void> {
  const objects = loadObjectsFiles(f.objects ?? []);
  const r = asUsage(() => renderFromObjects(objects, ruleFlags(f)));
  process.stdout.write(r.payload);
}

function userspaceFlags(f: ProxyCliFlags): UserspaceFlags {
  return {
    objects: f.objects,
    kubeconfig: f.kubeconfig,
    nodeName: f.nodeName,
    nodeIPs: f.nodeIp,
    bindAddress: f.bindAddress,
    proxyPortRange: f.proxyPortRange,
    udpTimeoutMs: f.udpTimeout,
    workers: f.proxyWorkers,
    metricsBindAddress: f.metricsBindAddress,
    netns: f.netns,
    iptablesBackend: f.iptablesBackend,
  };
}

async function renderUserspace(f: ProxyCliFlags): Promise<void> {
  const objects = loadObjectsFiles(f.objects ?? []);
  process.stdout.write(asUsage(() => renderUserspaceFromObjects(objects, userspaceFlags(f))));
}

async function runIptables(f: ProxyCliFlags): Promise<void> {
  const log = pino({ base: { component: "proxy", mode: "iptables" } }, pino.destination(2));
  // Mode switch: remove the userspace mode's portals first (a no-op when there are none).
  await execRunner(f.netns ?? null, f.iptablesBackend === "auto" ? undefined : f.iptablesBackend)
    .then(cleanupUserspaceRules)
    .catch((e) => log.warn({ err: String(e) }, "could not remove userspace-mode rules"));
  const daemon = await asUsage(() =>
    startIptablesDaemon({
      ...ruleFlags(f),
      ...(f.kubeconfig ? { kubeconfig: f.kubeconfig } : {}),
      ...(f.objects?.length ? { objects: f.objects } : {}),
      backend: f.iptablesBackend,
      netns: f.netns ?? null,
      minSyncPeriodMs: f.iptablesMinSyncPeriod,
      syncPeriodMs: f.iptablesSyncPeriod,
      fullSyncPeriodMs: f.fullSyncPeriod,
      metricsBindAddress: f.metricsBindAddress,
      healthzBindAddress: f.healthzBindAddress,
      logger: log,
    }),
  );
  process.stdout.write(
    `podwire proxy: iptables mode (${daemon.backend}); metrics on ${daemon.metricsAddress}, healthz on ${daemon.healthzAddress}\n`,
  );
  await new Promise<void>((resolve) => {
    process.once("SIGTERM", resolve);
    process.once("SIGINT", resolve);
  });
  await daemon.stop();
}

async function runUserspace(f: ProxyCliFlags): Promise<void> {
  const flags = userspaceFlags(f);
  asUsage(() => validateUserspaceFlags(flags));
  const log = pino({ base: { component: "proxy", mode: "userspace" } }, pino.destination(2));
  await runUserspaceMode(flags, { info: (m, o) => log.info(o ?? {}, m), warn: (m, o) => log.warn(o ?? {}, m) });
}

/** The mode branch: one entry per mode, for the daemon and for offline rendering. */
export const modes: Record<
  ProxyCliFlags["proxyMode"],
  { run(f: ProxyCliFlags): Promise<void>; render(f: ProxyCliFlags): Promise<void> }
> = {
  iptables: { run: runIptables, render: renderIptables },
  userspace: { run: runUserspace, render: renderUserspace },
};

/** `podwire proxy`: service proxy (iptables or userspace mode). */
export function registerProxy(program: Command): void {
  const proxy = addRuleFlags(program.command("proxy").description("service proxy (iptables or userspace mode)"))
    .option("--kubeconfig <file>", "kubeconfig for the API (instead of --objects)")
    .option("--metrics-bind-address <host:port>", "Prometheus metrics address", "127.0.0.1:10249")
    .option("--healthz-bind-address <host:port>", "health check address", "0.0.0.0:10256")
    .option("--iptables-min-sync-period <duration>", "minimum time between syncs (start to start)", seconds, 1000)
    .option("--iptables-sync-period <duration>", "maximum time between syncs; canary check period", seconds, 30_000)
    .option("--full-sync-period <duration>", "time between forced full syncs", seconds, 3_600_000)
    .addOption(
      new Option("--iptables-backend <backend>", "iptables backend (auto detects like iptables-wrappers)")
        .choices(["auto", "legacy", "nft"])
        .default("auto"),
    )
    .option("--udp-timeout <duration>", "userspace mode: idle timeout of UDP client entries", seconds, 250)
    .option("--proxy-workers <n>", "userspace mode: extra TCP worker processes", intArg(0, 64), 0)
    .option("--netns <name>", "apply rules inside this network namespace (testing, sandbox nodes)")
    .action(async (f: ProxyCliFlags) => {
      if (f.objects?.length && f.kubeconfig) throw new UsageError("use either --objects or --kubeconfig, not both");
      await modes[f.proxyMode].run(f);
    });

  const render = new Command("render")
    .description("print the iptables-restore payload of a full sync for the given objects (touches no kernel state)")
    .exitOverride();
  addRuleFlags(render).action(async (f: ProxyCliFlags) => {
    if (!f.objects?.length) throw new UsageError("proxy render needs --objects FILE");
    await modes[f.proxyMode].render(f);
  });
  proxy.addCommand(render);
}
