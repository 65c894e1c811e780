/**
 * The sandbox's namespaces: an underlay namespace holding a bridge, and one namespace per node (`<name>-<node>`)
 * plugged into it by a veth pair created inside the underlay namespace with its peer moved straight into the node
 * namespace — so no link ever appears in the initial namespace. Node i gets 198.18.0.i/15 on eth0 (its
 * InternalIP) and pod CIDR 10.244.i.0/24. Pod traffic between nodes is routed host-gw style (a route per peer
 * node's pod CIDR via its underlay address) unless the overlay agent programs VXLAN instead.
 */
import { addNetns, delNetns, delNetnsByPrefix, ip, sysctl } from "../netlinux/netns.js";
import type { SandboxNode } from "./state.js";

export const UNDERLAY_PREFIX_LEN = 15;
export const SERVICE_CIDR = "10.96.0.0/12";

export function nodeIP(i: number): string {
  return `198.18.${Math.floor(i / 256)}.${i % 256}`;
}

export function nodePodCIDR(i: number): string {
  return `10.244.${i}.0/24`;
}

/** The underlay: namespace `ns` holding the bridge br0 (MTU `mtu` when given, else the kernel's default). */
export async function createUnderlay(ns: string, mtu?: number): Promise<void> {
  await addNetns(ns);
  await ip(ns, "link", "add", "br0", "type", "bridge");
  await ip(ns, "link", "set", "br0", ...mtuArgs(mtu), "up");
}

function mtuArgs(mtu: number | undefined): string[] {
  return mtu ? ["mtu", String(mtu)] : [];
}

/**
 * Plugs the existing namespace `ns` into the underlay bridge: a veth pair made inside the underlay namespace with
 * its peer moved straight into `ns` as eth0 (no link ever appears in the initial namespace), the underlay end
 * `port` on br0, `cidr` (address/len) on eth0, both ends up. Used by the sandbox and by the tests' Topology.
 */
export async function plugIntoUnderlay(
  underlay: string,
  ns: string,
  port: string,
  cidr: string,
  mtu?: number,
): Promise<void> {
  const m = mtuArgs(mtu);
  await ip(underlay, "link", "add", port, ...m, "type", "veth", "peer", "name", "eth0", ...m, "netns", ns);
  await ip(underlay, "link", "set", port, "master", "br0", "up");
  await ip(ns, "addr", "add", cidr, "dev", "eth0");
  await ip(ns, "link", "set", "eth0", "up");
}

export async function createNode(underlay: string, n: SandboxNode, index: number): Promise<void> {
  await addNetns(n.ns);
  await plugIntoUnderlay(underlay, n.ns, `n${index}`, `${n.ip}/${UNDERLAY_PREFIX_LEN}`);
  await sysctl(n.ns, "net.ipv4.ip_forward", "1");
  // A route for the service range so the node's own processes can reach ClusterIPs (the proxier DNATs them in
  // OUTPUT); the sandbox has no default route — nothing leads to the machine's real uplink.
  await ip(n.ns, "route", "add", SERVICE_CIDR, "dev", "eth0");
  // Service traffic bridged on cni0 must traverse iptables (kube-proxy requires br_netfilter's sysctl).
  await sysctl(n.ns, "net.bridge.bridge-nf-call-iptables", "1").catch(() => {});
  await sysctl(n.ns, "net.ipv4.conf.all.route_localnet", "1").catch(() => {});
}

/** host-gw routing: each node reaches the other nodes' pod CIDRs through their underlay addresses. */
export async function addPodRoutes(nodes: SandboxNode[]): Promise<void> {
  for (const n of nodes) {
    for (const peer of nodes) {
      if (peer === n) continue;
      await ip(n.ns, "route", "replace", peer.podCIDR, "via", peer.ip, "dev", "eth0");
    }
  }
}

export async function deleteSandboxNamespaces(
  underlay: string,
  nodes: Pick<SandboxNode, "ns" | "podNetnsPrefix">[],
): Promise<void> {
  for (const n of nodes) {
    await delNetnsByPrefix(n.podNetnsPrefix);
    await delNetns(n.ns);
  }
  await delNetns(underlay);
}
