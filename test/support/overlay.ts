/**
 * Test helpers for the overlay: Node objects for a Topology, an objects file, and `podwire overlay` agents
 * started inside node namespaces (stopped by PID).
 *
 *   const file = writeNodesFile(topo, nodeObjects(topo.nodes));     // Nodes with podCIDR, InternalIP, flannel annotations
 *   const agents = topo.nodes.map((n) => startOverlay(n, file));   // podwire overlay --objects file in n.ns
 *   await waitFor(() => existsSync(subnetFileOf(n)));
 *   await stopAll(agents);
 */
import type { ChildProcess } from "node:child_process";
import { createWriteStream, existsSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { stringify } from "yaml";
import { ANN } from "../../cni/overlay/peers.js";
import { derivedMac } from "../../cni/overlay/vtep.js";
import type { Node } from "../../src/api/index.js";
import { spawnIn } from "../../src/netlinux/netns.js";
import type { Topology, TopoNode } from "./topology.js";

export const PODWIRE_CLI = fileURLToPath(new URL("../../../bin/podwire", import.meta.url));

export interface NodeOverride {
  mac?: string;
  ip?: string;
}

export function nodeObject(n: TopoNode, o: NodeOverride = {}): Node {
  const ip = o.ip ?? n.ip;
  return {
    apiVersion: "v1",
    kind: "Node",
    metadata: {
      name: n.name,
      annotations: {
        [ANN.kubeSubnetManager]: "true",
        [ANN.backendType]: "vxlan",
        [ANN.backendData]: JSON.stringify({ VNI: 1, VtepMAC: o.mac ?? derivedMac(n.name) }),
        [ANN.publicIp]: ip,
      },
    },
    spec: { podCIDR: n.podCidr, podCIDRs: [n.podCidr] },
    status: { addresses: [{ type: "InternalIP", address: ip }] },
  };
}

export function writeNodesFile(path: string, nodes: Node[]): void {
  // write + rename: the agent's file source never reads a half-written file
  writeFileSync(`${path}.tmp`, stringify({ apiVersion: "v1", kind: "List", items: nodes }));
  renameSync(`${path}.tmp`, path);
}

export function subnetFileOf(n: TopoNode): string {
  return join(n.dir, "subnet.env");
}

export interface AgentProc {
  node: TopoNode;
  child: ChildProcess;
  logFile: string;
}

export function startOverlay(n: TopoNode, objectsFile: string, extra: string[] = []): AgentProc {
  const logFile = join(n.dir, "overlay.log");
  const log = createWriteStream(logFile, { flags: "a" });
  const child = spawnIn(
    n.ns,
    process.execPath,
    [
      PODWIRE_CLI,
      "overlay",
      "--objects",
      objectsFile,
      "--node-name",
      n.name,
      "--subnet-file",
      subnetFileOf(n),
      "--resync",
      "1",
      ...extra,
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  child.stdout?.pipe(log);
  child.stderr?.pipe(log);
  return { node: n, child, logFile };
}

export async function stopAgent(a: AgentProc): Promise<void> {
  if (a.child.exitCode !== null || a.child.signalCode !== null) return;
  const done = new Promise<void>((r) => a.child.once("exit", () => r()));
  a.child.kill("SIGTERM");
  const t = setTimeout(() => a.child.kill("SIGKILL"), 10_000);
  await done;
  clearTimeout(t);
}

export async function stopAll(agents: AgentProc[]): Promise<void> {
  await Promise.all(agents.map(stopAgent));
}

/** Polls until fn returns truthy (or throws the last error after timeoutMs). */
export async function waitFor<T>(fn: () => T | Promise<T>, timeoutMs = 15_000, what = "condition"): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ""}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * One node's overlay agent serving podwire-cni on `<node dir>/cni.sock` (the node alone in `<dir>/nodes.yaml`),
 * resolved once the socket and subnet.env exist.
 */
export async function startSocketAgent(n: TopoNode, dir: string): Promise<{ agent: AgentProc; sock: string }> {
  const objects = join(dir, "nodes.yaml");
  writeNodesFile(objects, [nodeObject(n)]);
  const sock = join(n.dir, "cni.sock");
  const agent = startOverlay(n, objects, ["--cni-socket", sock, "--resync", "30"]);
  await waitFor(() => existsSync(sock) && existsSync(subnetFileOf(n)), 60_000, "agent socket");
  return { agent, sock };
}

export type { Topology };
