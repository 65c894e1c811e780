import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { NetworkConfigList } from "../../../cni/runtime/runtime.js";
import type { Node } from "../../../src/api/index.js";
import { spawnIn } from "../../../src/netlinux/netns.js";
import { nodeRuntime, podwireConfList } from "../../support/cni.js";
import {
  type AgentProc,
  nodeObject,
  startOverlay,
  stopAll,
  stopAgent,
  subnetFileOf,
  waitFor,
  writeNodesFile,
} from "../../support/overlay.js";
import { Topology, type TopoNode, type TopoPod } from "../../support/topology.js";

let topo: Topology;
let agents: AgentProc[] = [];
let objectsFile: string;
const servers: ChildProcess[] = [];
const podIp = new Map<string, string>(); // pod ns -> ip
const lists = new Map<string, NetworkConfigList>();

function listFor(n: TopoNode): NetworkConfigList {
  let l = lists.get(n.name);
  if (!l) {
    l = podwireConfList({ subnetFile: subnetFileOf(n), dataDir: join(n.dir, "ipam") });
    lists.set(n.name, l);
  }
  return l;
}

async function neighOf(n: TopoNode): Promise<{ dst: string; lladdr: string }[]> {
  return JSON.parse(
    (await topo.exec(n, "ip", ["-j", "neigh", "show", "dev", "flannel.1", "nud", "permanent"])).stdout || "[]",
  );
}
async function fdbOf(n: TopoNode): Promise<{ mac: string; dst?: string }[]> {
  return JSON.parse((await topo.exec(n, "bridge", ["-j", "fdb", "show", "dev", "flannel.1"])).stdout || "[]");
}
async function routesOf(n: TopoNode): Promise<{ dst: string; gateway?: string; dev: string }[]> {
  return JSON.parse((await topo.exec(n, "ip", ["-j", "route"])).stdout || "[]");
}

async function ping(from: TopoPod, to: string, extra: string[] = []): Promise<boolean> {
  const r = await topo.exec(from, "ping", ["-c1", "-W2", ...extra, to], { check: false });
  return r.code === 0;
}

before(async () => {
  await Topology.sweepOrphans();
  topo = await Topology.create({ nodes: 3, tag: "ovl" });
  objectsFile = join(topo.dir, "nodes.yaml");
  writeNodesFile(
    objectsFile,
    topo.nodes.map((n) => nodeObject(n)),
  );
  agents = topo.nodes.map((n) => startOverlay(n, objectsFile));
  for (const n of topo.nodes) await waitFor(() => existsSync(subnetFileOf(n)), 60_000, `subnet.env on ${n.name}`);
});

after(async () => {
  for (const s of servers) s.kill("SIGKILL");
  await stopAll(agents);
  for (const a of agents)
    if (process.env.PODWIRE_TEST_DEBUG) process.stderr.write(`--- ${a.node.name}\n${readFileSync(a.logFile, "utf8")}`);
  await topo?.destroy();
});

describe("flannel-style overlay across 3 namespaced nodes with podwire-cni pods", () => {
  test("agents write subnet.env in flannel's format and create flannel.1 (VNI 1, 8472, nolearning, MTU 1450)", async () => {
    const n1 = topo.nodes[0]!;
    assert.equal(
      readFileSync(subnetFileOf(n1), "utf8"),
      "FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.1.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n",
    );
    const l = JSON.parse((await topo.exec(n1, "ip", ["-j", "-d", "addr", "show", "flannel.1"])).stdout)[0];
    assert.equal(l.mtu, 1450);
    assert.equal(l.linkinfo.info_data.id, 1);
    assert.equal(l.linkinfo.info_data.port, 8472);
    assert.equal(l.linkinfo.info_data.learning, false);
    assert.equal(l.linkinfo.info_data.local, n1.ip);
    assert.ok(
      l.addr_info.some((a: { local: string; prefixlen: number }) => a.local === "10.244.1.0" && a.prefixlen === 32),
    );
    const nat = await waitFor(
      async () => {
        const out = (await topo.exec(n1, "iptables-save", ["-t", "nat"])).stdout;
        return out.includes("PODWIRE-POSTRTG") ? out : "";
      },
      10_000,
      "masquerade rules",
    );
    assert.match(nat, /-A POSTROUTING .*-j PODWIRE-POSTRTG/);
    assert.match(nat, /-A PODWIRE-POSTRTG -s 10\.244\.0\.0\/16 ! -d 224\.0\.0\.0\/4 .*MASQUERADE --random-fully/);
    await waitFor(async () => (await neighOf(n1)).length === 2, 10_000, "neigh entries");
    const neigh = await neighOf(n1);
    assert.deepEqual(neigh.map((x) => x.dst).sort(), ["10.244.2.0", "10.244.3.0"]);
    const routes = await routesOf(n1);
    assert.ok(routes.some((r) => r.dst === "10.244.2.0/24" && r.gateway === "10.244.2.0" && r.dev === "flannel.1"));
  });

  test("3 nodes x 2 pods via the runtime (podwire-cni + portmap); ICMP, TCP, UDP same node and across nodes", async () => {
    for (const n of topo.nodes) {
      const rt = nodeRuntime(n);
      for (const p of ["a", "b"]) {
        const pod = await topo.addPod(n, p);
        const res = (await rt.add(listFor(n), { containerId: `${n.name}-${p}`, netns: pod.path, ifname: "eth0" })) as {
          ips: { address: string }[];
        };
        podIp.set(pod.ns, res.ips[0]!.address.split("/")[0]!);
      }
    }
    const pods = topo.nodes.flatMap((n) => n.pods);
    const [n1a, n1b] = topo.nodes[0]!.pods;
    const n2a = topo.nodes[1]!.pods[0]!;
    const n3b = topo.nodes[2]!.pods[1]!;
    // ICMP: same node, and every pod to every pod on another node.
    assert.ok(await ping(n1a!, podIp.get(n1b!.ns)!), "same-node ping");
    for (const a of pods)
      for (const b of pods) if (a.node !== b.node) assert.ok(await ping(a, podIp.get(b.ns)!), `${a.ns} -> ${b.ns}`);
    // TCP: 4 MB through socat across nodes; the server answers the byte count it received.
    servers.push(spawnIn(n3b.ns, "socat", ["TCP-LISTEN:5001,reuseaddr,fork", "SYSTEM:wc -c"], { stdio: "ignore" }));
    servers.push(spawnIn(n3b.ns, "socat", ["UDP4-RECVFROM:5002,fork", "EXEC:cat"], { stdio: "ignore" }));
    servers.push(spawnIn(n1b!.ns, "socat", ["TCP-LISTEN:5001,reuseaddr,fork", "SYSTEM:wc -c"], { stdio: "ignore" }));
    const payload = Buffer.alloc(4 * 1024 * 1024, 7);
    for (const [from, to] of [
      [n2a, n3b],
      [n1a!, n1b!],
    ] as const) {
      const out = await waitFor(
        async () => {
          const r = await topo.exec(from, "socat", ["-t", "10", "-", `TCP:${podIp.get(to.ns)}:5001`], {
            input: payload,
            check: false,
          });
          return r.stdout.trim();
        },
        10_000,
        "tcp transfer",
      );
      assert.equal(Number(out), payload.length, `TCP ${from.ns} -> ${to.ns}`);
    }
    const udp = await waitFor(
      async () =>
        (
          await topo.exec(n2a, "socat", ["-t", "2", "-", `UDP4:${podIp.get(n3b.ns)}:5002`], {
            input: "hello-udp\n",
            check: false,
          })
        ).stdout,
      10_000,
      "udp echo",
    );
    assert.equal(udp.trim(), "hello-udp");
    // Full MTU across the overlay with DF set: 1422 + 28 = 1450 passes, one more byte does not fit.
    assert.ok(await ping(n2a, podIp.get(n3b.ns)!, ["-M", "do", "-s", "1422"]), "DF 1450-byte packet");
    assert.equal(
      await ping(n2a, podIp.get(n3b.ns)!, ["-M", "do", "-s", "1423"]),
      false,
      "DF 1451-byte packet must fail",
    );
  });

  test("MAC change and underlay IP change of a node: peers follow (neigh, FDB) and traffic resumes", async () => {
    const [n1, n2] = topo.nodes;
    const from = n1!.pods[0]!;
    const to = n2!.pods[0]!;
    const newMac = "0a:bc:de:00:00:02";
    let nodes: Node[] = topo.nodes.map((n) => (n === n2 ? nodeObject(n, { mac: newMac }) : nodeObject(n)));
    writeNodesFile(objectsFile, nodes);
    await waitFor(
      async () => (await neighOf(n1!)).some((x) => x.dst === "10.244.2.0" && x.lladdr === newMac),
      10_000,
      "neigh MAC",
    );
    await waitFor(async () => (await fdbOf(n1!)).some((x) => x.mac === newMac && x.dst === n2!.ip), 10_000, "fdb MAC");
    assert.ok(!(await fdbOf(n1!)).some((x) => x.dst === n2!.ip && x.mac !== newMac), "old FDB entry removed");
    await waitFor(() => ping(from, podIp.get(to.ns)!), 10_000, "ping after MAC change");
    // Underlay IP change: node 2 moves to .12 (the stale-FDB case of flannel#1330).
    // Delete first: removing a primary address also removes the secondaries of its subnet.
    await topo.exec(n2!, "ip", ["addr", "del", `${n2!.ip}/24`, "dev", "eth0"]);
    await topo.exec(n2!, "ip", ["addr", "add", "198.18.0.12/24", "dev", "eth0"]);
    nodes = topo.nodes.map((n) => (n === n2 ? nodeObject(n, { mac: newMac, ip: "198.18.0.12" }) : nodeObject(n)));
    writeNodesFile(objectsFile, nodes);
    await waitFor(
      async () => (await fdbOf(n1!)).some((x) => x.mac === newMac && x.dst === "198.18.0.12"),
      10_000,
      "fdb IP",
    );
    assert.ok(!(await fdbOf(n1!)).some((x) => x.dst === n2!.ip), "stale FDB dst removed");
    await waitFor(() => ping(from, podIp.get(to.ns)!), 10_000, "ping after IP change");
  });

  test("node removed: its route, FDB and neigh disappear from the others", async () => {
    const [n1, n2, n3] = topo.nodes;
    const nodes = [nodeObject(n1!), nodeObject(n2!, { mac: "0a:bc:de:00:00:02", ip: "198.18.0.12" })];
    writeNodesFile(objectsFile, nodes);
    for (const n of [n1!, n2!]) {
      await waitFor(
        async () => !(await routesOf(n)).some((r) => r.dst === n3!.podCidr),
        10_000,
        `route gone on ${n.name}`,
      );
      assert.ok(!(await neighOf(n)).some((x) => x.dst === "10.244.3.0"));
      assert.ok(!(await fdbOf(n)).some((x) => x.dst === n3!.ip));
      assert.ok((await neighOf(n)).length === 1, "the remaining peer stays");
    }
  });

  test("DEL of every pod leaves no IPAM files and no host veths", async () => {
    for (const n of topo.nodes) {
      const rt = nodeRuntime(n);
      for (const pod of [...n.pods])
        await rt.del(listFor(n), { containerId: `${n.name}-${pod.name}`, netns: pod.path, ifname: "eth0" });
      const dir = join(n.dir, "ipam", "cbr0");
      assert.deepEqual(
        readdirSync(dir).filter((f) => /^\d/.test(f)),
        [],
      );
      const veths = JSON.parse((await topo.exec(n, "ip", ["-j", "link", "show", "type", "veth"])).stdout || "[]") as {
        ifname: string;
      }[];
      assert.deepEqual(
        veths.map((v) => v.ifname).filter((x) => x.startsWith("veth")),
        [],
      );
    }
    await stopAgent(agents[0]!);
  });
});
