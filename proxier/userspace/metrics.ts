/**
 * Prometheus metrics of the userspace mode. Per service port (`service` label = `ns/svc:port`): active TCP
 * connections / UDP clients, bytes each way, dial failures, accepted connections. Sync metrics reuse
 * kube-proxy's names (kubeproxy_sync_proxy_rules_*) so dashboards work across modes.
 */
import { Counter, Gauge, Histogram, Registry } from "prom-client";

/** The per-service-port children a proxy socket updates, bound once (label lookups per connection cost). */
export interface PortMetricChildren {
  active: { inc(n?: number): void; dec(n?: number): void; set(n: number): void };
  accepted: { inc(n?: number): void };
  bytesIn: { inc(n?: number): void };
  bytesOut: { inc(n?: number): void };
  dialFail: { inc(n?: number): void };
  noEp: { inc(n?: number): void };
}

export class UserspaceMetrics {
  readonly registry: Registry;
  /**
   * Flushes of counts kept as plain numbers on hot paths (per TCP connection, prom-client's labelled inc()
   * costs a label hash each time); run before any of the connection metrics is read.
   */
  private readonly collectors = new Set<() => void>();
  readonly activeConnections: Gauge<"service" | "protocol">;
  readonly connectionsTotal: Counter<"service" | "protocol">;
  readonly bytes: Counter<"service" | "direction">;
  readonly dialFailures: Counter<"service">;
  readonly noEndpoints: Counter<"service">;
  readonly syncDuration: Histogram;
  readonly syncLastTimestamp: Gauge;
  readonly iptablesTotal: Gauge<"table">;
  readonly restoreFailures: Counter;
  readonly listeners: Gauge;

  constructor(registry = new Registry()) {
    this.registry = registry;
    const registers = [registry];
    const collect = () => this.flush();
    this.activeConnections = new Gauge({
      name: "podwire_userspace_active_connections",
      collect,
      help: "Open proxied TCP connections and live UDP client entries per service port",
      labelNames: ["service", "protocol"],
      registers,
    });
    this.connectionsTotal = new Counter({
      name: "podwire_userspace_connections_total",
      collect,
      help: "TCP connections accepted and UDP client entries created per service port",
      labelNames: ["service", "protocol"],
      registers,
    });
    this.bytes = new Counter({
      name: "podwire_userspace_bytes_total",
      collect,
      help: "Bytes proxied per service port; direction=in is client to backend, out is backend to client",
      labelNames: ["service", "direction"],
      registers,
    });
    this.dialFailures = new Counter({
      name: "podwire_userspace_dial_failures_total",
      collect,
      help: "Failed backend dials (each attempt) per service port",
      labelNames: ["service"],
      registers,
    });
    this.noEndpoints = new Counter({
      name: "podwire_userspace_no_endpoint_total",
      collect,
      help: "Connections or datagrams dropped because no endpoint could be reached",
      labelNames: ["service"],
      registers,
    });
    this.listeners = new Gauge({
      name: "podwire_userspace_listeners",
      help: "Open proxy listeners (one per service port)",
      registers,
    });
    this.syncDuration = new Histogram({
      name: "kubeproxy_sync_proxy_rules_duration_seconds",
      help: "SyncProxyRules latency in seconds",
      buckets: [
        0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.024, 2.048, 4.096, 8.192, 16.384,
      ],
      registers,
    });
    this.syncLastTimestamp = new Gauge({
      name: "kubeproxy_sync_proxy_rules_last_timestamp_seconds",
      help: "The last time proxy rules were successfully synced",
      registers,
    });
    this.iptablesTotal = new Gauge({
      name: "kubeproxy_sync_proxy_rules_iptables_total",
      help: "Total number of iptables rules owned by kube-proxy",
      labelNames: ["table"],
      registers,
    });
    this.restoreFailures = new Counter({
      name: "kubeproxy_sync_proxy_rules_iptables_restore_failures_total",
      help: "Cumulative proxy iptables restore failures",
      registers,
    });
  }

  /** Registers a flush of pending counts; returns its removal. */
  addCollector(flush: () => void): () => void {
    this.collectors.add(flush);
    return () => this.collectors.delete(flush);
  }

  flush(): void {
    for (const f of this.collectors) f();
  }

  /** Children of one service port's metrics; `protocol` labels active/accepted (TCP connections, UDP clients). */
  portChildren(service: string, protocol: "tcp" | "udp"): PortMetricChildren {
    return {
      active: this.activeConnections.labels(service, protocol),
      accepted: this.connectionsTotal.labels(service, protocol),
      bytesIn: this.bytes.labels(service, "in"),
      bytesOut: this.bytes.labels(service, "out"),
      dialFail: this.dialFailures.labels(service),
      noEp: this.noEndpoints.labels(service),
    };
  }
}
