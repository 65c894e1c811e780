/**
 * Offline rendering (`podwire proxy render`): objects as `kubectl get svc,endpointslices,nodes -A -o yaml` prints
 * them → the full-sync restore payload podwire would write on that node. Also home of the rule flags shared by
 * the render command and the daemon.
 */
import { hostname } from "node:os";
import type { EndpointSlice, KubeObject, Node, Service } from "../../src/api/index.js";
import { type Family, parseCIDR, parseIP } from "./ip.js";
import { nodeAddresses } from "./proxier.js";
import { type RenderOptions, type RenderResult, render } from "./render.js";

/** Rule-shaping flags, named like kube-proxy's. */
export interface ProxyRuleFlags {
  nodeName?: string;
  nodeIPs?: string[];
  clusterCIDRs?: string[];
  masqueradeBit?: number;
  masqueradeAll?: boolean;
  localhostNodePorts?: boolean;
  nodePortAddresses?: string[];
  ipFamily?: Family;
}

/** A flag value the caller got wrong (CLI: exit 2). */
export class ProxyFlagError extends Error {
  override name = "ProxyFlagError";
}

export function defaultNodeName(): string {
  return hostname().toLowerCase();
}

/** Checks flag values that render() would otherwise silently ignore. */
export function validateRuleFlags(f: ProxyRuleFlags): void {
  for (const ip of f.nodeIPs ?? []) if (!parseIP(ip)) throw new ProxyFlagError(`--node-ip: not an IP address: ${ip}`);
  for (const c of f.clusterCIDRs ?? []) if (!parseCIDR(c)) throw new ProxyFlagError(`--cluster-cidr: not a CIDR: ${c}`);
  for (const c of f.nodePortAddresses ?? [])
    if (c !== "primary" && !parseCIDR(c)) throw new ProxyFlagError(`--nodeport-addresses: not a CIDR: ${c}`);
  if (f.masqueradeBit !== undefined && (f.masqueradeBit < 0 || f.masqueradeBit > 31))
    throw new ProxyFlagError("--masquerade-bit must be within 0-31");
}

/** Node IPs: --node-ip if given, else the InternalIP/ExternalIP of the named Node object. */
export function resolveNodeIPs(f: ProxyRuleFlags, nodes: Node[]): string[] {
  if (f.nodeIPs?.length) return f.nodeIPs;
  const name = f.nodeName ?? defaultNodeName();
  return nodeAddresses(nodes.find((n) => n.metadata.name === name));
}

/** The proxier's family: --ip-family, else the family of the first node IP, else IPv4. */
export function resolveFamily(f: ProxyRuleFlags, nodeIPs: string[]): Family {
  if (f.ipFamily) return f.ipFamily;
  const first = nodeIPs.map((s) => parseIP(s)).find((p) => p !== null);
  return first?.family ?? "IPv4";
}

export function renderOptionsFromFlags(f: ProxyRuleFlags, family: Family): RenderOptions {
  return {
    ipFamily: family,
    clusterCIDRs: f.clusterCIDRs ?? [],
    masqueradeBit: f.masqueradeBit ?? 14,
    masqueradeAll: f.masqueradeAll ?? false,
    localhostNodePorts: f.localhostNodePorts ?? true,
    nodePortAddresses: f.nodePortAddresses ?? [],
  };
}

/** Renders the full-sync payload for a set of objects. */
export function renderFromObjects(objects: KubeObject[], f: ProxyRuleFlags): RenderResult {
  validateRuleFlags(f);
  const services = objects.filter((o): o is Service => o.kind === "Service");
  const endpointSlices = objects.filter((o): o is EndpointSlice => o.kind === "EndpointSlice");
  const nodes = objects.filter((o): o is Node => o.kind === "Node");
  const nodeName = f.nodeName ?? defaultNodeName();
  const ips = resolveNodeIPs(f, nodes);
  const family = resolveFamily(f, ips);
  const node = nodes.find((n) => n.metadata.name === nodeName);
  return render(
    { services, endpointSlices, node: { name: nodeName, ips, labels: node?.metadata.labels } },
    renderOptionsFromFlags(f, family),
  );
}
