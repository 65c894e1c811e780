import assert from "node:assert/strict";
import { existsSync, readdirSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { execPlugin } from "../../../cni/runtime/exec.js";
import { PODWIRE_BIN_DIR } from "../../support/cni.js";
import { type AgentProc, PODWIRE_CLI, startSocketAgent, stopAgent, subnetFileOf } from "../../support/overlay.js";
import { Topology } from "../../support/topology.js";

let topo: Topology;
let agent: AgentProc | undefined;

before(async () => {
  await Topology.sweepOrphans();
  topo = await Topology.create({ nodes: 1, tag: "sock" });
});
after(async () => {
  if (agent) await stopAgent(agent);
  await topo?.destroy();
});

test("bin/podwire-cni forwards to the agent's socket (rtnetlink host side): same results, errors and DEL semantics", async () => {
  const node = topo.nodes[0]!;
  const started = await startSocketAgent(node, topo.dir);
  agent = started.agent;
  const sock = started.sock;
  const dataDir = join(node.dir, "ipam");
  const conf = JSON.stringify({
    cniVersion: "1.1.0",
    name: "sk",
    type: "podwire-cni",
    isDefaultGateway: true,
    hairpinMode: true,
    agentSocket: sock,
    subnetFile: subnetFileOf(node),
    ipam: { type: "host-local", dataDir },
  });
  const pod = await topo.addPod(node, "s1");
  const env = (cmd: string) => ({
    CNI_COMMAND: cmd,
    CNI_CONTAINERID: "sock1",
    CNI_NETNS: pod.path,
    CNI_IFNAME: "eth0",
  });
  const exec = (e: Record<string, string>) =>
    execPlugin({
      type: "podwire-cni",
      path: [PODWIRE_BIN_DIR],
      env: e,
      stdin: conf,
      wrap: ["nsenter", `--net=${node.path}`, "--"],
    });
  const r = await exec(env("ADD"));
  assert.ok(r.ok, JSON.stringify(r));
  const res = r.result as { ips: { address: string }[]; interfaces: { name: string; mac: string }[] };
  assert.equal(res.ips[0]!.address, "10.244.1.2/24");
  const host = JSON.parse(
    (await topo.exec(node, "ip", ["-j", "-d", "link", "show", res.interfaces[1]!.name])).stdout,
  )[0];
  assert.equal(host.master, "cni0");
  assert.equal(host.mtu, 1450);
  assert.equal(host.linkinfo.info_slave_data.hairpin, true);
  assert.equal(host.address, res.interfaces[1]!.mac);
  await topo.exec(pod, "ping", ["-c1", "-W2", "10.244.1.1"]);
  // The agent really served it: the request shows up in no Node process of ours, but the duplicate error comes back.
  const dup = await exec(env("ADD"));
  assert.ok(!dup.ok && dup.error.code === 999 && /duplicate|already exists/.test(dup.error.msg), JSON.stringify(dup));
  const chk = await execPlugin({
    type: "podwire-cni",
    path: [PODWIRE_BIN_DIR],
    env: env("CHECK"),
    stdin: JSON.stringify({ ...JSON.parse(conf), prevResult: res }),
    wrap: ["nsenter", `--net=${node.path}`, "--"],
  });
  assert.ok(chk.ok, JSON.stringify(chk));
  const del = await exec(env("DEL"));
  assert.ok(del.ok && del.stdout === "", JSON.stringify(del));
  assert.ok((await exec(env("DEL"))).ok);
  assert.deepEqual(
    readdirSync(join(dataDir, "sk")).filter((f) => /^\d/.test(f)),
    [],
  );
  const links = JSON.parse((await topo.exec(node, "ip", ["-j", "link", "show", "type", "veth"])).stdout || "[]") as {
    ifname: string;
  }[];
  assert.deepEqual(
    links.filter((l) => l.ifname.startsWith("veth")),
    [],
  );
  // With the agent gone, the same executable falls back to the bundled plugin.
  await stopAgent(agent);
  agent = undefined;
  assert.equal(existsSync(sock), false, "socket removed on stop");
  const r2 = await exec(env("ADD"));
  assert.ok(r2.ok, JSON.stringify(r2));
  assert.ok((await exec(env("DEL"))).ok);
});

test("agent start frees IPs whose sandbox is gone, keeps live ones and fresh reservations", async () => {
  const node = topo.nodes[0]!;
  const dataDir = join(node.dir, "ipam-reclaim");
  const conf = JSON.stringify({
    cniVersion: "1.0.0",
    name: "rc",
    type: "podwire-cni",
    ipam: { type: "host-local", ranges: [[{ subnet: "10.244.8.0/24" }]], dataDir },
  });
  const pod = await topo.addPod(node, "live");
  const live = await execPlugin({
    type: "podwire-cni",
    path: [PODWIRE_BIN_DIR],
    env: { CNI_COMMAND: "ADD", CNI_CONTAINERID: "alive", CNI_NETNS: pod.path, CNI_IFNAME: "eth0" },
    stdin: conf,
    wrap: ["nsenter", `--net=${node.path}`, "--"],
  });
  assert.ok(live.ok, JSON.stringify(live));
  // Two dead sandboxes (no veth): one old reservation, one just made.
  const store = join(dataDir, "rc");
  writeFileSync(join(store, "10.244.8.50"), "dead\r\neth0");
  utimesSync(join(store, "10.244.8.50"), new Date(Date.now() - 3_600_000), new Date(Date.now() - 3_600_000));
  writeFileSync(join(store, "10.244.8.51"), "justnow\r\neth0");
  const objects = join(topo.dir, "nodes.yaml");
  const r = await topo.exec(
    node,
    process.execPath,
    [
      PODWIRE_CLI,
      "overlay",
      "--objects",
      objects,
      "--node-name",
      node.name,
      "--subnet-file",
      subnetFileOf(node),
      "--cni-network",
      "rc",
      "--cni-data-dir",
      dataDir,
      "--once",
    ],
    { check: false },
  );
  assert.match(r.stderr, /freed IPs of sandboxes/);
  const left = readdirSync(store)
    .filter((f) => /^\d/.test(f))
    .sort();
  assert.deepEqual(left, ["10.244.8.2", "10.244.8.51"]);
});
