import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { execPlugin } from "../../../cni/runtime/exec.js";
import type { CniPluginError } from "../../../cni/runtime/runtime.js";
import { nodeRuntime, PODWIRE_BIN_DIR, podwireConfList } from "../../support/cni.js";
import { Topology, type TopoNode } from "../../support/topology.js";

interface Result {
  cniVersion: string;
  interfaces: { name: string; mac: string; sandbox?: string }[];
  ips: { address: string; gateway?: string; interface?: number; version?: string }[];
  routes: { dst: string; gw?: string }[];
}

let topo: Topology;
let node: TopoNode;
const ipamDir = () => join(node.dir, "ipam");

function raw(env: Record<string, string>, stdin: string) {
  return execPlugin({
    type: "podwire-cni",
    path: [PODWIRE_BIN_DIR, "/usr/lib/cni"],
    env,
    stdin,
    wrap: ["nsenter", `--net=${node.path}`, "--"],
  });
}

function ipFiles(network = "cbr0"): string[] {
  const d = join(ipamDir(), network);
  return existsSync(d) ? readdirSync(d).filter((f) => /^\d+\.\d+\.\d+\.\d+$/.test(f)) : [];
}

async function hostVeths(): Promise<string[]> {
  const r = await topo.exec(node, "ip", ["-j", "link", "show", "type", "veth"]);
  return (JSON.parse(r.stdout || "[]") as { ifname: string }[])
    .map((l) => l.ifname)
    .filter((n) => n.startsWith("veth"));
}

before(async () => {
  await Topology.sweepOrphans();
  topo = await Topology.create({ nodes: 1, tag: "cnip" });
  node = topo.nodes[0]!;
});
after(async () => {
  await topo?.destroy();
});

describe("podwire-cni driven as a runtime drives it (chained with Debian portmap)", () => {
  test("ADD two pods: addresses, routes, MTU, hairpin, portmap DNAT; pods reach each other; CHECK passes", async () => {
    const list = podwireConfList({
      subnet: "10.244.1.0/24",
      dataDir: ipamDir(),
      mtu: 1450,
      routes: [{ dst: "10.244.0.0/16" }],
    });
    const rt = nodeRuntime(node);
    const p1 = await topo.addPod(node, "p1");
    const p2 = await topo.addPod(node, "p2");
    const a1 = {
      containerId: "ctr-p1",
      netns: p1.path,
      ifname: "eth0",
      capabilityArgs: { portMappings: [{ hostPort: 8080, containerPort: 80, protocol: "tcp" }] },
    };
    const a2 = { containerId: "ctr-p2", netns: p2.path, ifname: "eth0" };
    const r1 = (await rt.add(list, a1)) as Result;
    const r2 = (await rt.add(list, a2)) as Result;
    assert.equal(r1.cniVersion, "1.0.0");
    assert.equal(r1.interfaces[2]!.sandbox, p1.path);
    assert.equal(r1.ips[0]!.interface, 2);
    assert.equal(r1.ips[0]!.gateway, "10.244.1.1");
    assert.notEqual(r1.ips[0]!.address, r2.ips[0]!.address);
    assert.deepEqual(
      r1.routes.map((r) => r.dst),
      ["10.244.0.0/16", "0.0.0.0/0"],
    );
    // Kernel state matches the result.
    const link = JSON.parse((await topo.exec(p1, "ip", ["-j", "addr", "show", "dev", "eth0"])).stdout)[0];
    assert.equal(link.mtu, 1450);
    assert.equal(link.address, r1.interfaces[2]!.mac);
    assert.ok(link.addr_info.some((x: { local: string }) => `${x.local}/24` === r1.ips[0]!.address));
    const hostVeth = JSON.parse(
      (await topo.exec(node, "ip", ["-j", "-d", "link", "show", r1.interfaces[1]!.name])).stdout,
    )[0];
    assert.equal(hostVeth.master, "cni0");
    assert.equal(hostVeth.linkinfo.info_slave_data.hairpin, true);
    // IPAM files in host-local's format.
    const ip1 = r1.ips[0]!.address.split("/")[0]!;
    assert.equal(readFileSync(join(ipamDir(), "cbr0", ip1), "utf8"), "ctr-p1\r\neth0");
    assert.ok(existsSync(join(ipamDir(), "cbr0", "last_reserved_ip.0")));
    // portmap ran after us with prevResult and programmed its DNAT for p1.
    const nat = (await topo.exec(node, "iptables-save", ["-t", "nat"])).stdout;
    assert.match(nat, new RegExp(`--to-destination ${ip1.replace(/\./g, "\\.")}:80`));
    // pod↔pod on the same node.
    const ip2 = r2.ips[0]!.address.split("/")[0]!;
    await topo.exec(p1, "ping", ["-c1", "-W2", ip2]);
    await topo.exec(p2, "ping", ["-c1", "-W2", ip1]);
    // Debian 1.1.1 portmap's CHECK fails on IPv6 (containernetworking/plugins#819): CHECK our plugin alone.
    const checkList = { ...list, plugins: list.plugins.slice(0, 1) };
    await rt.check(checkList, a1);
    await rt.check(checkList, a2);
    // Cached result in libcni's format.
    const cached = JSON.parse(readFileSync(join(node.dir, "cni-cache", "results", "cbr0-ctr-p1-eth0"), "utf8"));
    assert.equal(cached.kind, "cniCacheV1");

    // CHECK detects a deleted route, then a deleted address.
    await topo.exec(p2, "ip", ["route", "del", "10.244.0.0/16"]);
    await assert.rejects(rt.check(checkList, a2), (e: CniPluginError) =>
      /Expected Route 10\.244\.0\.0\/16/.test(e.msg),
    );
    await topo.exec(p2, "ip", ["route", "add", "10.244.0.0/16", "via", "10.244.1.1"]);
    await rt.check(checkList, a2);
    await topo.exec(p2, "ip", ["addr", "del", r2.ips[0]!.address, "dev", "eth0"]);
    await assert.rejects(rt.check(checkList, a2), (e: CniPluginError) => /Failed to match addr/.test(e.msg));

    // DEL: total and idempotent; after the netns is gone too.
    await rt.del(list, a1);
    await rt.del(list, a1);
    await topo.removePod(p2);
    await rt.del(list, a2);
    assert.deepEqual(ipFiles(), []);
    assert.deepEqual(await hostVeths(), []);
    assert.doesNotMatch((await topo.exec(node, "iptables-save", ["-t", "nat"])).stdout, /--to-destination 10\.244/);
  });

  test("errors: exact spec shapes and codes on stdout with exit 1", async () => {
    const pod = await topo.addPod(node, "e1");
    const conf = JSON.stringify({
      cniVersion: "1.1.0",
      name: "errs",
      type: "podwire-cni",
      ipam: { type: "host-local", ranges: [[{ subnet: "10.244.9.0/24" }]], dataDir: ipamDir() },
    });
    const base = { CNI_CONTAINERID: "c1", CNI_NETNS: pod.path, CNI_IFNAME: "eth0" };
    let r = await raw({ CNI_COMMAND: "ADD", CNI_NETNS: pod.path, CNI_IFNAME: "eth0" }, conf);
    assert.ok(!r.ok);
    assert.deepEqual(r.error, {
      cniVersion: "1.1.0",
      code: 4,
      msg: "required env variables [CNI_CONTAINERID] missing",
    });
    r = await raw({ CNI_COMMAND: "ADD", ...base }, "{bad");
    assert.ok(!r.ok && r.error.code === 6 && r.error.msg.startsWith("error unmarshall network config"));
    r = await raw({ CNI_COMMAND: "ADD", ...base }, conf.replace('"1.1.0"', '"9.9.9"'));
    assert.ok(!r.ok && r.error.code === 1 && r.error.msg === "incompatible CNI versions", JSON.stringify(r));
    r = await raw({ CNI_COMMAND: "ADD", ...base, CNI_NETNS: "/run/netns/does-not-exist" }, conf);
    assert.ok(!r.ok && r.error.code === 8, JSON.stringify(r));
    r = await raw({ CNI_COMMAND: "VERSION" }, "");
    assert.ok(r.ok);
    assert.deepEqual((r.result as { supportedVersions: string[] }).supportedVersions, [
      "0.3.0",
      "0.3.1",
      "0.4.0",
      "1.0.0",
      "1.1.0",
    ]);
    // Duplicate ADD fails, leaves the first attachment intact.
    r = await raw({ CNI_COMMAND: "ADD", ...base }, conf);
    assert.ok(r.ok, JSON.stringify(r));
    r = await raw({ CNI_COMMAND: "ADD", ...base }, conf);
    assert.ok(!r.ok);
    assert.equal(ipFiles("errs").length, 1);
    // Pre-1.0 results carry ips[].version.
    r = await raw({ CNI_COMMAND: "ADD", ...base, CNI_IFNAME: "net1" }, conf.replace('"1.1.0"', '"0.4.0"'));
    assert.ok(r.ok, JSON.stringify(r));
    assert.equal((r.result as Result).ips[0]!.version, "4");
    // GC with the old key name frees everything not listed; the leaked veth goes too.
    const gcConf = JSON.parse(conf);
    gcConf["cni.dev/attachments"] = [{ containerID: "c1", ifname: "eth0" }];
    r = await raw({ CNI_COMMAND: "GC" }, JSON.stringify(gcConf));
    assert.ok(r.ok, JSON.stringify(r));
    assert.equal(ipFiles("errs").length, 1);
    assert.equal((await hostVeths()).length, 1);
    r = await raw({ CNI_COMMAND: "DEL", CNI_CONTAINERID: "c1", CNI_IFNAME: "eth0" }, conf);
    assert.ok(r.ok);
    assert.deepEqual(ipFiles("errs"), []);
    assert.deepEqual(await hostVeths(), []);
  });

  test("STATUS is 50 and ADD is 11 until the agent writes subnet.env; then ADD takes the subnet from it", async () => {
    const subnetFile = join(node.dir, "subnet.env");
    const conf = JSON.stringify({
      cniVersion: "1.1.0",
      name: "flan",
      type: "podwire-cni",
      isDefaultGateway: true,
      subnetFile,
      ipam: { type: "host-local", dataDir: ipamDir() },
    });
    const pod = await topo.addPod(node, "s1");
    const env = { CNI_CONTAINERID: "s1", CNI_NETNS: pod.path, CNI_IFNAME: "eth0" };
    let r = await raw({ CNI_COMMAND: "STATUS" }, conf);
    assert.ok(!r.ok && r.error.code === 50, JSON.stringify(r));
    r = await raw({ CNI_COMMAND: "ADD", ...env }, conf);
    assert.ok(!r.ok && r.error.code === 11, JSON.stringify(r));
    writeFileSync(
      subnetFile,
      "FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.7.1/24\nFLANNEL_MTU=1400\nFLANNEL_IPMASQ=true\n",
    );
    r = await raw({ CNI_COMMAND: "STATUS" }, conf);
    assert.ok(r.ok, JSON.stringify(r));
    r = await raw({ CNI_COMMAND: "ADD", ...env }, conf);
    assert.ok(r.ok, JSON.stringify(r));
    const res = r.result as Result;
    assert.equal(res.ips[0]!.address, "10.244.7.2/24");
    assert.ok(res.routes.some((x) => x.dst === "10.244.0.0/16"));
    const link = JSON.parse((await topo.exec(pod, "ip", ["-j", "link", "show", "eth0"])).stdout)[0];
    assert.equal(link.mtu, 1400);
    r = await raw({ CNI_COMMAND: "DEL", ...env }, conf);
    assert.ok(r.ok);
  });
});
