/**
 * Bench: pod↔pod TCP throughput across nodes over podwire's overlay (podwire overlay agents + podwire-cni pods,
 * path pod → veth → cni0 → flannel.1 → underlay → flannel.1 → cni0 → veth → pod) vs a hand-configured vxlan pair
 * of the same MTU between two other node namespaces on the same underlay (the ceiling for any VXLAN overlay).
 * Rounds alternate between the two so machine load hits both alike. Prints Gbit/s and the ratio (target ≥ 0.95).
 *
 *   npm run build && node dist/test/bench/cni/throughput.js [rounds=3] [seconds=5]
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { spawnIn } from "../../../src/netlinux/netns.js";
import { nodeRuntime, podwireConfList } from "../../support/cni.js";
import { nodeObject, startOverlay, stopAll, subnetFileOf, waitFor, writeNodesFile } from "../../support/overlay.js";
import { Topology, type TopoNode } from "../../support/topology.js";

async function iperf(
  topo: Topology,
  client: string,
  server: string,
  serverIp: string,
  seconds: number,
): Promise<number> {
  const srv = spawnIn(server, "iperf3", ["-s", "-1", "-p", "5201"], { stdio: "ignore" });
  try {
    await new Promise((r) => setTimeout(r, 300));
    const r = await waitFor(
      async () => {
        const out = await topo.exec(client, "iperf3", ["-c", serverIp, "-p", "5201", "-t", String(seconds), "-J"], {
          check: false,
        });
        return out.code === 0 ? out.stdout : "";
      },
      10_000,
      "iperf3",
    );
    const j = JSON.parse(r) as { end: { sum_received: { bits_per_second: number } } };
    return j.end.sum_received.bits_per_second / 1e9;
  } finally {
    srv.kill("SIGKILL");
  }
}

/** flannel's three entries, by hand, for a vxlan between two namespaces (no agent involved). */
async function handVxlan(topo: Topology, a: TopoNode, b: TopoNode, mtu: number): Promise<[string, string]> {
  const addr = (n: TopoNode) => `10.250.${n.index}.0`;
  const mac = (n: TopoNode) => `0a:ee:00:00:00:${n.index.toString(16).padStart(2, "0")}`;
  for (const [me, peer] of [
    [a, b],
    [b, a],
  ] as const) {
    const x = (...args: string[]) => topo.exec(me, "ip", args);
    await x(
      "link",
      "add",
      "vx0",
      "address",
      mac(me),
      "mtu",
      String(mtu),
      "type",
      "vxlan",
      "id",
      "1",
      "local",
      me.ip,
      "dev",
      me.iface,
      "dstport",
      "8472",
      "nolearning",
    );
    await x("addr", "add", `${addr(me)}/32`, "dev", "vx0");
    await x("link", "set", "vx0", "up");
    await x("neigh", "replace", addr(peer), "lladdr", mac(peer), "dev", "vx0", "nud", "permanent");
    await topo.exec(me, "bridge", ["fdb", "replace", mac(peer), "dev", "vx0", "dst", peer.ip, "self", "permanent"]);
    await x("route", "replace", `${addr(peer)}/32`, "via", addr(peer), "dev", "vx0", "onlink");
  }
  return [addr(a), addr(b)];
}

async function main(): Promise<void> {
  const rounds = Number(process.argv[2] ?? 3);
  const seconds = Number(process.argv[3] ?? 5);
  await Topology.sweepOrphans();
  const topo = await Topology.create({ nodes: 4, tag: "tput" });
  const [n1, n2, n3, n4] = topo.nodes as [TopoNode, TopoNode, TopoNode, TopoNode];
  const objects = join(topo.dir, "nodes.yaml");
  writeNodesFile(objects, [nodeObject(n1), nodeObject(n2)]);
  const agents = [n1, n2].map((n) => startOverlay(n, objects, ["--resync", "30"]));
  try {
    for (const n of [n1, n2]) await waitFor(() => existsSync(subnetFileOf(n)), 60_000, "subnet.env");
    const ips: string[] = [];
    for (const n of [n1, n2]) {
      const pod = await topo.addPod(n, "perf");
      const list = podwireConfList({ subnetFile: subnetFileOf(n), dataDir: join(n.dir, "ipam"), portmap: false });
      const r = (await nodeRuntime(n).add(list, {
        containerId: `${n.name}-perf`,
        netns: pod.path,
        ifname: "eth0",
      })) as {
        ips: { address: string }[];
      };
      ips.push(r.ips[0]!.address.split("/")[0]!);
    }
    const vtepMtu = JSON.parse((await topo.exec(n1, "ip", ["-j", "link", "show", "flannel.1"])).stdout)[0]
      .mtu as number;
    const [, refB] = await handVxlan(topo, n3, n4, vtepMtu);
    await waitFor(
      async () => (await topo.exec(n3, "ping", ["-c1", "-W1", refB], { check: false })).code === 0,
      10_000,
      "ref ping",
    );
    await waitFor(
      async () => (await topo.exec(n1.pods[0]!, "ping", ["-c1", "-W1", ips[1]!], { check: false })).code === 0,
      10_000,
      "pod ping",
    );
    const ours: number[] = [];
    const ref: number[] = [];
    for (let i = 0; i < rounds; i++) {
      ours.push(await iperf(topo, n1.pods[0]!.ns, n2.pods[0]!.ns, ips[1]!, seconds));
      ref.push(await iperf(topo, n3.ns, n4.ns, refB, seconds));
    }
    const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    console.log(`MTU ${vtepMtu} (underlay ${topo.mtu}), ${rounds} alternating rounds of ${seconds} s`);
    console.log(
      `podwire overlay pod->pod     : ${ours.map((x) => x.toFixed(2)).join(" ")} Gbit/s (median ${med(ours).toFixed(2)})`,
    );
    console.log(
      `hand-configured vxlan pair   : ${ref.map((x) => x.toFixed(2)).join(" ")} Gbit/s (median ${med(ref).toFixed(2)})`,
    );
    console.log(`throughput ratio podwire/hand vxlan: ${(med(ours) / med(ref)).toFixed(2)}x (target >= 0.95x)`);
  } finally {
    await stopAll(agents);
    await topo.destroy();
  }
}

await main();
