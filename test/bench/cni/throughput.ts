/**
 * Bench: pod↔pod TCP throughput across nodes over podwire's overlay (podwire overlay agents + podwire-cni pods,
 * path pod → veth → cni0 → flannel.1 → underlay → flannel.1 → cni0 → veth → pod) vs a hand-configured vxlan pair
 * of the same MTU between two other node namespaces on the same underlay (the ceiling for any VXLAN overlay).
 * Rounds alternate between the two so machine load hits both alike. Prints Gbit/s and the ratio (target ≥ 0.95).
 *
 *   npm run build && node dist/test/bench/cni/throughput.js [rounds=8] [seconds=3]
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { spawnIn } from "../../../src/netlinux/netns.js";
import { nodeRuntime, podwireConfList } from "../../support/cni.js";
import { nodeObject, startOverlay, stopAll, subnetFileOf, waitFor, writeNodesFile } from "../../support/overlay.js";
import { Topology, type TopoNode } from "../../support/topology.js";

interface Sample {
  /** Gbit/s received. */
  gbps: number;
  /** Gbit/s per CPU-second of the two iperf3 processes (their own user+sys, as iperf3 reports it): less sensitive
   * to the CPU share other processes leave than the raw rate. */
  eff: number;
}

// iperf3 runs at nice -20 on both ends: on a shared machine the scheduler then gives the transfer the CPU first,
// whichever path it takes, so the other tenants' load moves the figures less.
async function iperf(
  topo: Topology,
  client: string,
  server: string,
  serverIp: string,
  seconds: number,
): Promise<Sample> {
  let last = "";
  // A fresh one-off server per attempt: an attempt that failed half-way may have used up the previous one.
  for (let attempt = 0; attempt < 4; attempt++) {
    const srv = spawnIn(server, "nice", ["-n", "-20", "iperf3", "-s", "-1", "-p", "5201"], { stdio: "ignore" });
    try {
      await new Promise((r) => setTimeout(r, 300 + attempt * 500));
      const out = await topo.exec(
        client,
        "nice",
        ["-n", "-20", "iperf3", "-c", serverIp, "-p", "5201", "-t", String(seconds), "-J"],
        { check: false },
      );
      last = out.stdout.slice(0, 300) || out.stderr.slice(0, 300);
      let j: {
        error?: string;
        end?: {
          sum_received?: { bits_per_second: number };
          cpu_utilization_percent?: { host_total: number; remote_total: number };
        };
      };
      try {
        j = JSON.parse(out.stdout);
      } catch {
        continue;
      }
      const bps = j.end?.sum_received?.bits_per_second;
      const u = j.end?.cpu_utilization_percent;
      if (out.code !== 0 || j.error || bps === undefined || !u) continue;
      const gbps = bps / 1e9;
      const cpu = (u.host_total + u.remote_total) / 100;
      return { gbps, eff: cpu > 0 ? gbps / cpu : 0 };
    } finally {
      srv.kill("SIGKILL");
    }
  }
  throw new Error(`iperf3 ${client} -> ${serverIp} failed: ${last}`);
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
  const rounds = Number(process.argv[2] ?? 8);
  const seconds = Number(process.argv[3] ?? 3);
  await Topology.sweepOrphans();
  const topo = await Topology.create({ nodes: 4, tag: "tput" });
  const [n1, n2, n3, n4] = topo.nodes as [TopoNode, TopoNode, TopoNode, TopoNode];
  const objects = join(topo.dir, "nodes.yaml");
  writeNodesFile(objects, [nodeObject(n1), nodeObject(n2)]);
  const agents = [n1, n2].map((n) => startOverlay(n, objects, ["--resync", "30"]));
  const extra: Topology[] = [];
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
    // The same packet filter state as the agent's nodes on one hand-configured node pair (conntrack + the
    // FORWARD/POSTROUTING chains): tells the cost of the rules apart from the cost of the pod path.
    const rules = (await topo.exec(n1, "iptables-save", [])).stdout;
    const ruled = await Topology.create({ nodes: 2, tag: "tpru" });
    extra.push(ruled);
    const [r1, r2] = ruled.nodes as [TopoNode, TopoNode];
    for (const n of [r1, r2]) await ruled.exec(n, "iptables-restore", [], { input: rules });
    const [, ruledB] = await handVxlan(ruled, r1, r2, vtepMtu);
    const variants: { label: string; run: () => Promise<Sample>; xs: Sample[] }[] = [
      {
        label: "podwire overlay pod->pod",
        run: () => iperf(topo, n1.pods[0]!.ns, n2.pods[0]!.ns, ips[1]!, seconds),
        xs: [],
      },
      {
        label: "hand vxlan node->node (ref)",
        run: () => iperf(topo, n3.ns, n4.ns, refB, seconds),
        xs: [],
      },
      {
        label: "podwire flannel.1 node->node",
        run: () => iperf(topo, n1.ns, n2.ns, `${n2.podCidr.split(".").slice(0, 3).join(".")}.0`, seconds),
        xs: [],
      },
      {
        label: "hand vxlan + agent's rules",
        run: () => iperf(ruled, r1.ns, r2.ns, ruledB, seconds),
        xs: [],
      },
    ];
    const ratios: number[] = [];
    for (let i = 0; i < rounds; i++) {
      // Rotate the order so no variant always runs right after the same one.
      for (let k = 0; k < variants.length; k++) {
        const v = variants[(i + k) % variants.length]!;
        v.xs.push(await v.run());
      }
      ratios.push(variants[0]!.xs[i]!.gbps / variants[1]!.xs[i]!.gbps);
    }
    const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    const gbps = (v: (typeof variants)[number]) => v.xs.map((x) => x.gbps);
    const eff = (v: (typeof variants)[number]) => v.xs.map((x) => x.eff);
    console.log(`MTU ${vtepMtu} (underlay ${topo.mtu}), ${rounds} rounds of ${seconds} s, variants rotated per round`);
    for (const v of variants)
      console.log(
        `${v.label.padEnd(30)}: ${gbps(v)
          .map((x) => x.toFixed(2))
          .join(" ")} Gbit/s (median ${med(gbps(v)).toFixed(2)}; ${med(eff(v)).toFixed(1)} Gbit per iperf CPU-s)`,
      );
    const [ours, ref, , ruledRef] = variants as [
      (typeof variants)[number],
      (typeof variants)[number],
      (typeof variants)[number],
      (typeof variants)[number],
    ];
    console.log(
      `throughput ratio podwire/hand vxlan (medians): ${(med(gbps(ours)) / med(gbps(ref))).toFixed(2)}x (target >= 0.95x)`,
    );
    console.log(`median of per-round ratios: ${med(ratios).toFixed(2)}x`);
    console.log(
      `per-CPU ratio podwire/hand vxlan: ${(med(eff(ours)) / med(eff(ref))).toFixed(2)}x; vs hand vxlan with the agent's rules: ${(med(eff(ours)) / med(eff(ruledRef))).toFixed(2)}x`,
    );
  } finally {
    await stopAll(agents);
    await topo.destroy();
    for (const t of extra) await t.destroy();
  }
}

await main();
