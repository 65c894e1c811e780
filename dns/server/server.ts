/**
 * Wires the DNS server together: informers (apiserver or objects files) → zone view → handler chain → UDP/TCP
 * listeners, plus forwarding, its cache and metrics. Informer events only mark the view dirty; one rebuild
 * runs per burst of changes (kube-proxy's pattern: record changes, sync once).
 */
import type http from "node:http";
import type { KubeObject } from "../../src/api/index.js";
import type { Informer, InformerSource } from "../../src/client/index.js";
import { stripForDns } from "../zone/strip.js";
import { buildZoneView, type PodsMode, type ZoneOptions } from "../zone/view.js";
import { AnswerCache } from "./cache.js";
import { CidrSet } from "./acl.js";
import { Forwarder, type Upstream } from "./forward.js";
import { DnsHandler } from "./handler.js";
import { compactHeap } from "./heap.js";
import { DnsMetrics } from "./metrics.js";
import { DnsTransport, type ListenAddress } from "./transport.js";

export interface DnsServerConfig {
  listen: ListenAddress;
  zone: string;
  ttl: number;
  pods: PodsMode;
  upstreams: Upstream[];
  /** Stub domains: suffix → its upstreams. */
  stubDomains?: { suffix: string; upstreams: Upstream[] }[];
  /** CIDRs allowed to recurse (use the forward chain). */
  allow: string[];
  metricsBind?: ListenAddress | undefined;
  source: InformerSource;
  /** Run one compacting full GC after the first sync (heap.ts); for daemons, not for in-process tests. */
  compactHeapAfterSync?: boolean;
  log?: { info(o: object, m?: string): void; warn(o: object, m?: string): void };
}

export interface RunningDns {
  readonly address: ListenAddress;
  readonly handler: DnsHandler;
  readonly metricsAddress?: ListenAddress;
  /** Resolves after the first full sync of the watched objects. */
  readonly synced: Promise<void>;
  /** Zone rebuilds so far (tests). */
  rebuilds(): number;
  close(): Promise<void>;
}

const RELEASE_LAST_MATCH = /x/;

export async function startDnsServer(cfg: DnsServerConfig): Promise<RunningDns> {
  const zone: ZoneOptions = { zone: cfg.zone.toLowerCase().replace(/\.$/, ""), ttl: cfg.ttl, pods: cfg.pods };
  const metrics = new DnsMetrics(`dns://${cfg.listen.host}:${cfg.listen.port}`);
  const forwarder = cfg.upstreams.length ? new Forwarder(cfg.upstreams) : undefined;
  const stubs = (cfg.stubDomains ?? []).map((d) => ({
    suffix: d.suffix.toLowerCase().replace(/\.$/, ""),
    resolver: new Forwarder(d.upstreams),
  }));
  const cache = forwarder || stubs.length ? new AnswerCache() : undefined;
  metrics.cacheEntries = () => cache?.size ?? 0;
  const acl = new CidrSet(cfg.allow);
  const handler = new DnsHandler({
    zone,
    metrics,
    allowRecursion: (a) => acl.contains(a),
    ...(forwarder ? { forwarder } : {}),
    ...(stubs.length ? { stubs } : {}),
    ...(cache ? { cache } : {}),
  });

  // The informers keep only what the zone reads (strip.ts): whole objects were most of the memory.
  const transform = stripForDns;
  const informers: Informer<KubeObject>[] = [
    cfg.source.informer("Namespace", { transform }),
    cfg.source.informer("Service", { transform }),
    cfg.source.informer("EndpointSlice", { transform }),
  ];
  if (cfg.pods === "verified")
    informers.push(
      cfg.source.informer("Pod", {
        fieldSelector: "status.phase!=Succeeded,status.phase!=Failed,status.phase!=Unknown",
        transform,
      }),
    );

  let rebuilds = 0;
  let serial = Math.floor(Date.now() / 1000);
  let pending: NodeJS.Immediate | undefined;
  let dirty = false;
  let firstSync: (() => void) | undefined;
  const synced = new Promise<void>((resolve) => {
    firstSync = resolve;
  });
  const rebuild = () => {
    pending = undefined;
    if (!dirty || !informers.every((i) => i.hasSynced())) return;
    dirty = false;
    const objects = informers.flatMap((i) => i.list());
    // SOA serial: seconds, but always increasing across rebuilds.
    serial = Math.max(serial + 1, Math.floor(Date.now() / 1000));
    handler.setView(buildZoneView(objects, zone, serial >>> 0));
    rebuilds++;
    // V8 keeps the subject of the last successful regexp match alive; after a reload of objects files that is
    // the whole file text (src/objects/load.ts tests it with a regexp). A match on a tiny string lets it go.
    RELEASE_LAST_MATCH.test("x");
    if (firstSync) {
      // Rebuilds run from setImmediate, so what the source let go of at the end of its loading turn (FileSource's
      // parsed files, a relist's whole objects) is garbage by now: give it back before serving.
      const gcMs = cfg.compactHeapAfterSync ? Math.round(compactHeap()) : undefined;
      firstSync();
      firstSync = undefined;
      cfg.log?.info({ rebuilds, gcMs }, "dns: objects synced; serving the cluster zone");
    }
  };
  const schedule = () => {
    dirty = true;
    if (!pending) pending = setImmediate(rebuild);
  };
  const unsubscribe = informers.map((i) => i.onChange(schedule));
  void Promise.all(informers.map((i) => i.synced)).then(schedule);

  const transport = new DnsTransport(handler);
  const address = await transport.listen(cfg.listen);
  let metricsServer: http.Server | undefined;
  let metricsAddress: ListenAddress | undefined;
  if (cfg.metricsBind) {
    metricsServer = await metrics.serve(cfg.metricsBind.host, cfg.metricsBind.port, () => handler.synced);
    const a = metricsServer.address();
    if (a && typeof a === "object") metricsAddress = { host: cfg.metricsBind.host, port: a.port };
  }

  return {
    address,
    handler,
    ...(metricsAddress ? { metricsAddress } : {}),
    synced,
    rebuilds: () => rebuilds,
    async close() {
      for (const u of unsubscribe) u();
      if (pending) clearImmediate(pending);
      await transport.close();
      forwarder?.close();
      for (const st of stubs) st.resolver.close();
      if (metricsServer) {
        metricsServer.closeAllConnections();
        await new Promise<void>((r) => metricsServer?.close(() => r()));
      }
    },
  };
}
