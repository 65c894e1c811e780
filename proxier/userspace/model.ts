/**
 * The userspace proxier's view of the cluster: one entry per (service, port) with the addresses its portals
 * catch and the ready endpoints the load balancer spreads over. Pure: derived from Services + EndpointSlices.
 */
import { isIPv4 } from "node:net";
import type { EndpointSlice } from "../../src/api/apps.js";
import type { Node, Service } from "../../src/api/core.js";
import type { KubeObject } from "../../src/api/meta.js";

/** Input shared with the iptables renderer: Services, EndpointSlices and the node the proxy runs on. */
export interface UserspaceInput {
  services: Service[];
  endpointSlices: EndpointSlice[];
  /** Node name (for information only; the userspace mode has no topology-aware routing). */
  nodeName?: string;
  /** The node's IPs: the first one is the DNAT target of host portals when bound to 0.0.0.0. */
  nodeIPs?: string[];
  /** The iptables renderer's node info (ProxierInput.node); its ips are used when nodeIPs is absent. */
  node?: { name: string; ips: string[] };
}

/** The node IPs of an input in either shape (UserspaceInput.nodeIPs or ProxierInput.node.ips). */
export function nodeIPsOf(input: UserspaceInput): string[] {
  return input.nodeIPs && input.nodeIPs.length > 0 ? input.nodeIPs : (input.node?.ips ?? []);
}

export type PortalProtocol = "tcp" | "udp";

/** Default ClientIP affinity timeout (Kubernetes' ServiceAffinityClientIPDefaultSeconds). */
export const DEFAULT_AFFINITY_SECONDS = 10800;

export interface ServicePortInfo {
  /** `ns/svc:port` (`ns/svc` for an unnamed port) — kube-proxy's ServicePortName, used in comments and metrics. */
  name: string;
  /** Unique key: name + protocol. */
  key: string;
  protocol: PortalProtocol;
  clusterIP: string;
  port: number;
  /** 0 when none. */
  nodePort: number;
  externalIPs: string[];
  loadBalancerIPs: string[];
  /** ClientIP affinity timeout in seconds, or 0 when affinity is off. */
  affinitySeconds: number;
  /** Ready endpoints as `ip:port`, sorted (the load balancer shuffles them). */
  endpoints: string[];
}

/** Splits a bag of objects (an `--objects` file, an informer cache) into the proxier's input. */
export function inputFromObjects(
  objects: readonly KubeObject[],
  nodeName?: string,
  nodeIPs?: string[],
): UserspaceInput {
  const services = objects.filter((o): o is Service => o.kind === "Service");
  const endpointSlices = objects.filter((o): o is EndpointSlice => o.kind === "EndpointSlice");
  let ips = nodeIPs && nodeIPs.length > 0 ? nodeIPs : undefined;
  if (!ips && nodeName) {
    const node = objects.find((o): o is Node => o.kind === "Node" && o.metadata.name === nodeName);
    const addrs = node?.status?.addresses ?? [];
    ips = [
      ...addrs.filter((a) => a.type === "InternalIP").map((a) => a.address),
      ...addrs.filter((a) => a.type === "ExternalIP").map((a) => a.address),
    ];
  }
  return { services, endpointSlices, nodeName, nodeIPs: ips ?? [] };
}

function servicePortName(svc: Service, portName: string | undefined): string {
  const base = `${svc.metadata.namespace ?? "default"}/${svc.metadata.name}`;
  return portName ? `${base}:${portName}` : base;
}

/**
 * The service ports the userspace mode serves, sorted by key. Skips headless and ExternalName services,
 * non-IPv4 cluster IPs and SCTP (the userspace proxier never supported it).
 */
export function servicePorts(input: UserspaceInput): ServicePortInfo[] {
  const slicesBySvc = new Map<string, EndpointSlice[]>();
  for (const s of input.endpointSlices) {
    const svcName = s.metadata.labels?.["kubernetes.io/service-name"];
    if (!svcName || (s.addressType && s.addressType !== "IPv4")) continue;
    const k = `${s.metadata.namespace ?? "default"}/${svcName}`;
    const list = slicesBySvc.get(k) ?? [];
    list.push(s);
    slicesBySvc.set(k, list);
  }
  const out: ServicePortInfo[] = [];
  for (const svc of input.services) {
    const spec = svc.spec;
    if (!spec || spec.type === "ExternalName") continue;
    const clusterIP = spec.clusterIP ?? spec.clusterIPs?.[0];
    if (!clusterIP || clusterIP === "None" || !isIPv4(clusterIP)) continue;
    const affinitySeconds =
      spec.sessionAffinity === "ClientIP"
        ? (spec.sessionAffinityConfig?.clientIP?.timeoutSeconds ?? DEFAULT_AFFINITY_SECONDS)
        : 0;
    const lbIPs = (svc.status?.loadBalancer?.ingress ?? [])
      .filter((i) => i.ip && i.ipMode !== "Proxy" && isIPv4(i.ip))
      .map((i) => i.ip as string);
    const slices = slicesBySvc.get(`${svc.metadata.namespace ?? "default"}/${svc.metadata.name}`) ?? [];
    for (const p of spec.ports ?? []) {
      const proto = (p.protocol ?? "TCP").toLowerCase();
      if (proto !== "tcp" && proto !== "udp") continue;
      const name = servicePortName(svc, p.name);
      const eps = new Set<string>();
      for (const sl of slices) {
        const sp = (sl.ports ?? []).find(
          (x) => (x.name ?? "") === (p.name ?? "") && (x.protocol ?? "TCP").toLowerCase() === proto,
        );
        if (!sp || sp.port === undefined) continue;
        for (const ep of sl.endpoints ?? []) {
          if (ep.conditions?.ready === false) continue;
          const ip = ep.addresses?.[0];
          if (ip && isIPv4(ip)) eps.add(`${ip}:${sp.port}`);
        }
      }
      out.push({
        name,
        key: `${name}/${proto}`,
        protocol: proto,
        clusterIP,
        port: p.port,
        nodePort: spec.type === "NodePort" || spec.type === "LoadBalancer" ? (p.nodePort ?? 0) : 0,
        externalIPs: (spec.externalIPs ?? []).filter((ip) => isIPv4(ip)),
        loadBalancerIPs: spec.type === "LoadBalancer" ? lbIPs : [],
        affinitySeconds,
        endpoints: [...eps].sort(),
      });
    }
  }
  return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

/** Splits `ip:port` (IPv4). */
export function splitHostPort(ep: string): { host: string; port: number } {
  const i = ep.lastIndexOf(":");
  return { host: ep.slice(0, i), port: Number(ep.slice(i + 1)) };
}
