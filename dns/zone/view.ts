/**
 * The cluster zone view: a compact, read-only index built from Services, EndpointSlices, Namespaces and
 * (in `pods verified` mode) Pods. Pure: objects in, index out. Lookups (lookup.ts) parse the query name like
 * CoreDNS's parse.go and consult these maps; nothing is pre-expanded per name, so memory stays proportional to
 * the objects (about what CoreDNS keeps after stripping objects to minimal structs).
 */
import type { EndpointSlice, KubeObject, Namespace, Pod, Service } from "../../src/api/index.js";
import { canonicalIp, dashedIp, ipFromDashed } from "./ip.js";

export type PodsMode = "disabled" | "insecure" | "verified";

export interface ZoneOptions {
  /** Cluster domain, lower case, without trailing dot (`cluster.local`). */
  zone: string;
  /** TTL of cluster records and SOA minimum (CoreDNS `ttl`, default 5). */
  ttl: number;
  pods: PodsMode;
}

export interface PortEntry {
  /** Lower-case port name; empty for unnamed ports (which get no SRV under `_port._proto`). */
  name: string;
  /** Lower-case protocol (`tcp`, `udp`, `sctp`). */
  proto: string;
  port: number;
}

/** One ready endpoint address. Kept small: the label is derived (see endpointHost) unless a hostname is set. */
export interface EndpointEntry {
  ip: string;
  /** Lower-case `hostname` of the endpoint, when set. */
  hostname?: string;
  ports: readonly PortEntry[];
  svc: ServiceEntry;
}

export type ServiceKind = "clusterIP" | "headless" | "externalName";

export interface ServiceEntry {
  name: string;
  namespace: string;
  kind: ServiceKind;
  /** Canonical ClusterIPs (clusterIP services only). */
  ips: readonly string[];
  ports: readonly PortEntry[];
  externalName?: string;
  /** Ready endpoints (all endpoints when the service publishes not-ready addresses), de-duplicated by IP. */
  endpoints: readonly EndpointEntry[];
}

/** What a reverse (PTR) lookup of an IP finds: services by ClusterIP, else endpoints. */
export type ReverseTarget = ServiceEntry | EndpointEntry;

export interface ZoneView {
  readonly options: ZoneOptions;
  /** Namespaces that exist: Namespace objects plus any namespace holding a Service, EndpointSlice or Pod. */
  readonly namespaces: ReadonlySet<string>;
  /** Key `name.namespace`, lower case. */
  readonly services: ReadonlyMap<string, ServiceEntry>;
  /** Canonical IP → what it names: ClusterIP matches (services), else endpoints. See reverseNames(). */
  readonly reverse: ReadonlyMap<string, ReverseTarget | ReverseTarget[]>;
  /**
   * Canonical IP → namespace(s) of running pods with that IP (filled only in `pods verified` mode). Keyed by the
   * IP strings the informer already holds, so 50,000 pods cost no new strings.
   */
  readonly podIps: ReadonlyMap<string, string | string[]>;
  /** SOA serial: changes whenever the view is rebuilt from different objects. */
  readonly serial: number;
}

const lc = (s: string) => s.toLowerCase();

type RawPorts = readonly { name?: string | undefined; protocol?: string | undefined; port?: number }[];
const NO_PORTS: readonly PortEntry[] = Object.freeze([]);

/**
 * Port lists, shared: most services and their slices list the same few ports, so one frozen list per distinct
 * set serves them all (tens of thousands of small arrays less at cluster scale).
 */
function portsOf(ports: RawPorts | null | undefined, shared: Map<string, readonly PortEntry[]>): readonly PortEntry[] {
  if (!ports || ports.length === 0) return NO_PORTS;
  let key = "";
  for (const p of ports) key += `${p.name ?? ""}/${p.protocol ?? "TCP"}/${p.port}|`;
  const hit = shared.get(key);
  if (hit) return hit;
  const out: PortEntry[] = [];
  for (const p of ports) {
    if (typeof p.port !== "number") continue;
    out.push(Object.freeze({ name: lc(p.name ?? ""), proto: lc(p.protocol ?? "TCP"), port: p.port }));
  }
  const frozen = Object.freeze(out);
  shared.set(key, frozen);
  return frozen;
}

function isServiceObject(o: KubeObject): o is Service {
  return o.kind === "Service";
}
function isSlice(o: KubeObject): o is EndpointSlice {
  return o.kind === "EndpointSlice";
}
function isNamespace(o: KubeObject): o is Namespace {
  return o.kind === "Namespace";
}
function isPod(o: KubeObject): o is Pod {
  return o.kind === "Pod";
}

/** Builds the zone index from the current objects. Objects of other kinds are ignored. */
export function buildZoneView(objects: readonly KubeObject[], options: ZoneOptions, serial = 1): ZoneView {
  const namespaces = new Set<string>();
  const services = new Map<string, ServiceEntry>();
  const slicesBySvc = new Map<string, EndpointSlice[]>();
  const podIps = new Map<string, string | string[]>();
  const svcObjects: Service[] = [];
  const sharedPorts = new Map<string, readonly PortEntry[]>();

  for (const o of objects) {
    const ns = lc(o.metadata.namespace ?? "default");
    if (isNamespace(o)) {
      namespaces.add(lc(o.metadata.name ?? ""));
    } else if (isServiceObject(o)) {
      namespaces.add(ns);
      svcObjects.push(o);
    } else if (isSlice(o)) {
      namespaces.add(ns);
      const svc = o.metadata.labels?.["kubernetes.io/service-name"];
      if (!svc) continue;
      const key = `${lc(svc)}.${ns}`;
      const list = slicesBySvc.get(key);
      if (list) list.push(o);
      else slicesBySvc.set(key, [o]);
    } else if (isPod(o)) {
      namespaces.add(ns);
      if (options.pods !== "verified") continue;
      const phase = o.status?.phase;
      if (phase === "Succeeded" || phase === "Failed" || phase === "Unknown" || o.metadata.deletionTimestamp) continue;
      const ips = o.status?.podIPs?.map((p) => p.ip) ?? (o.status?.podIP ? [o.status.podIP] : []);
      for (const ip of ips) {
        const c = canonicalIp(ip);
        if (!c) continue;
        const had = podIps.get(c);
        if (had === undefined) podIps.set(c, ns);
        else if (Array.isArray(had)) {
          if (!had.includes(ns)) had.push(ns);
        } else if (had !== ns) podIps.set(c, [had, ns]);
      }
    }
  }

  const reverseSvc = new Map<string, ReverseTarget | ReverseTarget[]>();
  const reverseEp = new Map<string, ReverseTarget | ReverseTarget[]>();
  const push = (m: Map<string, ReverseTarget | ReverseTarget[]>, k: string, v: ReverseTarget) => {
    const l = m.get(k);
    if (l === undefined) m.set(k, v);
    else if (Array.isArray(l)) l.push(v);
    else m.set(k, [l, v]);
  };

  for (const s of svcObjects) {
    const name = lc(s.metadata.name ?? "");
    const ns = lc(s.metadata.namespace ?? "default");
    const key = `${name}.${ns}`;
    const spec = s.spec ?? {};
    let kind: ServiceKind;
    const ips: string[] = [];
    if (spec.type === "ExternalName") kind = "externalName";
    else kind = spec.clusterIP === "None" ? "headless" : "clusterIP";
    const endpoints: EndpointEntry[] = [];
    const entry: ServiceEntry = { name, namespace: ns, kind, ips, ports: portsOf(spec.ports, sharedPorts), endpoints };
    if (kind === "externalName" && spec.externalName) entry.externalName = spec.externalName.replace(/\.$/, "");
    if (kind === "clusterIP") {
      const raw = spec.clusterIPs?.length ? spec.clusterIPs : spec.clusterIP ? [spec.clusterIP] : [];
      for (const ip of raw) {
        const c = canonicalIp(ip);
        if (c && !ips.includes(c)) ips.push(c);
      }
      for (const ip of ips) push(reverseSvc, ip, entry);
    }
    if (kind !== "externalName") {
      const seen = new Set<string>();
      const publishNotReady = spec.publishNotReadyAddresses === true;
      for (const slice of slicesBySvc.get(key) ?? []) {
        if (slice.addressType === "FQDN") continue;
        const ports = portsOf(slice.ports, sharedPorts);
        for (const ep of slice.endpoints ?? []) {
          if (!publishNotReady && ep.conditions?.ready === false) continue;
          for (const addr of ep.addresses ?? []) {
            const ip = canonicalIp(addr);
            if (!ip || seen.has(ip)) continue;
            seen.add(ip);
            const e: EndpointEntry = { ip, ports, svc: entry };
            if (ep.hostname) e.hostname = lc(ep.hostname);
            endpoints.push(e);
            push(reverseEp, ip, e);
          }
        }
      }
    }
    services.set(key, entry);
  }

  // CoreDNS reverse.go: a ClusterIP match wins; only otherwise are endpoint IPs consulted.
  const reverse = reverseEp;
  for (const [ip, t] of reverseSvc) reverse.set(ip, t);

  return { options, namespaces, services, reverse, podIps, serial };
}

/** Whether a running pod in namespace `ns` has IP `ip` (`pods verified`). */
export function hasPodIp(view: ZoneView, ns: string, ip: string): boolean {
  const had = view.podIps.get(ip);
  return had === ns || (Array.isArray(had) && had.includes(ns));
}

/** An empty view (used before anything is known; lookups still need options). */
export function emptyZoneView(options: ZoneOptions): ZoneView {
  return buildZoneView([], options, 0);
}

/** The DNS label of an endpoint: its hostname, else its dashed IP (CoreDNS `endpointHostname()`). */
export function endpointHost(e: EndpointEntry): string {
  return e.hostname ?? dashedIp(e.ip);
}

/** The service's endpoints whose label is `label`. */
export function endpointsNamed(svc: ServiceEntry, label: string): EndpointEntry[] {
  const asIp = ipFromDashed(label);
  return svc.endpoints.filter((e) => (e.hostname === undefined ? e.ip === asIp : e.hostname === label));
}

/** `name.namespace.svc.zone` of a service. */
export function serviceFqdn(svc: ServiceEntry, zone: string): string {
  return `${svc.name}.${svc.namespace}.svc.${zone}`;
}

/** PTR targets of an IP (FQDNs without trailing dot), or undefined when it names nothing of ours. */
export function reverseNames(view: ZoneView, ip: string): string[] | undefined {
  const t = view.reverse.get(ip);
  if (t === undefined) return undefined;
  const zone = view.options.zone;
  const name = (x: ReverseTarget) =>
    "svc" in x ? `${endpointHost(x)}.${serviceFqdn(x.svc, zone)}` : serviceFqdn(x, zone);
  return [...new Set((Array.isArray(t) ? t : [t]).map(name))];
}
