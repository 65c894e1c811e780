/**
 * Prometheus metrics with CoreDNS's names. Hot-path counting is plain arithmetic on small maps; prom-client
 * reads them when scraped, so a query does not pay for label hashing.
 */
import http from "node:http";
import { Counter, Gauge, type Metric, Registry } from "prom-client";

const TYPE_NAMES: Record<number, string> = {
  1: "A",
  2: "NS",
  5: "CNAME",
  6: "SOA",
  12: "PTR",
  15: "MX",
  16: "TXT",
  28: "AAAA",
  33: "SRV",
  255: "ANY",
};
const BUCKETS = [0.00025, 0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.024, 2.048];
const RCODE_NAMES = ["NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED"];

export class DnsMetrics {
  readonly registry = new Registry();
  private readonly requests = new Map<string, number>();
  private readonly responses = new Map<string, number>();
  /** Per query type: cumulative-later bucket counts, then sum and count (a histogram without label hashing). */
  private readonly durations = new Map<string, { buckets: Float64Array; sum: number; count: number }>();
  cacheHits = 0;
  cacheMisses = 0;
  cacheEntries = () => 0;
  forwardRequests = 0;

  constructor(readonly server: string) {
    const self = this;
    const labelsOf = (key: string, names: string[]) => {
      const v = key.split("|");
      return Object.fromEntries(names.map((n, i) => [n, v[i] ?? ""]));
    };
    new Counter({
      name: "coredns_dns_requests_total",
      help: "Counter of DNS requests made per zone, protocol and family.",
      labelNames: ["server", "zone", "view", "proto", "family", "type"],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const [k, n] of self.requests)
          this.inc({ server: self.server, zone: ".", view: "", ...labelsOf(k, ["proto", "family", "type"]) }, n);
      },
    });
    new Counter({
      name: "coredns_dns_responses_total",
      help: "Counter of response status codes.",
      labelNames: ["server", "zone", "view", "rcode", "plugin"],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const [k, n] of self.responses)
          this.inc({ server: self.server, zone: ".", view: "", ...labelsOf(k, ["rcode", "plugin"]) }, n);
      },
    });
    const histogramName = "coredns_dns_request_duration_seconds";
    const histogram = {
      name: histogramName,
      help: "Histogram of the time (in seconds) each request took.",
      type: "histogram",
      aggregator: "sum",
      get: async () => ({
        name: histogramName,
        help: "Histogram of the time (in seconds) each request took.",
        type: "histogram",
        aggregator: "sum",
        values: this.histogramValues(),
      }),
    };
    this.registry.registerMetric(histogram as unknown as Metric);
    new Counter({
      name: "coredns_cache_hits_total",
      help: "The count of cache hits.",
      labelNames: ["server", "type", "view", "zones"],
      registers: [this.registry],
      collect() {
        this.reset();
        this.inc({ server: self.server, type: "success", view: "", zones: "." }, self.cacheHits);
      },
    });
    new Counter({
      name: "coredns_cache_misses_total",
      help: "The count of cache misses.",
      labelNames: ["server", "view", "zones"],
      registers: [this.registry],
      collect() {
        this.reset();
        this.inc({ server: self.server, view: "", zones: "." }, self.cacheMisses);
      },
    });
    new Gauge({
      name: "coredns_cache_entries",
      help: "The number of elements in the cache.",
      labelNames: ["server", "type", "view", "zones"],
      registers: [this.registry],
      collect() {
        this.set({ server: self.server, type: "success", view: "", zones: "." }, self.cacheEntries());
      },
    });
    new Counter({
      name: "coredns_forward_requests_total",
      help: "Counter of requests made per upstream.",
      registers: [this.registry],
      collect() {
        this.reset();
        this.inc(self.forwardRequests);
      },
    });
  }

  request(proto: "udp" | "tcp", family: 4 | 6, qtype: number): void {
    const k = `${proto}|${family}|${TYPE_NAMES[qtype] ?? "other"}`;
    this.requests.set(k, (this.requests.get(k) ?? 0) + 1);
  }

  response(rcode: number, plugin: string, qtype: number, seconds: number): void {
    const k = `${RCODE_NAMES[rcode] ?? String(rcode)}|${plugin}`;
    this.responses.set(k, (this.responses.get(k) ?? 0) + 1);
    const t = TYPE_NAMES[qtype] ?? "other";
    let h = this.durations.get(t);
    if (!h) {
      h = { buckets: new Float64Array(BUCKETS.length), sum: 0, count: 0 };
      this.durations.set(t, h);
    }
    for (let i = 0; i < BUCKETS.length; i++) {
      if (seconds <= (BUCKETS[i] as number)) {
        (h.buckets as Float64Array)[i]++;
        break;
      }
    }
    h.sum += seconds;
    h.count++;
  }

  private histogramValues() {
    const out: { metricName: string; labels: Record<string, string | number>; value: number }[] = [];
    for (const [type, h] of this.durations) {
      const labels = { server: this.server, zone: ".", view: "", type };
      let cum = 0;
      BUCKETS.forEach((le, i) => {
        cum += h.buckets[i] as number;
        out.push({ metricName: "coredns_dns_request_duration_seconds_bucket", labels: { ...labels, le }, value: cum });
      });
      out.push({
        metricName: "coredns_dns_request_duration_seconds_bucket",
        labels: { ...labels, le: "+Inf" },
        value: h.count,
      });
      out.push({ metricName: "coredns_dns_request_duration_seconds_sum", labels, value: h.sum });
      out.push({ metricName: "coredns_dns_request_duration_seconds_count", labels, value: h.count });
    }
    return out;
  }

  /** Serves /metrics, /health and /ready on host:port; resolves once listening. */
  async serve(host: string, port: number, ready: () => boolean = () => true): Promise<http.Server> {
    const srv = http.createServer((req, res) => {
      // CoreDNS `health` and `ready` plugins: alive while serving; ready once the watched objects synced.
      if (req.url === "/health") {
        res.writeHead(200).end("OK");
        return;
      }
      if (req.url === "/ready") {
        const ok = ready();
        res.writeHead(ok ? 200 : 503).end(ok ? "OK" : "not synced");
        return;
      }
      if (req.url !== "/metrics") {
        res.writeHead(404).end();
        return;
      }
      this.registry.metrics().then(
        (body) => res.writeHead(200, { "content-type": this.registry.contentType }).end(body),
        (e: Error) => res.writeHead(500).end(e.message),
      );
    });
    await new Promise<void>((resolve, reject) => {
      srv.once("error", reject);
      srv.listen(port, host, () => resolve());
    });
    return srv;
  }
}
