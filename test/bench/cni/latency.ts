/**
 * Bench: CNI ADD and DEL latency, podwire-cni vs Debian's bridge + host-local (containernetworking-plugins), same
 * node namespace, same run, interleaved so machine load hits both alike. Each op is timed around the exec of the
 * plugin inside the node namespace (nsenter), exactly as a runtime runs it.
 *
 *   npm run build && node dist/test/bench/cni/latency.js [runs=50]
 * Variants: bin/podwire-cni (the C client, dist/podwire-cni) forwarding to the overlay agent's socket
 * (`agentSocket` in the config; the design podwire ships); the sh + socat client (used when no C compiler is
 * present) to the same socket; podwire's runtime talking to the socket without an exec; podwire-cni as a plain
 * Node exec (no agent); Debian bridge (which execs host-local).
 */
import { chmodSync, copyFileSync, existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { performance } from "node:perf_hooks";
import { callPluginSocket, execPlugin } from "../../../cni/runtime/exec.js";
import { PODWIRE_BIN_DIR } from "../../support/cni.js";
import { fmt, stats } from "./stats.js";
import { nodeObject, startOverlay, stopAgent, waitFor, writeNodesFile } from "../../support/overlay.js";
import { Topology } from "../../support/topology.js";

interface Variant {
  label: string;
  direct?: string;
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
    const objects = join(topo.dir, "nodes.yaml");
    writeNodesFile(objects, [nodeObject(node)]);
    const sock = join(node.dir, "cni.sock");
    const agent = startOverlay(node, objects, ["--cni-socket", sock, "--resync", "60"]);
    await waitFor(() => existsSync(sock), 60_000, "agent socket");
    const pwConf = (name: string, subnet: string, bridge: string) => ({
      cniVersion: "1.0.0",
      name,
      type: "podwire-cni",
      bridge,
      isDefaultGateway: true,
      hairpinMode: true,
      mtu: 1450,
      ipam: { type: "host-local", ranges: [[{ subnet }]], dataDir: join(node.dir, "ipam") },
    });
    // The sh client in a directory of its own, named as a runtime would find it.
    const shDir = join(node.dir, "sh-bin");
    mkdirSync(shDir, { recursive: true });
    copyFileSync(
      fileURLToPath(new URL("../../../../cni/client/podwire-cni.sh", import.meta.url)),
      join(shDir, "podwire-cni"),
    );
    copyFileSync(join(PODWIRE_BIN_DIR, "..", "dist", "podwire-cni.mjs"), join(shDir, "podwire-cni.mjs"));
    chmodSync(join(shDir, "podwire-cni"), 0o755);
    const variants: Variant[] = [
      {
        label: "podwire-cni (C -> agent)",
        type: "podwire-cni",
        path: [PODWIRE_BIN_DIR, "/usr/lib/cni"],
        conf: { ...pwConf("pws", "10.244.4.0/24", "cni2"), agentSocket: sock },
        add: [],
        del: [],
      },
      {
        label: "sh+socat -> agent",
        type: "podwire-cni",
        path: [shDir, "/usr/lib/cni"],
        conf: { ...pwConf("pwsh", "10.244.6.0/24", "cni4"), agentSocket: sock },
        add: [],
        del: [],
      },
      {
        label: "runtime -> socket, no exec",
        direct: sock,
        type: "podwire-cni",
        path: [PODWIRE_BIN_DIR, "/usr/lib/cni"],
        conf: { ...pwConf("pwd", "10.244.5.0/24", "cni3"), agentSocket: sock },
        add: [],
        del: [],
      },
      {
        label: "podwire-cni (node exec)",
        type: "podwire-cni",
        path: [PODWIRE_BIN_DIR, "/usr/lib/cni"],
        conf: pwConf("pw", "10.244.1.0/24", "cni0"),
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
      const env = { CNI_COMMAND: cmd, CNI_CONTAINERID: cid, CNI_NETNS: netns, CNI_IFNAME: "eth0" };
      const r = v.direct
        ? await callPluginSocket(v.direct, env, JSON.stringify(v.conf))
        : await execPlugin({ type: v.type, path: v.path, env, stdin: JSON.stringify(v.conf), wrap });
      if (!r) throw new Error(`${v.label}: socket unreachable`);
      const dt = performance.now() - t0;
      if (!r.ok) throw new Error(`${v.label} ${cmd}: ${JSON.stringify(r.error)}`);
      return dt;
    };
    // Warm-up (creates the bridges, fills page cache) — not counted.
    for (const [k, v] of variants.entries()) {
      const p = await topo.addPod(node, `w${k}`);
      await op(v, "ADD", `warm-${k}`, p.path);
      await op(v, "DEL", `warm-${k}`, p.path);
      await topo.removePod(p);
    }
    for (let i = 0; i < n; i++) {
      const order = i % 2 === 0 ? variants : [...variants].reverse();
      if (process.env.PODWIRE_BENCH_PROGRESS) process.stderr.write(".");
      for (const v of order) {
        const p = await topo.addPod(node, `p${i}v${variants.indexOf(v)}`);
        v.add.push(await op(v, "ADD", `c${i}`, p.path));
        v.del.push(await op(v, "DEL", `c${i}`, p.path));
        await topo.removePod(p);
      }
    }
    await stopAgent(agent);
    const [pw, pwSh, pwDirect, pwExec, deb] = variants as [Variant, Variant, Variant, Variant, Variant];
    const out: string[] = [];
    for (const v of variants) {
      out.push(`${v.label.padEnd(26)} ADD ${fmt(stats(v.add))}`);
      out.push(`${"".padEnd(26)} DEL ${fmt(stats(v.del))}`);
    }
    const addRatio = stats(pw.add).p50 / stats(deb.add).p50;
    const delRatio = stats(pw.del).p50 / stats(deb.del).p50;
    out.push(`runs: ${n} each, interleaved, timed around nsenter+exec of the plugin in the node namespace`);
    out.push(`ADD p50 ratio bin/podwire-cni (C -> agent)/reference: ${addRatio.toFixed(2)}x (target <= 1.0x)`);
    out.push(`DEL p50 ratio bin/podwire-cni (C -> agent)/reference: ${delRatio.toFixed(2)}x`);
    out.push(`ADD p50 ratio sh+socat -> agent/reference: ${(stats(pwSh.add).p50 / stats(deb.add).p50).toFixed(2)}x`);
    out.push(
      `ADD p50 ratio runtime->socket (no exec)/reference: ${(stats(pwDirect.add).p50 / stats(deb.add).p50).toFixed(2)}x`,
    );
    out.push(
      `ADD p50 ratio podwire (node exec)/reference: ${(stats(pwExec.add).p50 / stats(deb.add).p50).toFixed(2)}x`,
    );
    console.log(out.join("\n"));
  } finally {
    await topo.destroy();
  }
}

await main();
