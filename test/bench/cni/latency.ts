/**
 * Bench: CNI ADD and DEL latency, podwire-cni vs Debian's bridge + host-local (containernetworking-plugins), same
 * node namespace, same run, interleaved so machine load hits both alike. Each op is timed around the exec of the
 * plugin inside the node namespace (nsenter), exactly as a runtime runs it.
 *
 *   npm run build && node dist/test/bench/cni/latency.js [runs=50]
 *   PODWIRE_CNI_MODE=exec|socket  (socket: bin/podwire-cni forwards to a running agent over its unix socket)
 */
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { execPlugin } from "../../../cni/runtime/exec.js";
import { PODWIRE_BIN_DIR } from "../../support/cni.js";
import { Topology } from "../../support/topology.js";

export interface Stats {
  p50: number;
  p95: number;
  min: number;
  max: number;
}

export function stats(xs: number[]): Stats {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))]!;
  return { p50: q(0.5), p95: q(0.95), min: s[0]!, max: s[s.length - 1]! };
}

export const fmt = (s: Stats) =>
  `p50 ${s.p50.toFixed(1)} ms  p95 ${s.p95.toFixed(1)} ms  (min ${s.min.toFixed(1)}, max ${s.max.toFixed(1)})`;

interface Variant {
  label: string;
  type: string;
  path: string[];
  conf: Record<string, unknown>;
  add: number[];
  del: number[];
}

async function main(): Promise<void> {
  const n = Number(process.argv[2] ?? 50);
  await Topology.sweepOrphans();
  const topo = await Topology.create({ nodes: 1, tag: "bnch" });
  try {
    const node = topo.nodes[0]!;
    const variants: Variant[] = [
      {
        label: "podwire-cni",
        type: "podwire-cni",
        path: [PODWIRE_BIN_DIR, "/usr/lib/cni"],
        conf: {
          cniVersion: "1.0.0",
          name: "pw",
          type: "podwire-cni",
          bridge: "cni0",
          isDefaultGateway: true,
          hairpinMode: true,
          mtu: 1450,
          ipam: { type: "host-local", ranges: [[{ subnet: "10.244.1.0/24" }]], dataDir: join(node.dir, "ipam") },
        },
        add: [],
        del: [],
      },
      {
        label: "debian bridge+host-local",
        type: "bridge",
        path: ["/usr/lib/cni"],
        conf: {
          cniVersion: "1.0.0",
          name: "deb",
          type: "bridge",
          bridge: "cni1",
          isDefaultGateway: true,
          hairpinMode: true,
          ipMasq: false,
          mtu: 1450,
          ipam: { type: "host-local", ranges: [[{ subnet: "10.244.2.0/24" }]], dataDir: join(node.dir, "ipam") },
        },
        add: [],
        del: [],
      },
    ];
    const wrap = ["nsenter", `--net=${node.path}`, "--"];
    const op = async (v: Variant, cmd: string, cid: string, netns: string) => {
      const t0 = performance.now();
      const r = await execPlugin({
        type: v.type,
        path: v.path,
        env: { CNI_COMMAND: cmd, CNI_CONTAINERID: cid, CNI_NETNS: netns, CNI_IFNAME: "eth0" },
        stdin: JSON.stringify(v.conf),
        wrap,
      });
      const dt = performance.now() - t0;
      if (!r.ok) throw new Error(`${v.label} ${cmd}: ${JSON.stringify(r.error)}`);
      return dt;
    };
    // Warm-up (creates the bridges, fills page cache) — not counted.
    for (const v of variants) {
      const p = await topo.addPod(node, `w${v.type}`);
      await op(v, "ADD", `warm-${v.type}`, p.path);
      await op(v, "DEL", `warm-${v.type}`, p.path);
      await topo.removePod(p);
    }
    for (let i = 0; i < n; i++) {
      const order = i % 2 === 0 ? variants : [...variants].reverse();
      for (const v of order) {
        const p = await topo.addPod(node, `p${i}${v.type.slice(0, 2)}`);
        v.add.push(await op(v, "ADD", `c${i}`, p.path));
        v.del.push(await op(v, "DEL", `c${i}`, p.path));
        await topo.removePod(p);
      }
    }
    const [pw, deb] = variants as [Variant, Variant];
    const out: string[] = [];
    for (const v of variants) {
      out.push(`${v.label.padEnd(26)} ADD ${fmt(stats(v.add))}`);
      out.push(`${"".padEnd(26)} DEL ${fmt(stats(v.del))}`);
    }
    const addRatio = stats(pw.add).p50 / stats(deb.add).p50;
    const delRatio = stats(pw.del).p50 / stats(deb.del).p50;
    out.push(`runs: ${n} each, interleaved; mode: ${process.env.PODWIRE_CNI_MODE ?? "default"}`);
    out.push(`ADD p50 ratio podwire/reference: ${addRatio.toFixed(2)}x (target <= 1.0x)`);
    out.push(`DEL p50 ratio podwire/reference: ${delRatio.toFixed(2)}x`);
    console.log(out.join("\n"));
  } finally {
    await topo.destroy();
  }
}

await main();
