/**
 * Pure decision logic of the EndpointSlice and Endpoints controllers: from a Service and the pods of its
 * namespace, the EndpointSlices (≤ 100 endpoints each, grouped by address type and resolved ports) and the
 * legacy Endpoints object that should exist, and the create/update/delete steps from what exists.
 */
import type {
  AddressType,
  Endpoint,
  EndpointAddress,
  EndpointPort,
  EndpointSlice,
  EndpointSlicePort,
  Endpoints,
  EndpointSubset,
  Node,
  Pod,
  Service,
  ServicePort,
} from "../api/index.js";
import { LabelManagedBy, LabelServiceName } from "../api/index.js";
import { ipFamily } from "../api/ip.js";
import { selectorFromMap } from "../api/selectors.js";
import { canonicalJson } from "../client/index.js";
import { fnv32a } from "./deployment.js";
import { isPodReady, isPodTerminal, ownerRef } from "./pods.js";

export const ManagedByController = "endpointslice-controller.k8s.io";
export const MaxEndpointsPerSlice = 100;
export const ZoneLabel = "topology.kubernetes.io/zone";

/** Whether the controllers manage endpoints for this Service at all (a selector, not ExternalName). */
export function managesEndpoints(svc: Service): boolean {
  return !!svc.spec.selector && svc.spec.type !== "ExternalName";
}

/** Pods the Service selects (same namespace, labels match the selector map). */
export function selectedPods(svc: Service, pods: readonly Pod[]): Pod[] {
  if (!managesEndpoints(svc)) return [];
  const sel = selectorFromMap(svc.spec.selector);
  return pods.filter((p) => p.metadata.namespace === svc.metadata.namespace && sel.matches(p.metadata.labels));
}

/**
 * The port a Service port targets on one pod: a number as is, a name looked up among the pod's container
 * ports of the same protocol (undefined when the pod has no such port: the pod then lacks that port).
 */
export function resolveTargetPort(sp: ServicePort, pod: Pod): number | undefined {
  const tp = sp.targetPort ?? sp.port;
  if (typeof tp === "number") return tp;
  if (/^\d+$/.test(tp)) return Number(tp);
  const proto = sp.protocol ?? "TCP";
  for (const c of [...(pod.spec.containers ?? []), ...(pod.spec.initContainers ?? [])])
    for (const p of c.ports ?? []) if (p.name === tp && (p.protocol ?? "TCP") === proto) return p.containerPort;
  return undefined;
}

function slicePorts(svc: Service, pod: Pod): EndpointSlicePort[] {
  const out: EndpointSlicePort[] = [];
  for (const sp of svc.spec.ports ?? []) {
    const port = resolveTargetPort(sp, pod);
    if (port === undefined) continue;
    const p: EndpointSlicePort = { name: sp.name ?? "", port, protocol: sp.protocol ?? "TCP" };
    if (sp.appProtocol) p.appProtocol = sp.appProtocol;
    out.push(p);
  }
  return out;
}

/** Pod IPs by family (status.podIPs, else status.podIP). */
function podIPs(pod: Pod): Map<AddressType, string> {
  const m = new Map<AddressType, string>();
  const ips = pod.status?.podIPs?.map((x) => x.ip) ?? (pod.status?.podIP ? [pod.status.podIP] : []);
  for (const ip of ips) {
    const f = ipFamily(ip);
    const t: AddressType | undefined = f === 4 ? "IPv4" : f === 6 ? "IPv6" : undefined;
    if (t && !m.has(t)) m.set(t, ip);
  }
  return m;
}

function serviceFamilies(svc: Service): AddressType[] {
  if (svc.spec.ipFamilies?.length) return [...svc.spec.ipFamilies];
  const ip = svc.spec.clusterIP;
  if (ip && ip !== "None" && ipFamily(ip) === 6) return ["IPv6"];
  return svc.spec.clusterIP === "None" ? ["IPv4", "IPv6"] : ["IPv4"];
}

/** Whether a pod is an endpoint at all (has an IP, is not finished). Terminating pods stay, marked so. */
function podEligible(pod: Pod): boolean {
  if (isPodTerminal(pod)) return false;
  return podIPs(pod).size > 0;
}

function shortHash(s: string): string {
  const alphabet = "bcdfghjklmnpqrstvwxz2456789";
  let n = fnv32a(s);
  let out = "";
  for (let i = 0; i < 5; i++) {
    out += alphabet[n % alphabet.length];
    n = Math.floor(n / alphabet.length);
  }
  return out;
}

export function sliceName(svcName: string, groupKey: string, index: number): string {
  return `${svcName.slice(0, 50)}-${shortHash(`${groupKey}/${index}`)}`;
}

function sliceFor(
  svc: Service,
  addressType: AddressType,
  ports: EndpointSlicePort[],
  endpoints: Endpoint[],
  name: string,
): EndpointSlice {
  return {
    apiVersion: "discovery.k8s.io/v1",
    kind: "EndpointSlice",
    metadata: {
      name,
      namespace: svc.metadata.namespace,
      labels: {
        ...(svc.metadata.labels ?? {}),
        [LabelServiceName]: svc.metadata.name ?? "",
        [LabelManagedBy]: ManagedByController,
      },
      ownerReferences: [{ ...ownerRef({ ...svc, apiVersion: "v1", kind: "Service" }) }],
    },
    addressType,
    endpoints,
    ports,
  };
}

/** The EndpointSlices that should exist for a Service (empty when it has no selector). */
export function desiredEndpointSlices(
  svc: Service,
  pods: readonly Pod[],
  nodes?: ReadonlyMap<string, Node>,
): EndpointSlice[] {
  if (!managesEndpoints(svc)) return [];
  const families = serviceFamilies(svc);
  const publish = svc.spec.publishNotReadyAddresses === true;
  const groups = new Map<string, { addressType: AddressType; ports: EndpointSlicePort[]; endpoints: Endpoint[] }>();
  const sorted = selectedPods(svc, pods)
    .filter(podEligible)
    .sort((a, b) => ((a.metadata.name ?? "") < (b.metadata.name ?? "") ? -1 : 1));
  for (const pod of sorted) {
    const ports = slicePorts(svc, pod);
    if ((svc.spec.ports?.length ?? 0) > 0 && ports.length === 0) continue;
    const terminating = !!pod.metadata.deletionTimestamp;
    const podReady = isPodReady(pod);
    const ips = podIPs(pod);
    for (const family of families) {
      const ip = ips.get(family);
      if (!ip) continue;
      const ep: Endpoint = {
        addresses: [ip],
        conditions: { ready: publish || (podReady && !terminating), serving: publish || podReady, terminating },
        targetRef: { kind: "Pod", namespace: pod.metadata.namespace, name: pod.metadata.name, uid: pod.metadata.uid },
      };
      if (pod.spec.nodeName) {
        ep.nodeName = pod.spec.nodeName;
        const zone = nodes?.get(pod.spec.nodeName)?.metadata.labels?.[ZoneLabel];
        if (zone) ep.zone = zone;
      }
      if (pod.spec.hostname && pod.spec.subdomain === svc.metadata.name) ep.hostname = pod.spec.hostname;
      const key = `${family}|${canonicalJson(ports)}`;
      let g = groups.get(key);
      if (!g) groups.set(key, (g = { addressType: family, ports, endpoints: [] }));
      g.endpoints.push(ep);
    }
  }
  const out: EndpointSlice[] = [];
  for (const [key, g] of [...groups].sort(([a], [b]) => (a < b ? -1 : 1))) {
    for (let i = 0; i * MaxEndpointsPerSlice < g.endpoints.length; i++) {
      const chunk = g.endpoints.slice(i * MaxEndpointsPerSlice, (i + 1) * MaxEndpointsPerSlice);
      out.push(sliceFor(svc, g.addressType, g.ports, chunk, sliceName(svc.metadata.name ?? "", key, i)));
    }
  }
  if (out.length === 0) {
    // Like Kubernetes: an empty placeholder slice, so consumers see "no endpoints" rather than "not yet synced".
    const family = families[0] ?? "IPv4";
    out.push(sliceFor(svc, family, [], [], sliceName(svc.metadata.name ?? "", `placeholder|${family}`, 0)));
  }
  return out;
}

/** Whether an EndpointSlice was made by this controller for the named Service. */
export function isManagedSlice(s: EndpointSlice, svcName?: string): boolean {
  const l = s.metadata.labels ?? {};
  return l[LabelManagedBy] === ManagedByController && (svcName === undefined || l[LabelServiceName] === svcName);
}

const sliceContent = (s: EndpointSlice) =>
  canonicalJson({
    labels: s.metadata.labels ?? {},
    owners: s.metadata.ownerReferences ?? [],
    addressType: s.addressType,
    endpoints: s.endpoints ?? [],
    ports: s.ports ?? [],
  });

export interface SliceChanges {
  create: EndpointSlice[];
  update: EndpointSlice[];
  delete: EndpointSlice[];
}

/** Steps from the existing managed slices of a Service to the desired ones (matched by name). */
export function reconcileSlices(desired: readonly EndpointSlice[], existing: readonly EndpointSlice[]): SliceChanges {
  const byName = new Map(existing.map((s) => [s.metadata.name ?? "", s]));
  const want = new Set(desired.map((s) => s.metadata.name ?? ""));
  const changes: SliceChanges = { create: [], update: [], delete: [] };
  for (const d of desired) {
    const cur = byName.get(d.metadata.name ?? "");
    if (!cur) changes.create.push(d);
    else if (cur.addressType !== d.addressType) {
      changes.delete.push(cur); // addressType is immutable
      changes.create.push(d);
    } else if (sliceContent(cur) !== sliceContent(d))
      changes.update.push({
        ...d,
        metadata: { ...cur.metadata, labels: d.metadata.labels, ownerReferences: d.metadata.ownerReferences },
      });
  }
  for (const e of existing) if (!want.has(e.metadata.name ?? "")) changes.delete.push(e);
  return changes;
}

// ---- legacy Endpoints ----------------------------------------------------------------------------

/** The Endpoints object for a Service (undefined when the Service has no selector). */
export function desiredEndpoints(svc: Service, pods: readonly Pod[]): Endpoints | undefined {
  if (!managesEndpoints(svc)) return undefined;
  const publish = svc.spec.publishNotReadyAddresses === true;
  const subsets = new Map<string, { ports: EndpointPort[]; ready: EndpointAddress[]; notReady: EndpointAddress[] }>();
  for (const pod of selectedPods(svc, pods)) {
    // The legacy object leaves terminating pods out (EndpointSlices carry them, marked).
    if (!podEligible(pod) || pod.metadata.deletionTimestamp) continue;
    const ports: EndpointPort[] = slicePorts(svc, pod).map((p) => {
      const ep: EndpointPort = { port: p.port ?? 0, protocol: p.protocol ?? "TCP" };
      if (p.name) ep.name = p.name;
      if (p.appProtocol) ep.appProtocol = p.appProtocol;
      return ep;
    });
    if ((svc.spec.ports?.length ?? 0) > 0 && ports.length === 0) continue;
    ports.sort((a, b) =>
      (a.name ?? "") < (b.name ?? "") ? -1 : (a.name ?? "") > (b.name ?? "") ? 1 : a.port - b.port,
    );
    const ips = podIPs(pod);
    const ip = ips.get("IPv4") ?? ips.get("IPv6");
    if (!ip) continue;
    const addr: EndpointAddress = {
      ip,
      targetRef: {
        kind: "Pod",
        namespace: pod.metadata.namespace,
        name: pod.metadata.name,
        uid: pod.metadata.uid,
      },
    };
    if (pod.spec.nodeName) addr.nodeName = pod.spec.nodeName;
    if (pod.spec.hostname && pod.spec.subdomain === svc.metadata.name) addr.hostname = pod.spec.hostname;
    const key = canonicalJson(ports);
    let s = subsets.get(key);
    if (!s) subsets.set(key, (s = { ports, ready: [], notReady: [] }));
    if (publish || isPodReady(pod)) s.ready.push(addr);
    else s.notReady.push(addr);
  }
  const byIP = (a: EndpointAddress, b: EndpointAddress) => (a.ip < b.ip ? -1 : a.ip > b.ip ? 1 : 0);
  const out: EndpointSubset[] = [...subsets.entries()]
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([, s]) => {
      const sub: EndpointSubset = {};
      if (s.ready.length) sub.addresses = s.ready.sort(byIP);
      if (s.notReady.length) sub.notReadyAddresses = s.notReady.sort(byIP);
      if (s.ports.length) sub.ports = s.ports;
      return sub;
    });
  const ep: Endpoints = {
    apiVersion: "v1",
    kind: "Endpoints",
    metadata: { name: svc.metadata.name, namespace: svc.metadata.namespace },
    subsets: out,
  };
  if (svc.metadata.labels) ep.metadata.labels = { ...svc.metadata.labels };
  return ep;
}

export function sameEndpoints(a: Endpoints, b: Endpoints): boolean {
  return (
    canonicalJson(a.subsets ?? []) === canonicalJson(b.subsets ?? []) &&
    canonicalJson(a.metadata.labels ?? {}) === canonicalJson(b.metadata.labels ?? {})
  );
}
