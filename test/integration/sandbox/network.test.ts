/** The sandbox's namespaces for real: underlay bridge, node namespaces, host-gw routes, teardown. */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, describe, it } from "node:test";
import { delNetnsByPrefix, ip, listNetns, runIn } from "../../../src/netlinux/netns.js";
import {
  addPodRoutes,
  createNode,
  createUnderlay,
  deleteSandboxNamespaces,
  nodeIP,
  nodePodCIDR,
} from "../../../src/sandbox/network.js";

describe("sandbox network namespaces", () => {
  const name = `pws${randomBytes(2).toString("hex")}`;
  const nodes = [1, 2].map((i) => ({
    name: `node${i}`,
    ns: `${name}-node${i}`,
    ip: nodeIP(i),
    podCIDR: nodePodCIDR(i),
    podNetnsPrefix: `${name}-node${i}-`,
    dir: "/nonexistent",
  }));
  after(() => delNetnsByPrefix(`${name}-`));

  it("nodes reach each other over the underlay, get host-gw routes, and everything is removed by name", async () => {
    await createUnderlay(`${name}-ul`);
    for (const [i, n] of nodes.entries()) await createNode(`${name}-ul`, n, i + 1);
    await addPodRoutes(nodes);
    const ping = await runIn(nodes[0]?.ns ?? "", "ping", ["-c", "1", "-W", "2", nodes[1]?.ip ?? ""], { check: false });
    assert.equal(ping.code, 0, "node1 pings node2's underlay address");
    const routes = (await ip(nodes[0]?.ns ?? "", "route", "show")).stdout;
    assert.match(routes, /10\.244\.2\.0\/24 via 198\.18\.0\.2 dev eth0/, "node1 routes node2's pod CIDR via node2");
    assert.match(routes, /10\.96\.0\.0\/12 dev eth0/, "service range routed on eth0");
    assert.doesNotMatch(routes, /^default/m, "no default route in a node namespace");
    await deleteSandboxNamespaces(`${name}-ul`, nodes);
    assert.deepEqual(listNetns(`${name}-`), [], "no namespace of the sandbox left");
  });
});
