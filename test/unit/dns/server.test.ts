/**
 * The daemon path: informers over a (fake) apiserver feed the zone; answers follow watch events, and nothing
 * is answered for the cluster zone before the first sync.
 */
import assert from "node:assert/strict";
import dgram from "node:dgram";
import { describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { RRType } from "../../../dns/records.js";
import { startDnsServer } from "../../../dns/server/server.js";
import { ApiSource, FakeClient } from "../../../src/client/index.js";
import { namespace, service } from "./fixtures.js";
import { decode, encodeQuery } from "./packets.js";

function query(port: number, name: string, type: number): Promise<ReturnType<typeof decode>> {
  const sock = dgram.createSocket("udp4");
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => {
      sock.close();
      reject(new Error("no reply"));
    }, 5000);
    sock.on("message", (m) => {
      clearTimeout(t);
      sock.close();
      resolve(decode(m));
    });
    sock.send(encodeQuery(name, type), port, "127.0.0.1");
  });
}

describe("podwire dns against an apiserver (FakeClient + ApiSource informers)", () => {
  it("serves watched Services and follows adds, updates and deletes", async () => {
    const client = new FakeClient({ objects: [namespace("default")] });
    await client.create(service("default", "web", { clusterIP: "10.96.0.20", ports: [{ name: "http", port: 80 }] }));
    const source = new ApiSource(client);
    const dns = await startDnsServer({
      listen: { host: "127.0.0.1", port: 0 },
      zone: "cluster.local",
      ttl: 5,
      pods: "insecure",
      upstreams: [],
      allow: [],
      source,
      metricsBind: { host: "127.0.0.1", port: 0 },
    });
    try {
      await dns.synced;
      const m = dns.metricsAddress;
      assert.ok(m);
      assert.equal((await fetch(`http://127.0.0.1:${m.port}/ready`)).status, 200);
      assert.equal((await fetch(`http://127.0.0.1:${m.port}/health`)).status, 200);
      const port = dns.address.port;
      assert.equal((await query(port, "web.default.svc.cluster.local", RRType.A)).answers[0]?.address, "10.96.0.20");
      await client.create(service("default", "api", { clusterIP: "10.96.0.21", ports: [{ port: 8080 }] }));
      let r = await query(port, "api.default.svc.cluster.local", RRType.A);
      for (let i = 0; i < 100 && r.rcode !== 0; i++) {
        await sleep(20);
        r = await query(port, "api.default.svc.cluster.local", RRType.A);
      }
      assert.equal(r.answers[0]?.address, "10.96.0.21");
      await client.delete("Service", "default", "web");
      r = await query(port, "web.default.svc.cluster.local", RRType.A);
      for (let i = 0; i < 100 && r.rcode !== 3; i++) {
        await sleep(20);
        r = await query(port, "web.default.svc.cluster.local", RRType.A);
      }
      assert.equal(r.rcode, 3, "deleted service is NXDOMAIN (the fast path was invalidated)");
    } finally {
      await dns.close();
      source.stop();
    }
  });
});
