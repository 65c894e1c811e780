/**
 * Which UDP conntrack entries go stale between two synced states (kube-proxy's old
 * `deleteUDPEndpointConnections` / stale-service logic, pkg/proxy/conntrack):
 *  - an endpoint that a UDP service port used and no longer uses: flows to each service IP (ClusterIP, external
 *    IPs, LB IPs) DNATed to it, and flows to the NodePort DNATed to it;
 *  - a UDP service port that goes from 0 to N usable endpoints: every flow to its IPs and NodePort (they were
 *    REJECTed and the conntrack entry would keep new packets from being DNATed);
 *  - a UDP service port that disappears: flows to its IPs and NodePort.
 * Pure: the sync loop hands the deletions to a Conntrack adapter.
 */
import type { ConntrackDeletion } from "../../src/netlinux/conntrack.js";
import { type EndpointInfo, type ServicePortInfo, categorizeEndpoints, portKey } from "../iptables/model.js";

/** The UDP part of one synced state, keyed by portKey. */
export interface UdpState {
  family: "IPv4" | "IPv6";
  ports: Map<string, { ips: string[]; nodePort: number; proto: string; endpoints: Set<string> }>;
}

export function udpStateOf(
  family: "IPv4" | "IPv6",
  servicePorts: ServicePortInfo[],
  endpoints: Map<string, EndpointInfo[]>,
): UdpState {
  const ports: UdpState["ports"] = new Map();
  for (const sp of servicePorts) {
    if (sp.protocol !== "udp") continue;
    const k = portKey(sp.name, sp.protocol);
    const c = categorizeEndpoints(endpoints.get(k) ?? [], sp);
    ports.set(k, {
      ips: [sp.clusterIP, ...sp.externalIPs, ...sp.loadBalancerVIPs],
      nodePort: sp.nodePort,
      proto: sp.protocol,
      endpoints: new Set(c.allReachableEndpoints.map((e) => e.ip)),
    });
  }
  return { family, ports };
}

/** The deletions needed after moving from `prev` to `next` (deduplicated, deterministic order). */
export function staleConntrackEntries(prev: UdpState | undefined, next: UdpState): ConntrackDeletion[] {
  const out = new Map<string, ConntrackDeletion>();
  const add = (d: ConntrackDeletion) => out.set(JSON.stringify(d), d);
  const allFlows = (p: { ips: string[]; nodePort: number; proto: string }) => {
    for (const ip of p.ips) add({ kind: "ip", ip, proto: p.proto });
    if (p.nodePort) add({ kind: "port", port: p.nodePort, proto: p.proto, family: next.family });
  };
  for (const [k, n] of next.ports) {
    const p = prev?.ports.get(k);
    if (!prev) continue; // first sync: nothing is known to be stale (a restart may keep valid flows)
    if (!p || p.endpoints.size === 0) {
      if (n.endpoints.size > 0) allFlows(n);
      continue;
    }
    for (const ep of p.endpoints) {
      if (n.endpoints.has(ep)) continue;
      for (const ip of p.ips) add({ kind: "nat", origin: ip, dest: ep, proto: p.proto });
      if (p.nodePort) add({ kind: "portnat", port: p.nodePort, dest: ep, proto: p.proto });
    }
  }
  if (prev) for (const [k, p] of prev.ports) if (!next.ports.has(k)) allFlows(p);
  return [...out.values()];
}
