/**
 * Helpers for driving CNI plugins in a Topology exactly as a runtime does (env + stdin conflist, prevResult
 * chaining, cached result, DEL in reverse), with the plugins exec'd inside the node namespace.
 *
 *   const list = podwireConfList({ subnet: node.podCidr, dataDir: join(node.dir, "ipam") }); // + portmap
 *   const rt = nodeRuntime(node);              // CniRuntime exec'ing inside node.ns, cache under node.dir
 *   await rt.add(list, { containerId, netns: pod.path, ifname: "eth0" });
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { CniRuntime, type NetworkConfigList, parseConfList } from "../../cni/runtime/runtime.js";
import type { TopoNode } from "./topology.js";

/** Repository bin/ (holds podwire-cni) — resolved from dist/test/support/. */
export const PODWIRE_BIN_DIR = fileURLToPath(new URL("../../../bin/", import.meta.url));
export const DEBIAN_CNI_DIR = "/usr/lib/cni";

export interface PodwireListOptions {
  name?: string;
  cniVersion?: string;
  subnet?: string;
  subnetFile?: string;
  dataDir?: string;
  mtu?: number;
  portmap?: boolean;
  routes?: { dst: string; gw?: string }[];
  /** The agent's CNI socket (`podwire overlay --cni-socket`). */
  agentSocket?: string;
}

export function podwireConfList(o: PodwireListOptions): NetworkConfigList {
  const ipam: Record<string, unknown> = { type: "host-local" };
  if (o.subnet) ipam.ranges = [[{ subnet: o.subnet }]];
  if (o.routes) ipam.routes = o.routes;
  if (o.dataDir) ipam.dataDir = o.dataDir;
  const plugins: Record<string, unknown>[] = [
    {
      type: "podwire-cni",
      bridge: "cni0",
      isDefaultGateway: true,
      hairpinMode: true,
      ...(o.mtu ? { mtu: o.mtu } : {}),
      ...(o.subnetFile ? { subnetFile: o.subnetFile } : {}),
      ...(o.agentSocket ? { agentSocket: o.agentSocket } : {}),
      ipam,
    },
  ];
  if (o.portmap !== false) plugins.push({ type: "portmap", capabilities: { portMappings: true }, snat: true });
  return parseConfList(JSON.stringify({ cniVersion: o.cniVersion ?? "1.0.0", name: o.name ?? "cbr0", plugins }));
}

export function nodeRuntime(
  node: TopoNode,
  binDirs = [PODWIRE_BIN_DIR, DEBIAN_CNI_DIR],
  opts: { useAgentSocket?: boolean } = {},
): CniRuntime {
  return new CniRuntime({
    binDirs,
    cacheDir: join(node.dir, "cni-cache"),
    wrap: ["nsenter", `--net=${node.path}`, "--"],
    ...opts,
  });
}
