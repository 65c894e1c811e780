/**
 * `podwire proxy` in iptables mode: informers (apiserver via --kubeconfig, or --objects files reloaded on change)
 * feed the IptablesProxier; metrics and health servers; runs until stop().
 */
import type { EndpointSlice, Node, Service } from "../../src/api/index.js";
import { informerSource } from "../../src/client/index.js";
import { ConntrackRunner } from "../../src/netlinux/conntrack.js";
import { type Backend, IptablesRunner, detectBackend } from "../../src/netlinux/iptables.js";
import { type NetnsRef, sysctl } from "../../src/netlinux/netns.js";
import { HealthState, ProxierMetrics, type RunningServer, startHealthzServer, startMetricsServer } from "../metrics.js";
import {
  type ProxyRuleFlags,
  defaultNodeName,
  renderOptionsFromFlags,
  resolveFamily,
  validateRuleFlags,
} from "./offline.js";
import { IptablesProxier, type Logger, nodeAddresses } from "./proxier.js";

export interface IptablesDaemonOptions extends ProxyRuleFlags {
  kubeconfig?: string;
  objects?: string[];
  /** auto = detect like iptables-wrappers. */
  backend?: Backend | "auto";
  /** Run every iptables/conntrack/sysctl call inside this network namespace (tests, sandbox nodes). */
  netns?: NetnsRef;
  minSyncPeriodMs?: number;
  /** Coalescing window before a sync is requested (IptablesProxierOptions.batchDelayMs); default 10 ms. */
  batchDelayMs?: number;
  syncPeriodMs?: number;
  fullSyncPeriodMs?: number;
  /** Edit large chains in place on partial syncs (incremental.ts). Default true: the real iptables-restore takes -D/-I. */
  incrementalEdits?: boolean;
  /** Per-sync `programming trace` log lines; default: env PODWIRE_PROGRAMMING_TRACE=1. */
  trace?: boolean;
  metricsBindAddress?: string;
  healthzBindAddress?: string;
  logger: Logger;
}

export interface IptablesDaemon {
  proxier: IptablesProxier;
  backend: Backend;
  metricsAddress: string;
  healthzAddress: string;
  stop(): Promise<void>;
}

export async function startIptablesDaemon(opts: IptablesDaemonOptions): Promise<IptablesDaemon> {
  validateRuleFlags(opts);
  const log = opts.logger;
  const nodeName = opts.nodeName ?? defaultNodeName();
  const netns = opts.netns ?? null;
  const source = informerSource({
    kubeconfig: opts.kubeconfig,
    objects: opts.objects,
    log: { warn: (o, m) => log.warn(o, m), info: (o, m) => log.info(o, m) },
  });
  const nodes = source.informer<Node>("Node", { fieldSelector: `metadata.name=${nodeName}` });
  // Node IPs decide the family, so wait for the node informer first (bounded: a missing Node is not fatal).
  await Promise.race([nodes.synced, new Promise((r) => setTimeout(r, 10_000).unref())]);
  const nodeIPs = opts.nodeIPs?.length ? opts.nodeIPs : nodeAddresses(nodes.get(undefined, nodeName));
  const family = resolveFamily(opts, nodeIPs);
  const backend = !opts.backend || opts.backend === "auto" ? await detectBackend(netns) : opts.backend;
  const iptables = new IptablesRunner({ family, backend, netns });
  const renderOpts = renderOptionsFromFlags(opts, family);
  if (family === "IPv4" && renderOpts.localhostNodePorts) {
    // NodePorts on 127.0.0.1 need route_localnet (kube-proxy sets it too; KUBE-FIREWALL guards it).
    await sysctl(netns, "net.ipv4.conf.all.route_localnet", "1").catch((e) =>
      log.warn({ err: String(e) }, "could not set route_localnet"),
    );
  }
  const syncPeriodMs = opts.syncPeriodMs ?? 30_000;
  const metrics = new ProxierMetrics({ defaultMetrics: true });
  const health = new HealthState(2 * syncPeriodMs);
  const proxier = new IptablesProxier({
    iptables,
    conntrack: new ConntrackRunner(netns),
    nodeName,
    ...(opts.nodeIPs?.length ? { nodeIPs: opts.nodeIPs } : {}),
    render: renderOpts,
    minSyncPeriodMs: opts.minSyncPeriodMs ?? 1_000,
    batchDelayMs: opts.batchDelayMs ?? 10,
    syncPeriodMs,
    fullSyncPeriodMs: opts.fullSyncPeriodMs ?? 3_600_000,
    incrementalEdits: opts.incrementalEdits ?? true,
    trace: opts.trace ?? process.env.PODWIRE_PROGRAMMING_TRACE === "1",
    metrics,
    health,
    logger: log,
  });
  log.info({ nodeName, family, backend, nodeIPs, netns }, "starting iptables proxier");

  const servers: RunningServer[] = [];
  try {
    servers.push(await startMetricsServer(opts.metricsBindAddress ?? "127.0.0.1:10249", metrics, "iptables", health));
    servers.push(await startHealthzServer(opts.healthzBindAddress ?? "0.0.0.0:10256", health));
  } catch (e) {
    for (const s of servers) await s.close();
    source.stop();
    throw e;
  }

  nodes.addHandler({
    onAdd: (n) => proxier.onNodeUpdate(n),
    onUpdate: (_o, n) => proxier.onNodeUpdate(n),
    onDelete: () => proxier.onNodeUpdate(undefined),
  });
  const services = source.informer<Service>("Service");
  const slices = source.informer<EndpointSlice>("EndpointSlice");
  services.addHandler({
    onAdd: (s) => proxier.onServiceAdd(s),
    onUpdate: (o, s) => proxier.onServiceUpdate(o, s),
    onDelete: (s) => proxier.onServiceDelete(s),
  });
  slices.addHandler({
    onAdd: (s) => proxier.onEndpointSliceAdd(s),
    onUpdate: (_o, s) => proxier.onEndpointSliceUpdate(s),
    onDelete: (s) => proxier.onEndpointSliceDelete(s),
  });
  proxier.start();
  void services.synced.then(() => proxier.onServicesSynced());
  void slices.synced.then(() => proxier.onEndpointSlicesSynced());

  return {
    proxier,
    backend,
    metricsAddress: servers[0]!.address,
    healthzAddress: servers[1]!.address,
    async stop() {
      source.stop();
      await proxier.stop();
      for (const s of servers) await s.close();
    },
  };
}
