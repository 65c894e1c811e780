import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { RRType } from "../../../dns/records.js";
import { DnsHandler } from "../../../dns/server/handler.js";
import { DnsMetrics } from "../../../dns/server/metrics.js";
import { buildZoneView, type ZoneOptions } from "../../../dns/zone/view.js";
import { specObjects } from "./fixtures.js";
import { encodeQuery } from "./packets.js";

const opts: ZoneOptions = { zone: "cluster.local", ttl: 5, pods: "insecure" };

describe("DNS metrics (CoreDNS names)", () => {
  it("counts requests, responses by rcode and request durations, served over HTTP", async () => {
    const metrics = new DnsMetrics("dns://127.0.0.1:53");
    const h = new DnsHandler({ zone: opts, allowRecursion: () => true, metrics });
    h.setView(buildZoneView(specObjects(), opts));
    const c = { address: "127.0.0.1", family: 4 as const, proto: "udp" as const };
    for (let i = 0; i < 3; i++) h.handle(encodeQuery("kubernetes.default.svc.cluster.local", RRType.A), c);
    h.handle(encodeQuery("nope.default.svc.cluster.local", RRType.AAAA), c);
    const srv = await metrics.serve("127.0.0.1", 0);
    try {
      const a = srv.address();
      const port = a && typeof a === "object" ? a.port : 0;
      const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      assert.match(text, /coredns_dns_requests_total\{[^}]*proto="udp"[^}]*type="A"\} 3/);
      assert.match(text, /coredns_dns_requests_total\{[^}]*type="AAAA"\} 1/);
      assert.match(text, /coredns_dns_responses_total\{[^}]*rcode="NOERROR"[^}]*\} 3/);
      assert.match(text, /coredns_dns_responses_total\{[^}]*rcode="NXDOMAIN"[^}]*\} 1/);
      assert.match(text, /coredns_dns_request_duration_seconds_count\{[^}]*type="A"\} 3/);
      assert.match(text, /coredns_dns_request_duration_seconds_bucket\{[^}]*type="A",le="\+Inf"\} 3/);
      assert.match(text, /# TYPE coredns_cache_hits_total counter/);
      assert.match(text, /# TYPE coredns_cache_misses_total counter/);
    } finally {
      srv.close();
    }
  });
});
