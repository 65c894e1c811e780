/**
 * Runs the userspace proxier from informers — an apiserver (`--kubeconfig`) or `--objects` files reloaded on
 * change, both through src/client's informerSource — and optionally serves /metrics and /healthz. The CLI and
 * the namespace tests both start the proxy through this.
 */
import http from "node:http";
import type { EndpointSlice } from "../../src/api/apps.js";
import type { Node, Service } from "../../src/api/core.js";
import { informerSource } from "../../src/client/index.js";
import { ConntrackRunner } from "../../src/netlinux/conntrack.js";
import type { UserspaceInput } from "./model.js";
import {
  type UserspaceLogger,
  type UserspaceProxier,
  type UserspaceProxierOptions,
  startUserspaceProxier,
} from "./proxier.js";
import { raiseNofile } from "./rlimit.js";
import { type UserspaceIptables, execRunner } from "./runner.js";

export interface UserspaceDaemonOptions extends Omit<UserspaceProxierOptions, "input" | "runner"> {
  objectsFiles?: string[];
  kubeconfig?: string;
  nodeName?: string;
  /** Overrides the Node's InternalIP/ExternalIP addresses. */
  nodeIPs?: string[];
  runner?: UserspaceIptables;
  /** host:port for the Prometheus endpoint (`/metrics`, also `/healthz`); absent = none. */
  metricsAddress?: string;
  /** Quiet time after a change before syncing (default 50 ms): a burst of events makes one sync. */
  minSyncMs?: number;
  /** Called after every successful sync. */
  onSynced?: (proxier: UserspaceProxier, generation: number) => void;
  log?: UserspaceLogger;
  /** Objects-file poll interval (default 200 ms). */
  pollIntervalMs?: number;
}

export interface UserspaceDaemon {
  proxier: UserspaceProxier;
  /** host:port the metrics server listens on, if any. */
  metricsAddress?: string;
  stop(opts?: { cleanup?: boolean }): Promise<void>;
}

function nodeIPsOfNode(n: Node | undefined): string[] {
  const addrs = n?.status?.addresses ?? [];
  return [
    ...addrs.filter((a) => a.type === "InternalIP").map((a) => a.address),
    ...addrs.filter((a) => a.type === "ExternalIP").map((a) => a.address),
  ];
}

export async function startUserspaceDaemon(opts: UserspaceDaemonOptions): Promise<UserspaceDaemon> {
  const log = opts.log;
  const nofile = await raiseNofile();
  log?.info("open-files limit", { nofile });
  const source = informerSource({
    kubeconfig: opts.kubeconfig,
    objects: opts.objectsFiles,
    file: { pollIntervalMs: opts.pollIntervalMs ?? 200, debounceMs: 20 },
    log: { warn: (o, m) => log?.warn(m ?? "client", o as Record<string, unknown>) },
  });
  const services = source.informer<Service>("Service");
  const slices = source.informer<EndpointSlice>("EndpointSlice");
  const nodes = opts.nodeName
    ? source.informer<Node>("Node", { fieldSelector: `metadata.name=${opts.nodeName}` })
    : null;
  const bounded = (p: Promise<void>) => Promise.race([p, new Promise((r) => setTimeout(r, 10_000).unref())]);
  await Promise.all([bounded(services.synced), bounded(slices.synced), nodes ? bounded(nodes.synced) : null]);

  const read = (): UserspaceInput => ({
    services: services.list(),
    endpointSlices: slices.list(),
    nodeName: opts.nodeName,
    nodeIPs: opts.nodeIPs?.length ? opts.nodeIPs : nodeIPsOfNode(nodes?.get(undefined, opts.nodeName!)),
  });

  let proxier: UserspaceProxier;
  try {
    proxier = await startUserspaceProxier({
      conntrack: new ConntrackRunner(null),
      ...opts,
      runner: opts.runner ?? (await execRunner(null)),
      input: read(),
    });
  } catch (e) {
    source.stop();
    throw e;
  }
  let generation = 1;
  opts.onSynced?.(proxier, generation);

  let pending: NodeJS.Timeout | null = null;
  let stopped = false;
  const schedule = () => {
    if (stopped || pending) return;
    pending = setTimeout(() => {
      pending = null;
      proxier
        .update(read())
        .then(() => opts.onSynced?.(proxier, ++generation))
        .catch((err) => log?.warn("sync failed", { error: (err as Error).message }));
    }, opts.minSyncMs ?? 50);
  };
  // Handlers replay the cache as adds; the first sync already covered those.
  let replaying = true;
  const onChange = () => {
    if (!replaying) schedule();
  };
  const unsubs = [services.onChange(onChange), slices.onChange(onChange), ...(nodes ? [nodes.onChange(onChange)] : [])];
  replaying = false;

  let server: http.Server | null = null;
  let metricsAddress: string | undefined;
  if (opts.metricsAddress) {
    const i = opts.metricsAddress.lastIndexOf(":");
    const host = opts.metricsAddress.slice(0, i) || "127.0.0.1";
    const port = Number(opts.metricsAddress.slice(i + 1));
    server = http.createServer(async (req, res) => {
      if (req.url === "/metrics") {
        res.setHeader("content-type", proxier.metrics.registry.contentType);
        res.end(await proxier.metrics.registry.metrics());
      } else if (req.url === "/healthz" || req.url === "/livez") res.end("ok");
      else {
        res.statusCode = 404;
        res.end();
      }
    });
    await new Promise<void>((resolve, reject) => {
      server!.once("error", reject);
      server!.listen(port, host, () => resolve());
    });
    const a = server.address();
    metricsAddress = a && typeof a === "object" ? `${host}:${a.port}` : opts.metricsAddress;
  }

  return {
    proxier,
    metricsAddress,
    async stop(stopOpts) {
      stopped = true;
      if (pending) clearTimeout(pending);
      for (const u of unsubs) u();
      source.stop();
      server?.close();
      await proxier.stop(stopOpts);
    },
  };
}
