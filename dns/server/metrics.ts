/**
 * Prometheus metrics with CoreDNS's names. Hot-path counting is plain arithmetic on small maps; prom-client
 * reads them when scraped, so a query does not pay for label hashing.
 */
import http from "node:http";
import type { Metric, Registry } from "prom-client";

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
const PLUGINS = ["", "kubernetes", "forward"];

/** Query types with their own label value get slots 1…; everything else is slot 0 ("other"). */
const SLOT_NAMES = ["other", ...Object.values(TYPE_NAMES)];
const TYPE_SLOTS = SLOT_NAMES.length;
const SLOT_OF = new Uint8Array(256);
Object.keys(TYPE_NAMES).forEach((t, i) => {
  SLOT_OF[Number(t)] = i + 1;
});
const typeSlot = (qtype: number): number => (qtype < 256 ? (SLOT_OF[qtype] as number) : 0);

export class DnsMetrics {
  /** prom-client is loaded only when metrics are served (it is ~6 MB of RSS in a process that never scrapes). */
  private registry: Promise<Registry> | undefined;
  /** [proto][family][type slot] request counts: numbers in flat arrays, so counting allocates nothing. */
  private readonly requests = new Float64Array(2 * 2 * TYPE_SLOTS);
  /** [rcode < 24][plugin slot]; other rcodes/plugins (rare) in the map. */
  private readonly responses = new Float64Array(24 * PLUGINS.length);
  private readonly otherResponses = new Map<string, number>();
  /** Per type slot: bucket counts (cumulated when scraped), sum and count — a histogram without label hashing. */
  private readonly durBuckets = new Float64Array(TYPE_SLOTS * BUCKETS.length);
  private readonly durSum = new Float64Array(TYPE_SLOTS);
  private readonly durCount = new Float64Array(TYPE_SLOTS);
  cacheHits = 0;
  cacheMisses = 0;
  cacheEntries = () => 0;
  forwardRequests = 0;

  constructor(readonly server: string) {}

  private registryOf(): Promise<Registry> {
    this.registry ??= import("prom-client").then((pc) => this.build(pc));
    return this.registry;
  }

  private build({ Counter, Gauge, Registry }: typeof import("prom-client")): Registry {
    const registry = new Registry();
    const self = this;
    new Counter({
      name: "coredns_dns_requests_total",
      help: "Counter of DNS requests made per zone, protocol and family.",
      labelNames: ["server", "zone", "view", "proto", "family", "type"],
      registers: [registry],
      collect() {
        this.reset();
        self.requests.forEach((n, i) => {
          if (n === 0) return;
          const type = SLOT_NAMES[i % TYPE_SLOTS] as string;
          const pf = Math.floor(i / TYPE_SLOTS);
          const proto = pf >= 2 ? "tcp" : "udp";
          const family = pf % 2 === 0 ? "4" : "6";
          this.inc({ server: self.server, zone: ".", view: "", proto, family, type }, n);
        });
      },
    });
    new Counter({
      name: "coredns_dns_responses_total",
      help: "Counter of response status codes.",
      labelNames: ["server", "zone", "view", "rcode", "plugin"],
      registers: [registry],
      collect() {
        this.reset();
        const add = (rcode: string, plugin: string, n: number) =>
          this.inc({ server: self.server, zone: ".", view: "", rcode, plugin }, n);
        self.responses.forEach((n, i) => {
          if (n === 0) return;
          const rcode = Math.floor(i / PLUGINS.length);
          add(RCODE_NAMES[rcode] ?? String(rcode), PLUGINS[i % PLUGINS.length] as string, n);
        });
        for (const [k, n] of self.otherResponses) {
          const [rcode = "", plugin = ""] = k.split("|");
          add(rcode, plugin, n);
        }
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
    registry.registerMetric(histogram as unknown as Metric);
    new Counter({
      name: "coredns_cache_hits_total",
      help: "The count of cache hits.",
      labelNames: ["server", "type", "view", "zones"],
      registers: [registry],
      collect() {
        this.reset();
        this.inc({ server: self.server, type: "success", view: "", zones: "." }, self.cacheHits);
      },
    });
    new Counter({
      name: "coredns_cache_misses_total",
      help: "The count of cache misses.",
      labelNames: ["server", "view", "zones"],
      registers: [registry],
      collect() {
        this.reset();
        this.inc({ server: self.server, view: "", zones: "." }, self.cacheMisses);
      },
    });
    new Gauge({
      name: "coredns_cache_entries",
      help: "The number of elements in the cache.",
      labelNames: ["server", "type", "view", "zones"],
      registers: [registry],
      collect() {
        this.set({ server: self.server, type: "success", view: "", zones: "." }, self.cacheEntries());
      },
    });
    new Counter({
      name: "coredns_forward_requests_total",
      help: "Counter of requests made per upstream.",
      registers: [registry],
      collect() {
        this.reset();
        this.inc(self.forwardRequests);
      },
    });
    return registry;
  }

  /** The Prometheus text of all metrics (what /metrics serves). */
  async text(): Promise<{ body: string; contentType: string }> {
    const r = await this.registryOf();
    return { body: await r.metrics(), contentType: r.contentType };
  }

  request(proto: "udp" | "tcp", family: 4 | 6, qtype: number): void {
    this.requests[((proto === "udp" ? 0 : 2) + (family === 4 ? 0 : 1)) * TYPE_SLOTS + typeSlot(qtype)]++;
  }

  response(rcode: number, plugin: string, qtype: number, seconds: number): void {
    const p = plugin === "kubernetes" ? 1 : plugin === "forward" ? 2 : plugin === "" ? 0 : -1;
    if (rcode >= 0 && rcode < 24 && p >= 0) this.responses[rcode * PLUGINS.length + p]++;
    else {
      const k = `${RCODE_NAMES[rcode] ?? String(rcode)}|${plugin}`;
      this.otherResponses.set(k, (this.otherResponses.get(k) ?? 0) + 1);
    }
    const t = typeSlot(qtype);
    let b = 0;
    while (b < BUCKETS.length - 1 && seconds > (BUCKETS[b] as number)) b++;
    if (seconds <= (BUCKETS[b] as number)) this.durBuckets[t * BUCKETS.length + b]++;
    this.durSum[t] += seconds;
    this.durCount[t]++;
  }

  private histogramValues() {
    const out: { metricName: string; labels: Record<string, string | number>; value: number }[] = [];
    for (let t = 0; t < TYPE_SLOTS; t++) {
      const count = this.durCount[t] as number;
      if (count === 0) continue;
      const labels = { server: this.server, zone: ".", view: "", type: SLOT_NAMES[t] as string };
      let cum = 0;
      BUCKETS.forEach((le, i) => {
        cum += this.durBuckets[t * BUCKETS.length + i] as number;
        out.push({ metricName: "coredns_dns_request_duration_seconds_bucket", labels: { ...labels, le }, value: cum });
      });
      out.push({
        metricName: "coredns_dns_request_duration_seconds_bucket",
        labels: { ...labels, le: "+Inf" },
        value: count,
      });
      out.push({ metricName: "coredns_dns_request_duration_seconds_sum", labels, value: this.durSum[t] as number });
      out.push({ metricName: "coredns_dns_request_duration_seconds_count", labels, value: count });
    }
    return out;
  }

  /** Serves /metrics, /health and /ready on host:port; resolves once listening. */
  async serve(host: string, port: number, ready: () => boolean = () => true): Promise<http.Server> {
    await this.registryOf();
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
      this.text().then(
        ({ body, contentType }) => res.writeHead(200, { "content-type": contentType }).end(body),
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
