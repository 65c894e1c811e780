/**
 * Dual-stack IPAM (host-local `ranges` with an IPv4 and an IPv6 set) through both plugin paths — the overlay
 * agent's socket (C client, rtnetlink + netns helper) and the Node plugin — in a namespaced node: one address of
 * each family per pod, both gateways on the bridge, both default routes, IPv6 traffic between pods, host-local's
 * disk format for v6 (file named by Go's address form, last_reserved_ip.1), CHECK catching a missing v6 route,
 * DEL leaving nothing.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { execPlugin } from "../../../cni/runtime/exec.js";
import { PODWIRE_BIN_DIR } from "../../support/cni.js";
import { type AgentProc, startSocketAgent, stopAgent } from "../../support/overlay.js";
import { Topology, type TopoNode } from "../../support/topology.js";

let topo: Topology;
let node: TopoNode;
let agent: AgentProc | undefined;
let sock: string;

before(async () => {
  await Topology.sweepOrphans();
  topo = await Topology.create({ nodes: 1, tag: "ds" });
  node = topo.nodes[0]!;
  ({ agent, sock } = await startSocketAgent(node, topo.dir));
});
after(async () => {
  if (agent) await stopAgent(agent);
  await topo?.destroy();
});

interface Result {
  ips: { address: string; gateway?: string; interface?: number }[];
  routes: { dst: string; gw?: string }[];
  interfaces: { name: string; mac?: string; sandbox?: string }[];
}

for (const viaAgent of [true, false]) {
  test(`dual-stack ADD/CHECK/DEL ${viaAgent ? "through the agent (C client)" : "in the Node plugin"}`, async () => {
    const k = viaAgent ? 7 : 8;
    const name = `ds${k}`;
    const dataDir = join(node.dir, "ipam");
    const conf = {
      cniVersion: "1.1.0",
      name,
      type: "podwire-cni",
      bridge: `cni${k}`,
      isDefaultGateway: true,
      hairpinMode: true,
      mtu: 1450,
      ...(viaAgent ? { agentSocket: sock } : {}),
      ipam: {
        type: "host-local",
        ranges: [[{ subnet: `10.244.${k}.0/24` }], [{ subnet: `fd00:10:244:${k}::/64` }]],
        dataDir,
      },
    };
    const call = (cmd: string, cid: string, netns: string, extra: Record<string, unknown> = {}) =>
      execPlugin({
        type: "podwire-cni",
        path: [PODWIRE_BIN_DIR],
        env: { CNI_COMMAND: cmd, CNI_CONTAINERID: cid, CNI_NETNS: netns, CNI_IFNAME: "eth0" },
        stdin: JSON.stringify({ ...conf, ...extra }),
        wrap: ["nsenter", `--net=${node.path}`, "--"],
      });
    const pods = [await topo.addPod(node, `d${k}a`), await topo.addPod(node, `d${k}b`)];
    const results: Result[] = [];
    for (const [i, p] of pods.entries()) {
      const r = await call("ADD", `dual${k}-${i}`, p.path);
      assert.ok(r.ok, JSON.stringify(r));
      results.push(r.result as Result);
    }
    const [ra, rb] = results as [Result, Result];
    assert.deepEqual(
      ra.ips.map((x) => [x.address, x.gateway, x.interface]),
      [
        [`10.244.${k}.2/24`, `10.244.${k}.1`, 2],
        [`fd00:10:244:${k}::2/64`, `fd00:10:244:${k}::1`, 2],
      ],
    );
    assert.equal(rb.ips[1]!.address, `fd00:10:244:${k}::3/64`);
    assert.deepEqual(ra.routes, [
      { dst: "0.0.0.0/0", gw: `10.244.${k}.1` },
      { dst: "::/0", gw: `fd00:10:244:${k}::1` },
    ]);
    // Kernel state: both gateways on the bridge, both addresses and default routes in the pod.
    const br = JSON.parse((await topo.exec(node, "ip", ["-j", "addr", "show", `cni${k}`])).stdout)[0] as {
      addr_info: { local: string; prefixlen: number }[];
    };
    for (const gw of [`10.244.${k}.1`, `fd00:10:244:${k}::1`]) assert.ok(br.addr_info.some((x) => x.local === gw));
    const pa = pods[0]!;
    const addrs = JSON.parse((await topo.exec(pa, "ip", ["-j", "addr", "show", "eth0"])).stdout)[0] as {
      addr_info: { local: string; prefixlen: number }[];
    };
    assert.ok(addrs.addr_info.some((x) => x.local === `fd00:10:244:${k}::2` && x.prefixlen === 64));
    assert.ok(addrs.addr_info.some((x) => x.local === `10.244.${k}.2` && x.prefixlen === 24));
    const r6 = JSON.parse((await topo.exec(pa, "ip", ["-j", "-6", "route", "show", "default"])).stdout) as {
      gateway: string;
    }[];
    assert.equal(r6[0]?.gateway, `fd00:10:244:${k}::1`);
    // IPv6 traffic: pod → gateway, pod → pod over the bridge (and IPv4 still works).
    await topo.exec(pa, "ping", ["-6", "-c1", "-W3", `fd00:10:244:${k}::1`]);
    await topo.exec(pa, "ping", ["-6", "-c1", "-W3", `fd00:10:244:${k}::3`]);
    await topo.exec(pa, "ping", ["-c1", "-W3", `10.244.${k}.3`]);
    // host-local's disk format for both families.
    const store = join(dataDir, name);
    assert.deepEqual(
      readdirSync(store)
        .filter((f) => /^[\d.]+$|:/.test(f))
        .sort(),
      [`10.244.${k}.2`, `10.244.${k}.3`, `fd00:10:244:${k}::2`, `fd00:10:244:${k}::3`],
    );
    assert.equal(readFileSync(join(store, `fd00:10:244:${k}::2`), "utf8"), `dual${k}-0\r\neth0`);
    assert.equal(readFileSync(join(store, "last_reserved_ip.1"), "utf8"), `fd00:10:244:${k}::3`);
    // CHECK passes, then catches the deleted IPv6 default route.
    assert.ok((await call("CHECK", `dual${k}-0`, pa.path, { prevResult: ra })).ok);
    await topo.exec(pa, "ip", ["-6", "route", "del", "default"]);
    const chk = await call("CHECK", `dual${k}-0`, pa.path, { prevResult: ra });
    assert.ok(!chk.ok && /::\/0/.test(chk.error.msg), JSON.stringify(chk));
    // DEL: nothing left.
    for (const [i, p] of pods.entries()) assert.ok((await call("DEL", `dual${k}-${i}`, p.path)).ok);
    assert.deepEqual(
      readdirSync(store).filter((f) => /^[\d.]+$|:/.test(f)),
      [],
    );
    const veths = JSON.parse((await topo.exec(node, "ip", ["-j", "link", "show", "master", `cni${k}`])).stdout || "[]");
    assert.deepEqual(veths, []);
    for (const p of pods) await topo.removePod(p);
  });
}
