/**
 * From Kubernetes objects to kube-proxy's per-service-port view: which service ports exist for one IP family
 * (pkg/proxy/serviceport.go, servicechangetracker.go), which endpoints each has (endpointslicecache.go), and which
 * of them a node uses (topology.go `CategorizeEndpoints`). Pure; shared by the renderer, the sync loop (conntrack
 * cleanup, health checks) and tests.
 */
import type { EndpointSlice, Service } from "../../src/api/index.js";
import { endpointChainNameWithPrefix, portChainNames } from "./hash.js";
import { type Family, ipText, ipTextOf, joinHostPort, parseCIDR } from "./ip.js";

export type Proto = "tcp" | "udp" | "sctp";

/** One port of one Service, as seen by a proxier of one IP family. */
export interface ServicePortInfo {
  /** `ns/name:portName`, or `ns/name` for an unnamed port (svcPortName.String()). */
  name: string;
  /** `ns/name`: the unit of change tracking. */
  serviceKey: string;
  /** portKey(name, protocol): the key of this port's endpoints. */
  key: string;
  portName: string;
  protocol: Proto;
  clusterIP: string;
  port: number;
  /** 0 = none */
  nodePort: number;
  externalIPs: string[];
  /** status.loadBalancer.ingress IPs of this family, `ipMode: Proxy` excluded. */
  loadBalancerVIPs: string[];
  /** trimmed, family-filtered, normalised CIDRs. */
  loadBalancerSourceRanges: string[];
  /** 0 = none; only for type=LoadBalancer with externalTrafficPolicy=Local. */
  healthCheckNodePort: number;
  sessionAffinityClientIP: boolean;
  stickyMaxAgeSeconds: number;
  externalPolicyLocal: boolean;
  internalPolicyLocal: boolean;
  clusterChain: string;
  localChain: string;
  externalChain: string;
  firewallChain: string;
}

/** One endpoint of one service port. */
export interface EndpointInfo {
  ip: string;
  port: number;
  /** `ip:port` / `[ip]:port` */
  endpoint: string;
  isLocal: boolean;
  ready: boolean;
  serving: boolean;
  terminating: boolean;
  /** KUBE-SEP-<hash> */
  chain: string;
}

/** Map key joining a service port name and its protocol (kube's ServicePortName includes the protocol). */
export function portKey(name: string, protocol: Proto): string {
  return `${name}/${protocol}`;
}

export function externallyAccessible(sp: ServicePortInfo): boolean {
  return sp.nodePort !== 0 || sp.loadBalancerVIPs.length > 0 || sp.externalIPs.length > 0;
}
/** The port ever sends traffic to "Cluster" endpoints (also for eTP=Local short-circuiting). */
export function usesClusterEndpoints(sp: ServicePortInfo): boolean {
  return !sp.internalPolicyLocal || externallyAccessible(sp);
}
export function usesLocalEndpoints(sp: ServicePortInfo): boolean {
  return sp.internalPolicyLocal || (sp.externalPolicyLocal && externallyAccessible(sp));
}

function protoOf(p: string | undefined): Proto {
  return (p ?? "TCP").toLowerCase() as Proto;
}

/** service.Spec clusterIP for the family (proxyutil.GetClusterIPByFamily); "" when none. */
export function clusterIPForFamily(svc: Service, family: Family): string {
  const spec = svc.spec ?? {};
  if (!spec.ipFamilies || spec.ipFamilies.length === 0) {
    const ip = spec.clusterIP ?? "";
    if (ip === "" || ip === "None") return "";
    const p = ipText(ip);
    return p && p.family === family ? p.text : "";
  }
  const idx = spec.ipFamilies.indexOf(family);
  if (idx < 0) return "";
  const ips = spec.clusterIPs ?? (spec.clusterIP ? [spec.clusterIP] : []);
  const ip = ips[idx];
  if (!ip || ip === "None") return "";
  return ipText(ip)?.text ?? "";
}

function isExternallyAccessibleService(svc: Service): boolean {
  const type = svc.spec?.type ?? "ClusterIP";
  return (
    type === "LoadBalancer" || type === "NodePort" || (type === "ClusterIP" && (svc.spec?.externalIPs?.length ?? 0) > 0)
  );
}

/** Service ports a proxier of this family programs, keyed by portKey(). ExternalName and headless are skipped. */
export function servicePortsFromServices(services: Iterable<Service>, family: Family): Map<string, ServicePortInfo> {
  const out = new Map<string, ServicePortInfo>();
  for (const svc of services) {
    for (const sp of servicePortsOfService(svc, family)) out.set(sp.key, sp);
  }
  return out;
}

const servicePortCache = new WeakMap<Service, { family: Family; ports: ServicePortInfo[] }>();

/**
 * The ServicePortInfos of one Service (empty when the proxier skips it). Memoised per object: informers replace
 * objects on change, so an unchanged Service is not re-hashed on every sync. Callers must not mutate the result.
 */
export function servicePortsOfService(svc: Service, family: Family): ServicePortInfo[] {
  const hit = servicePortCache.get(svc);
  if (hit && hit.family === family) return hit.ports;
  const ports = computeServicePorts(svc, family);
  servicePortCache.set(svc, { family, ports });
  return ports;
}

function computeServicePorts(svc: Service, family: Family): ServicePortInfo[] {
  const spec = svc.spec;
  if (!spec || spec.type === "ExternalName") return [];
  const clusterIP = clusterIPForFamily(svc, family);
  if (clusterIP === "") return [];
  const ns = svc.metadata.namespace ?? "default";
  const serviceKey = `${ns}/${svc.metadata.name}`;
  const externalPolicyLocal = isExternallyAccessibleService(svc) && spec.externalTrafficPolicy === "Local";
  const internalPolicyLocal = spec.internalTrafficPolicy === "Local";
  const sessionAffinityClientIP = spec.sessionAffinity === "ClientIP";
  const stickyMaxAgeSeconds = sessionAffinityClientIP
    ? (spec.sessionAffinityConfig?.clientIP?.timeoutSeconds ?? 10800)
    : 0;
  const externalIPs: string[] = [];
  for (const e of spec.externalIPs ?? []) {
    const p = ipText(e);
    if (p && p.family === family) externalIPs.push(p.text);
  }
  const loadBalancerSourceRanges: string[] = [];
  for (const r of spec.loadBalancerSourceRanges ?? []) {
    const c = parseCIDR(r.trim());
    if (c && c.family === family) loadBalancerSourceRanges.push(c.text);
  }
  const loadBalancerVIPs: string[] = [];
  for (const ing of svc.status?.loadBalancer?.ingress ?? []) {
    if (!ing.ip || ing.ipMode === "Proxy") continue;
    const p = ipText(ing.ip);
    if (p && p.family === family) loadBalancerVIPs.push(p.text);
  }
  const needsHealthCheck = spec.type === "LoadBalancer" && externalPolicyLocal;
  const out: ServicePortInfo[] = [];
  for (const port of spec.ports ?? []) {
    const portName = port.name ?? "";
    const name = portName ? `${serviceKey}:${portName}` : serviceKey;
    const protocol = protoOf(port.protocol);
    // SVC/SVL/EXT/FW share one hash: computed once.
    const chains = portChainNames(name, protocol);
    out.push({
      name,
      serviceKey,
      key: portKey(name, protocol),
      portName,
      protocol,
      clusterIP,
      port: port.port,
      nodePort: port.nodePort ?? 0,
      externalIPs,
      loadBalancerVIPs,
      loadBalancerSourceRanges,
      healthCheckNodePort: needsHealthCheck ? (spec.healthCheckNodePort ?? 0) : 0,
      sessionAffinityClientIP,
      stickyMaxAgeSeconds,
      externalPolicyLocal,
      internalPolicyLocal,
      clusterChain: chains.cluster,
      localChain: chains.local,
      externalChain: chains.external,
      firewallChain: chains.firewall,
    });
  }
  return out;
}

/** `ns/name` of the Service an EndpointSlice belongs to, or null when it has no service-name label. */
export function sliceServiceKey(slice: EndpointSlice): string | null {
  const svc = slice.metadata.labels?.["kubernetes.io/service-name"];
  if (!svc) return null;
  return `${slice.metadata.namespace ?? "default"}/${svc}`;
}

/**
 * Endpoints per service port (portKey), deduplicated by `ip:port` (a local copy wins) and sorted by that string,
 * like kube-proxy's EndpointSliceCache. Endpoints of the other family are dropped.
 */
export function endpointsFromSlices(
  slices: Iterable<EndpointSlice>,
  family: Family,
  nodeName: string,
): Map<string, EndpointInfo[]> {
  // Each slice's lists come deduplicated and sorted (sliceEndpoints); a port fed by one slice — the common
  // case — uses that list as is. A port fed by several slices merges them in ns/name order of the slices with the
  // same rule (first copy stays, a local copy wins), so only those slices need sorting.
  const single = new Map<string, EndpointInfo[]>();
  let multi: Map<string, { k: string; eps: EndpointInfo[] }[]> | null = null;
  const firstOf = new Map<string, EndpointSlice>();
  for (const s of slices) {
    for (const [key, eps] of sliceEndpoints(s, family, nodeName)) {
      const more = multi?.get(key);
      if (more) {
        more.push({ k: sliceName(s), eps });
        continue;
      }
      const prev = single.get(key);
      if (!prev) {
        single.set(key, eps);
        firstOf.set(key, s);
        continue;
      }
      (multi ??= new Map()).set(key, [
        { k: sliceName(firstOf.get(key)!), eps: prev },
        { k: sliceName(s), eps },
      ]);
    }
  }
  if (multi) {
    for (const [key, contributors] of multi) {
      contributors.sort((a, b) => (a.k < b.k ? -1 : a.k > b.k ? 1 : 0)); // stable: equal names keep input order
      const m = new Map<string, EndpointInfo>();
      for (const c of contributors) mergeInto(m, c.eps);
      single.set(key, [...m.values()].sort(byEndpoint));
    }
  }
  return single;
}

function sliceName(s: EndpointSlice): string {
  return `${s.metadata.namespace ?? ""}/${s.metadata.name ?? ""}`;
}

function byEndpoint(a: EndpointInfo, b: EndpointInfo): number {
  return a.endpoint < b.endpoint ? -1 : a.endpoint > b.endpoint ? 1 : 0;
}

/** kube's dedup rule: an endpoint seen before is replaced only by a local copy. */
function mergeInto(set: Map<string, EndpointInfo>, eps: EndpointInfo[]): void {
  for (const e of eps) {
    if (!e.isLocal && set.has(e.endpoint)) continue;
    set.set(e.endpoint, e);
  }
}

const sliceCache = new WeakMap<
  EndpointSlice,
  { family: Family; nodeName: string; entries: [string, EndpointInfo[]][] }
>();

/**
 * One slice's endpoints per service port (chain names hashed), memoised per object like servicePortsOfService.
 * The change tracker calls it when an EndpointSlice event arrives, so a sync finds the model built. Callers must
 * not mutate the result.
 */
export function endpointsOfSlice(
  slice: EndpointSlice,
  family: Family,
  nodeName: string,
): readonly (readonly [string, readonly EndpointInfo[]])[] {
  return sliceEndpoints(slice, family, nodeName);
}

/** One slice's endpoints per service port, memoised per object (like sliceServiceKey, informers replace objects). */
function sliceEndpoints(slice: EndpointSlice, family: Family, nodeName: string): [string, EndpointInfo[]][] {
  const hit = sliceCache.get(slice);
  if (hit && hit.family === family && hit.nodeName === nodeName) return hit.entries;
  const entries: [string, EndpointInfo[]][] = [];
  const serviceKey = sliceServiceKey(slice);
  if (serviceKey && slice.addressType !== "FQDN") {
    for (const port of slice.ports ?? []) {
      if (!port?.port) continue;
      const portName = port.name ?? "";
      const name = portName ? `${serviceKey}:${portName}` : serviceKey;
      const protocol = protoOf(port.protocol);
      // Per port, not per endpoint: the hash input's prefix and the `:port` suffix.
      const portProto = name + protocol;
      const portText = String(port.port);
      let list: EndpointInfo[] = [];
      for (const ep of slice.endpoints ?? []) {
        if (!ep.addresses || ep.addresses.length === 0) continue;
        const ip = ipTextOf(ep.addresses[0]!, family);
        if (ip === null) continue;
        const c = ep.conditions;
        // Concatenated, not joined: no array per endpoint.
        const endpoint = family === "IPv4" ? ip + ":" + portText : joinHostPort(ip, port.port);
        list.push({
          ip,
          port: port.port,
          endpoint,
          isLocal: ep.nodeName !== undefined && ep.nodeName === nodeName,
          ready: c?.ready == null || c.ready === true,
          serving: c?.serving == null || c.serving === true,
          terminating: c?.terminating === true,
          chain: endpointChainNameWithPrefix(portProto, endpoint),
        });
      }
      if (!isSortedUnique(list)) list = sortDedup(list);
      entries.push([portKey(name, protocol), list]);
    }
  }
  sliceCache.set(slice, { family, nodeName, entries });
  return entries;
}

/**
 * Sorted by `ip:port`, one entry per `ip:port` chosen by kube's rule (the first copy, unless a later one is local:
 * the last local copy). The sort is stable, so copies stay in input order within their run.
 */
function sortDedup(list: EndpointInfo[]): EndpointInfo[] {
  const sorted = list.sort(byEndpoint); // in place: the list was just built for this
  if (isSortedUnique(sorted)) return sorted;
  const out: EndpointInfo[] = [];
  for (const e of sorted) {
    const last = out.length ? out[out.length - 1]! : undefined;
    if (last && last.endpoint === e.endpoint) {
      if (e.isLocal) out[out.length - 1] = e;
    } else out.push(e);
  }
  return out;
}

function isSortedUnique(list: EndpointInfo[]): boolean {
  for (let i = 1; i < list.length; i++) if (!(list[i - 1]!.endpoint < list[i]!.endpoint)) return false;
  return true;
}

function allReady(endpoints: EndpointInfo[]): boolean {
  for (const e of endpoints) if (!e.ready) return false;
  return true;
}

export interface CategorizedEndpoints {
  clusterEndpoints: EndpointInfo[];
  localEndpoints: EndpointInfo[];
  allReachableEndpoints: EndpointInfo[];
  hasAnyEndpoints: boolean;
}

/** kube-proxy's CategorizeEndpoints (without topology hints). */
export function categorizeEndpoints(endpoints: EndpointInfo[], sp: ServicePortInfo): CategorizedEndpoints {
  let clusterEndpoints: EndpointInfo[] = [];
  let localEndpoints: EndpointInfo[] = [];
  let hasAnyEndpoints = false;
  let useServingTerminating = false;
  if (usesClusterEndpoints(sp)) {
    // All ready (the usual case): the list itself, no copy (callers never mutate it).
    clusterEndpoints = allReady(endpoints) ? endpoints : endpoints.filter((e) => e.ready);
    if (clusterEndpoints.length === 0) clusterEndpoints = endpoints.filter((e) => e.serving && e.terminating);
    if (clusterEndpoints.length > 0) hasAnyEndpoints = true;
  }
  if (!usesLocalEndpoints(sp)) {
    return { clusterEndpoints, localEndpoints, allReachableEndpoints: clusterEndpoints, hasAnyEndpoints };
  }
  let hasLocalReady = false;
  let hasLocalServingTerminating = false;
  for (const e of endpoints) {
    if (e.ready) {
      hasAnyEndpoints = true;
      if (e.isLocal) hasLocalReady = true;
    } else if (e.serving && e.terminating) {
      hasAnyEndpoints = true;
      if (e.isLocal) hasLocalServingTerminating = true;
    }
  }
  if (hasLocalReady) localEndpoints = endpoints.filter((e) => e.isLocal && e.ready);
  else if (hasLocalServingTerminating) {
    useServingTerminating = true;
    localEndpoints = endpoints.filter((e) => e.isLocal && e.serving && e.terminating);
  }
  if (!usesClusterEndpoints(sp)) {
    return { clusterEndpoints, localEndpoints, allReachableEndpoints: localEndpoints, hasAnyEndpoints };
  }
  if (!useServingTerminating) {
    return { clusterEndpoints, localEndpoints, allReachableEndpoints: clusterEndpoints, hasAnyEndpoints };
  }
  const merged = new Map<string, EndpointInfo>();
  for (const e of clusterEndpoints) merged.set(e.endpoint, e);
  for (const e of localEndpoints) merged.set(e.endpoint, e);
  const allReachableEndpoints = [...merged.values()].sort((a, b) =>
    a.endpoint < b.endpoint ? -1 : a.endpoint > b.endpoint ? 1 : 0,
  );
  return { clusterEndpoints, localEndpoints, allReachableEndpoints, hasAnyEndpoints };
}
