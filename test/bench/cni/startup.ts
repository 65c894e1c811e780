/**
 * Bench: the start-up cost a runtime pays per plugin exec — Debian's Go `bridge` answering VERSION vs `node -e 0`
 * vs bin/podwire-cni answering VERSION without an agent (C client → Node plugin) vs bin/podwire-cni forwarding a
 * DEL to the agent socket (the C client) vs the sh + socat client doing the same vs the same DEL sent straight to
 * the socket (no exec at all). Median of N runs each, interleaved.
 *
 *   npm run build && node dist/test/bench/cni/startup.js [runs=30]
 */
import { chmodSync, copyFileSync, existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { performance } from "node:perf_hooks";
import { callPluginSocket } from "../../../cni/runtime/exec.js";
import { run } from "../../../src/netlinux/exec.js";
import { PODWIRE_BIN_DIR } from "../../support/cni.js";
import { nodeObject, startOverlay, stopAgent, waitFor, writeNodesFile } from "../../support/overlay.js";
import { Topology } from "../../support/topology.js";
import { fmt, stats } from "./stats.js";

const n = Number(process.argv[2] ?? 30);
await Topology.sweepOrphans();
const topo = await Topology.create({ nodes: 1, tag: "strt" });
const node = topo.nodes[0]!;
const objects = join(topo.dir, "nodes.yaml");
writeNodesFile(objects, [nodeObject(node)]);
const sock = join(node.dir, "cni.sock");
const agent = startOverlay(node, objects, ["--cni-socket", sock, "--resync", "60"]);
try {
  await waitFor(() => existsSync(sock), 60_000, "agent socket");
  const shDir = join(node.dir, "sh-bin");
  mkdirSync(shDir, { recursive: true });
  const shClient = join(shDir, "podwire-cni");
  copyFileSync(fileURLToPath(new URL("../../../../cni/client/podwire-cni.sh", import.meta.url)), shClient);
  chmodSync(shClient, 0o755);
  const conf = JSON.stringify({
    cniVersion: "1.0.0",
    name: "st",
    type: "podwire-cni",
    agentSocket: sock,
    ipam: { type: "host-local", ranges: [[{ subnet: "10.244.9.0/24" }]], dataDir: join(node.dir, "ipam") },
  });
  const delEnv = { PATH: process.env.PATH ?? "", CNI_COMMAND: "DEL", CNI_CONTAINERID: "none", CNI_IFNAME: "eth0" };
  const cases: [string, () => Promise<unknown>][] = [
    ["go bridge VERSION", () => run("/usr/lib/cni/bridge", [], { env: { CNI_COMMAND: "VERSION" }, input: "{}" })],
    ["node -e 0", () => run(process.execPath, ["-e", "0"])],
    [
      "bin/podwire-cni VERSION (Node)",
      () => run(join(PODWIRE_BIN_DIR, "podwire-cni"), [], { env: { ...delEnv, CNI_COMMAND: "VERSION" }, input: "{}" }),
    ],
    [
      "bin/podwire-cni DEL via socket (C)",
      () => run("nsenter", [`--net=${node.path}`, join(PODWIRE_BIN_DIR, "podwire-cni")], { env: delEnv, input: conf }),
    ],
    ["sh+socat DEL via socket", () => run("nsenter", [`--net=${node.path}`, shClient], { env: delEnv, input: conf })],
    ["DEL straight to socket (no exec)", () => callPluginSocket(sock, delEnv, conf)],
  ];
  const times = cases.map(() => [] as number[]);
  for (let i = 0; i < n; i++)
    for (const [k, [, f]] of cases.entries()) {
      const t0 = performance.now();
      await f();
      times[k]!.push(performance.now() - t0);
    }
  for (const [k, [label]] of cases.entries()) console.log(`${label.padEnd(36)} ${fmt(stats(times[k]!))}`);
  console.log(`node start / Go plugin start: ${(stats(times[1]!).p50 / stats(times[0]!).p50).toFixed(1)}x`);
} finally {
  await stopAgent(agent);
  await topo.destroy();
}
