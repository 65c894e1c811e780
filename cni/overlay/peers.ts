/**
 * Node objects → overlay facts (pure). flannel's kube subnet manager semantics: the lease is `spec.podCIDR`;
 * a peer's VTEP comes from the annotations `flannel.alpha.coreos.com/backend-data` ({"VNI":1,"VtepMAC":…}),
 * `public-ip` and `kube-subnet-manager: "true"` (nodes without it are skipped, as flannel does).
 */
import type { Node } from "../../src/api/index.js";
import { formatIp4, parseCidr4 } from "../ipam/ipv4.js";

export const ANNOTATION_PREFIX = "flannel.alpha.coreos.com/";
export const ANN = {
  backendData: `${ANNOTATION_PREFIX}backend-data`,
  backendType: `${ANNOTATION_PREFIX}backend-type`,
  publicIp: `${ANNOTATION_PREFIX}public-ip`,
  publicIpOverwrite: `${ANNOTATION_PREFIX}public-ip-overwrite`,
  kubeSubnetManager: `${ANNOTATION_PREFIX}kube-subnet-manager`,
} as const;

export interface Peer {
  name: string;
  /** The node's pod CIDR (IPv4). */
  subnet: string;
  /** `<subnet>.0`: the peer VTEP's address, used as the onlink gateway. */
  vtepIp: string;
  mac: string;
  publicIp: string;
}

const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

/** The IPv4 pod CIDR of a node (podCIDRs first entry that is IPv4, else podCIDR). */
export function podCidrOf(n: Node): string | undefined {
  const all = [...(n.spec?.podCIDRs ?? []), ...(n.spec?.podCIDR ? [n.spec.podCIDR] : [])];
  for (const c of all) {
    try {
      const p = parseCidr4(c);
      return `${formatIp4(p.net)}/${p.len}`;
    } catch {}
  }
  return undefined;
}

export function vtepMacOf(n: Node): string | undefined {
  const raw = n.metadata.annotations?.[ANN.backendData];
  if (!raw) return undefined;
  try {
    const d = JSON.parse(raw) as { VtepMAC?: unknown };
    const mac = typeof d.VtepMAC === "string" ? d.VtepMAC.toLowerCase() : "";
    return MAC_RE.test(mac) ? mac : undefined;
  } catch {
    return undefined;
  }
}

export function internalIpOf(n: Node): string | undefined {
  return n.status?.addresses?.find((a) => a.type === "InternalIP" && !a.address.includes(":"))?.address;
}

/** A remote node as a peer, or undefined when it has not published a usable VTEP (yet). */
export function peerFromNode(n: Node): Peer | undefined {
  const a = n.metadata.annotations ?? {};
  if (a[ANN.kubeSubnetManager] !== "true") return undefined;
  if ((a[ANN.backendType] ?? "vxlan") !== "vxlan") return undefined;
  const subnet = podCidrOf(n);
  const mac = vtepMacOf(n);
  const publicIp = a[ANN.publicIpOverwrite] || a[ANN.publicIp];
  if (!subnet || !mac || !publicIp || !/^\d+\.\d+\.\d+\.\d+$/.test(publicIp)) return undefined;
  return { name: n.metadata.name ?? "", subnet, vtepIp: subnet.split("/")[0]!, mac, publicIp };
}

/** Every other node's peer entry, sorted by name (deterministic plans). */
export function peersOf(nodes: Node[], self: string): Peer[] {
  return nodes
    .filter((n) => n.metadata.name !== self)
    .map(peerFromNode)
    .filter((p): p is Peer => !!p)
    .sort((x, y) => x.name.localeCompare(y.name));
}
