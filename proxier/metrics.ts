/**
 * Prometheus metrics with kube-proxy's names (pkg/proxy/metrics/metrics.go, subsystem `kubeproxy`), on a
 * registry of their own so several proxiers (tests) do not collide; and the HTTP servers kube-proxy runs:
 * metrics (`--metrics-bind-address`, default 127.0.0.1:10249: /metrics, /proxyMode, /healthz) and health
 * (`--healthz-bind-address`, default 0.0.0.0:10256: /healthz, /livez).
 */
import { type Server, createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

const syncBuckets = [
  0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.024, 2.048, 4.096, 8.192, 16.384,
];
const programmingBuckets = [
  0.25, 0.5, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 25, 30, 60, 120, 300,
];

export class ProxierMetrics {
  readonly registry = new Registry();
  readonly syncDuration = this.histogram(
    "kubeproxy_sync_proxy_rules_duration_seconds",
    "SyncProxyRules latency in seconds",
  );
  readonly syncFullDuration = this.histogram(
    "kubeproxy_sync_full_proxy_rules_duration_seconds",
    "SyncProxyRules latency in seconds for full resyncs",
  );
  readonly syncPartialDuration = this.histogram(
    "kubeproxy_sync_partial_proxy_rules_duration_seconds",
    "SyncProxyRules latency in seconds for partial resyncs",
  );
  readonly networkProgramming = new Histogram({
    name: "kubeproxy_network_programming_duration_seconds",
    help: "In Cluster Network Programming Latency in seconds",
    buckets: programmingBuckets,
    registers: [this.registry],
  });
  readonly iptablesTotal = this.gauge(
    "kubeproxy_sync_proxy_rules_iptables_total",
    "Total number of iptables rules owned by kube-proxy",
    ["table"],
  );
  readonly iptablesLast = this.gauge(
    "kubeproxy_sync_proxy_rules_iptables_last",
    "Number of iptables rules written by kube-proxy in last sync",
    ["table"],
  );
  readonly restoreFailures = this.counter(
    "kubeproxy_sync_proxy_rules_iptables_restore_failures_total",
    "Cumulative proxy iptables restore failures",
  );
  readonly partialRestoreFailures = this.counter(
    "kubeproxy_sync_proxy_rules_iptables_partial_restore_failures_total",
    "Cumulative proxy iptables partial restore failures",
  );
  readonly noLocalEndpoints = this.gauge(
    "kubeproxy_sync_proxy_rules_no_local_endpoints_total",
    "Number of services with a Local traffic policy and no endpoints",
    ["traffic_policy"],
  );
  readonly lastTimestamp = this.gauge(
    "kubeproxy_sync_proxy_rules_last_timestamp_seconds",
    "The last time proxy rules were successfully synced",
  );
  readonly lastQueuedTimestamp = this.gauge(
    "kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds",
    "The last time a sync of proxy rules was queued",
  );
  readonly endpointChanges = this.counter(
    "kubeproxy_sync_proxy_rules_endpoint_changes_total",
    "Cumulative proxy rules EndpointSlice changes",
  );
  readonly serviceChanges = this.counter(
    "kubeproxy_sync_proxy_rules_service_changes_total",
    "Cumulative proxy rules Service changes",
  );
  readonly conntrackDeletions = this.counter(
    "kubeproxy_conntrack_reconciler_deleted_entries_total",
    "Cumulative conntrack flows deleted by the proxier",
  );

  constructor(opts: { defaultMetrics?: boolean } = {}) {
    if (opts.defaultMetrics) collectDefaultMetrics({ register: this.registry });
  }

  private histogram(name: string, help: string) {
    return new Histogram({ name, help, buckets: syncBuckets, registers: [this.registry] });
  }
  private gauge<L extends string>(name: string, help: string, labelNames: L[] = []) {
    return new Gauge<L>({ name, help, labelNames, registers: [this.registry] });
  }
  private counter(name: string, help: string) {
    return new Counter({ name, help, registers: [this.registry] });
  }
}

/** kube-proxy's ProxyHealthServer logic: healthy unless a queued update waited longer than the timeout. */
export class HealthState {
  lastUpdated = 0;
  lastQueued = 0;
  constructor(
    private readonly healthTimeoutMs: number,
    private readonly now: () => number = Date.now,
  ) {}
  queued(): void {
    if (this.lastQueued <= this.lastUpdated) this.lastQueued = this.now();
  }
  updated(): void {
    this.lastUpdated = this.now();
    this.lastQueued = 0;
  }
  healthy(): boolean {
    if (this.lastUpdated === 0 && this.lastQueued === 0) return true;
    if (this.lastQueued === 0 || this.lastQueued <= this.lastUpdated) return true;
    return this.now() - this.lastQueued < this.healthTimeoutMs;
  }
}

/** Parses `host:port` / `[v6]:port` / `:port`. */
export function parseBindAddress(s: string): { host: string; port: number } {
  const m = s.match(/^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/);
  if (!m) throw new Error(`bad bind address ${s} (want HOST:PORT)`);
  return { host: m[1] ?? (m[2] || "0.0.0.0"), port: Number(m[3]) };
}

function listen(server: Server, addr: string): Promise<string> {
  const { host, port } = parseBindAddress(addr);
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      const a = server.address() as AddressInfo;
      resolve(a.family === "IPv6" ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`);
    });
  });
}

export interface RunningServer {
  /** The address actually bound (port 0 resolved). */
  address: string;
  close(): Promise<void>;
}

function wrap(server: Server, address: string): RunningServer {
  return {
    address,
    close: () =>
      new Promise((r) => {
        server.closeAllConnections?.();
        server.close(() => r());
      }),
  };
}

/** /metrics, /proxyMode and /healthz on the metrics address. */
export async function startMetricsServer(
  addr: string,
  metrics: ProxierMetrics,
  proxyMode: string,
  health: HealthState,
): Promise<RunningServer> {
  const server = createServer(async (req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (path === "/metrics") {
      res.setHeader("Content-Type", metrics.registry.contentType);
      res.end(await metrics.registry.metrics());
    } else if (path === "/proxyMode") {
      res.end(proxyMode);
    } else if (path === "/healthz" || path === "/livez") {
      res.statusCode = health.healthy() ? 200 : 503;
      res.end(health.healthy() ? "ok" : "unhealthy");
    } else {
      res.statusCode = 404;
      res.end("not found\n");
    }
  });
  return wrap(server, await listen(server, addr));
}

/** kube-proxy's health server: /healthz and /livez answer JSON with lastUpdated/currentTime. */
export async function startHealthzServer(
  addr: string,
  health: HealthState,
  nodeEligible = () => true,
): Promise<RunningServer> {
  const server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (path !== "/healthz" && path !== "/livez") {
      res.statusCode = 404;
      res.end("not found\n");
      return;
    }
    const ok = health.healthy();
    res.statusCode = ok ? 200 : 503;
    res.setHeader("Content-Type", "application/json");
    res.setHeader("X-Content-Type-Options", "nosniff");
    res.end(
      JSON.stringify({
        lastUpdated: new Date(health.lastUpdated || 0).toISOString(),
        currentTime: new Date().toISOString(),
        ...(path === "/healthz" ? { nodeEligible: nodeEligible() } : {}),
      }),
    );
  });
  return wrap(server, await listen(server, addr));
}
