import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { NetnsScope } from "../../support/netns.js";
import {
  CLIENT_IP,
  NODE_IP,
  type NsProcess,
  ObjectsFile,
  type SvcSpec,
  type World,
  client,
  countBy,
  iptablesSave,
  makeWorld,
  objectsFor,
  startBackends,
  startProxy,
  synced,
} from "./support.js";

describe("userspace mode: client → portal → proxy (node ns) → backends", () => {
  const scope = new NetnsScope("us");
  const file = new ObjectsFile();
  let w: World;
  let backends: NsProcess[] = [];
  let proxy: NsProcess | undefined;
  let svcs: SvcSpec[];

  before(async () => {
    w = await makeWorld(scope, 3);
    backends = await startBackends(w);
    const ips = w.backends.map((b) => b.ip);
    svcs = [
      { name: "web", clusterIP: "10.96.0.10", port: 80, targetPort: 8080, nodePort: 30080, endpoints: ips },
      {
        name: "dns",
        clusterIP: "10.96.0.11",
        port: 53,
        targetPort: 8081,
        protocol: "UDP",
        nodePort: 30053,
        endpoints: ips,
      },
      {
        name: "ext",
        clusterIP: "10.96.0.12",
        port: 81,
        targetPort: 8080,
        endpoints: ips.slice(0, 1),
        externalIPs: ["203.0.113.9"],
      },
    ];
    file.write(objectsFor(svcs));
    proxy = await startProxy(w, file, { udpTimeoutMs: 250 });
  });

  after(async () => {
    await proxy?.stop();
    await Promise.all(backends.map((b) => b.stop()));
    await scope.cleanup();
    file.remove();
  });

  it("writes the five chains and their jumps into the node namespace only", async () => {
    const save = await iptablesSave(w.node);
    for (const c of ["KUBE-PORTALS-CONTAINER", "KUBE-PORTALS-HOST", "KUBE-NODEPORT-CONTAINER", "KUBE-NODEPORT-HOST"])
      assert.match(save, new RegExp(`-A (PREROUTING|OUTPUT) .*-j ${c}`), c);
    assert.match(save, /-A INPUT .*-j KUBE-NODEPORT-NON-LOCAL/);
    assert.match(save, /-A KUBE-PORTALS-CONTAINER -d 10\.96\.0\.10\/32 -p tcp .*--dport 80 -j REDIRECT --to-ports \d+/);
    assert.match(save, /-A KUBE-PORTALS-HOST -d 10\.96\.0\.10\/32 -p tcp .*-j DNAT --to-destination 198\.18\.0\.1:\d+/);
    const clientSave = await iptablesSave(w.client);
    assert.doesNotMatch(clientSave, /KUBE-/);
  });

  it("spreads TCP connections to a ClusterIP round robin over all backends", async () => {
    const r = await client<{ names: string[]; errors: number }>(w.client, ["tcp", "10.96.0.10", "80", "30"]);
    assert.equal(r.errors, 0);
    assert.deepEqual(countBy(r.names), { b0: 10, b1: 10, b2: 10 });
  });

  it("serves the NodePort on the node's address", async () => {
    const r = await client<{ names: string[]; errors: number }>(w.client, ["tcp", NODE_IP, "30080", "6"]);
    assert.equal(r.errors, 0);
    assert.equal(Object.keys(countBy(r.names)).length, 3);
  });

  it("serves the ClusterIP to processes on the node itself (host portal, DNAT to the node IP)", async () => {
    const r = await client<{ names: string[]; errors: number }>(w.node, ["tcp", "10.96.0.10", "80", "6"]);
    assert.equal(r.errors, 0);
    assert.equal(r.names.length, 6);
  });

  it("serves an external IP arriving from outside", async () => {
    // Route the documentation address to the node from the client only; it is not local on the node.
    const { ip } = await import("../../../src/netlinux/netns.js");
    await ip(w.client, "route", "add", "203.0.113.9/32", "via", NODE_IP);
    const r = await client<{ names: string[]; errors: number }>(w.client, ["tcp", "203.0.113.9", "81", "3"]);
    assert.equal(r.errors, 0);
    assert.deepEqual(countBy(r.names), { b0: 3 });
  });

  it("forwards a half-close and still delivers every answer", async () => {
    const r = await client<{ text: string }>(w.client, ["halfclose", "10.96.0.10", "80"]);
    const lines = r.text.trim().split("\n");
    assert.equal(lines.length, 3);
    assert.match(lines[0]!, / one$/);
    assert.match(lines[1]!, / two$/);
    assert.match(lines[2]!, / bye$/);
    assert.equal(new Set(lines.map((l) => l.split(" ")[0])).size, 1);
  });

  it("moves bulk data through the proxy intact", async () => {
    const r = await client<{ bytes: number }>(w.client, ["bulk", "10.96.0.10", "80", String(8 * 1024 * 1024)]);
    assert.equal(r.bytes, 8 * 1024 * 1024);
  });

  it("proxies UDP to every backend, one backend socket per client", async () => {
    const r = await client<{ names: string[]; errors: number }>(w.client, ["udp", "10.96.0.11", "53", "9", "new"]);
    assert.equal(r.errors, 0);
    assert.deepEqual(countBy(r.names), { b0: 3, b1: 3, b2: 3 });
    // One client socket keeps its backend while it keeps talking.
    const same = await client<{ names: string[]; errors: number }>(w.client, ["udp", "10.96.0.11", "53", "5", "same"]);
    assert.equal(same.errors, 0);
    assert.equal(new Set(same.names).size, 1);
  });

  it("UDP over the NodePort works", async () => {
    const r = await client<{ names: string[]; errors: number }>(w.client, ["udp", NODE_IP, "30053", "3", "new"]);
    assert.equal(r.errors, 0);
  });

  it("keeps the UDP reply path open for an answer slower than --udp-timeout (DNS-safe)", async () => {
    const r = await client<{ names: string[]; errors: number }>(w.client, [
      "udp",
      "10.96.0.11",
      "53",
      "2",
      "new",
      "SLOW 900",
    ]);
    assert.equal(r.errors, 0);
    assert.equal(r.names.length, 2);
  });

  it("removing a service closes its listener and portal; others keep working", async () => {
    file.write(objectsFor(svcs.filter((s) => s.name !== "web")));
    await synced(proxy!, 2);
    const save = await iptablesSave(w.node);
    assert.doesNotMatch(save, /10\.96\.0\.10/);
    assert.doesNotMatch(save, /--dport 30080/);
    const r = await client<{ names: string[]; errors: number }>(w.client, ["tcp", "10.96.0.10", "80", "2"]);
    assert.equal(r.errors, 2);
    const u = await client<{ names: string[]; errors: number }>(w.client, ["udp", "10.96.0.11", "53", "2", "new"]);
    assert.equal(u.errors, 0);
    void CLIENT_IP;
  });

  it("stopping the proxy removes every userspace rule", async () => {
    await proxy!.stop();
    const save = await iptablesSave(w.node);
    assert.doesNotMatch(save, /KUBE-/);
  });
});
