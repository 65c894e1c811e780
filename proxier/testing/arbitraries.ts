/**
 * fast-check arbitraries for property-based tests of service rules: clusters of Services (every type, traffic
 * policy, session affinity, named/unnamed ports, TCP/UDP/SCTP) with their EndpointSlices (ready / serving /
 * terminating, on this node or another), and packets aimed at them. Address pools are options, so the same
 * arbitraries drive pure tests (any addresses) and kernel tests (addresses that exist in a test topology).
 */
import fc from "fast-check";
import type { EndpointSlice, Protocol, Service, ServiceType } from "../../src/api/index.js";
import type { Packet, Proto } from "../rules/trace.js";

/** What the arbitraries produce: the renderer's input. */
export interface Cluster {
  services: Service[];
  endpointSlices: EndpointSlice[];
  node: { name: string; ips: string[] };
}

export interface ClusterArbOptions {
  /** This node's name and addresses (default `node-a`, `192.168.0.2`). */
  nodeName?: string;
  nodeIPs?: string[];
  /** Other nodes that remote endpoints live on (default `node-b`). */
  otherNodes?: string[];
  maxServices?: number;
  maxPortsPerService?: number;
  maxEndpoints?: number;
  /** At least this many endpoints per service (default 0). */
  minEndpoints?: number;
  types?: ServiceType[];
  protocols?: Protocol[];
  /** ClusterIPs are `${serviceIPPrefix}.<i>` for service i (default `10.96.0`). */
  serviceIPPrefix?: string;
  /** Endpoint addresses to pick from (default: generated in 10.244.0.0/16). */
  endpointIPs?: string[];
  /** Endpoint (target) ports to pick from (default 80, 443, 8080, 9376). */
  targetPorts?: number[];
  externalIPs?: string[];
  loadBalancerIPs?: string[];
  sourceRanges?: string[];
  /** Allow sessionAffinity ClientIP (default true). */
  affinity?: boolean;
  /** Generate endpoint conditions other than ready (default true). */
  conditions?: boolean;
}

const NAMESPACES = ["default", "ns1", "kube-system"];
const SERVICE_NAMES = ["svc1", "svc2", "web", "dns", "api", "db", "cache", "queue"];
const PORT_NAMES = ["", "http", "https", "dns", "p80", "metrics"];

interface EndpointSpec {
  ip: string;
  local: boolean;
  ready: boolean | undefined;
  serving: boolean | undefined;
  terminating: boolean | undefined;
}

function endpointSpecArb(o: ClusterArbOptions): fc.Arbitrary<EndpointSpec> {
  const ip = o.endpointIPs?.length
    ? fc.constantFrom(...o.endpointIPs)
    : fc.tuple(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 1, max: 254 })).map(([a, b]) => `10.244.${a}.${b}`);
  const cond = (o.conditions ?? true) ? fc.option(fc.boolean(), { nil: undefined }) : fc.constant(undefined);
  return fc.record({ ip, local: fc.boolean(), ready: cond, serving: cond, terminating: cond });
}

const subset = (pool: string[] | undefined, max: number) =>
  pool?.length ? fc.subarray(pool, { maxLength: max }) : fc.constant<string[]>([]);

function serviceSpecArb(o: ClusterArbOptions) {
  const types = o.types ?? ["ClusterIP", "NodePort", "LoadBalancer", "ExternalName"];
  const protocols = o.protocols ?? ["TCP", "UDP", "SCTP"];
  const port = fc.record({
    name: fc.constantFrom(...PORT_NAMES),
    protocol: fc.constantFrom(...protocols),
    port: fc.constantFrom(80, 443, 53, 8080, 9000),
    targetPort: fc.constantFrom(...(o.targetPorts ?? [80, 443, 8080, 9376])),
  });
  return fc.record({
    namespace: fc.constantFrom(...NAMESPACES),
    name: fc.constantFrom(...SERVICE_NAMES),
    type: fc.constantFrom(...types),
    ports: fc.uniqueArray(port, { minLength: 1, maxLength: o.maxPortsPerService ?? 2, selector: (p) => p.name }),
    externalTrafficPolicy: fc.constantFrom<"Cluster" | "Local">("Cluster", "Local"),
    internalTrafficPolicy: fc.constantFrom<"Cluster" | "Local">("Cluster", "Local"),
    affinity: (o.affinity ?? true) ? fc.boolean() : fc.constant(false),
    affinityTimeout: fc.option(fc.integer({ min: 1, max: 86400 }), { nil: undefined }),
    externalIPs: subset(o.externalIPs, 1),
    loadBalancerIPs: subset(o.loadBalancerIPs, 1),
    sourceRanges: subset(o.sourceRanges, 2),
    endpoints: fc.array(endpointSpecArb(o), { minLength: o.minEndpoints ?? 0, maxLength: o.maxEndpoints ?? 4 }),
  });
}

/** A cluster: up to `maxServices` Services with one EndpointSlice each, unique names, ClusterIPs and NodePorts. */
export function clusterArb(o: ClusterArbOptions = {}): fc.Arbitrary<Cluster> {
  const nodeName = o.nodeName ?? "node-a";
  const others = o.otherNodes ?? ["node-b"];
  const prefix = o.serviceIPPrefix ?? "10.96.0";
  return fc
    .uniqueArray(serviceSpecArb(o), {
      maxLength: o.maxServices ?? 6,
      selector: (s) => `${s.namespace}/${s.name}`,
    })
    .map((specs) => {
      const services: Service[] = [];
      const endpointSlices: EndpointSlice[] = [];
      const usedExternal = new Set<string>();
      specs.forEach((s, i) => {
        // Kubernetes requires every port to be named when there are several, and port/protocol pairs to be unique.
        const ports = s.ports.map((p, j) => ({
          ...p,
          name: s.ports.length > 1 && p.name === "" ? `p${j}` : p.name,
          port: p.port + j,
          nodePort: s.type === "NodePort" || s.type === "LoadBalancer" ? 30000 + i * 10 + j : undefined,
        }));
        // One address can front one service port only in a well-formed cluster: drop reused external/LB IPs.
        const ext = s.externalIPs.filter((x) => !usedExternal.has(x));
        const lb =
          s.type === "LoadBalancer" ? s.loadBalancerIPs.filter((x) => !usedExternal.has(x) && !ext.includes(x)) : [];
        for (const x of [...ext, ...lb]) usedExternal.add(x);
        const svc: Service = {
          apiVersion: "v1",
          kind: "Service",
          metadata: { namespace: s.namespace, name: s.name },
          spec: {
            type: s.type,
            ...(s.type === "ExternalName" ? { externalName: "example.com" } : { clusterIP: `${prefix}.${i + 1}` }),
            ports: ports.map((p) => ({
              ...(p.name ? { name: p.name } : {}),
              protocol: p.protocol,
              port: p.port,
              targetPort: p.targetPort,
              ...(p.nodePort ? { nodePort: p.nodePort } : {}),
            })),
            ...(ext.length ? { externalIPs: ext } : {}),
            ...(s.type === "NodePort" || s.type === "LoadBalancer"
              ? { externalTrafficPolicy: s.externalTrafficPolicy }
              : {}),
            internalTrafficPolicy: s.internalTrafficPolicy,
            sessionAffinity: s.affinity ? "ClientIP" : "None",
            ...(s.affinity && s.affinityTimeout
              ? { sessionAffinityConfig: { clientIP: { timeoutSeconds: s.affinityTimeout } } }
              : {}),
            ...(s.type === "LoadBalancer" && s.sourceRanges.length ? { loadBalancerSourceRanges: s.sourceRanges } : {}),
            ...(s.type === "LoadBalancer" && s.externalTrafficPolicy === "Local"
              ? { healthCheckNodePort: 32000 + i }
              : {}),
          },
          ...(lb.length ? { status: { loadBalancer: { ingress: lb.map((ip) => ({ ip })) } } } : {}),
        };
        services.push(svc);
        const seen = new Set<string>();
        const eps = s.endpoints.filter((e) => !seen.has(e.ip) && seen.add(e.ip));
        endpointSlices.push({
          apiVersion: "discovery.k8s.io/v1",
          kind: "EndpointSlice",
          metadata: { namespace: s.namespace, name: `${s.name}-1`, labels: { "kubernetes.io/service-name": s.name } },
          addressType: "IPv4",
          endpoints: eps.map((e, k) => {
            const conditions: Record<string, boolean> = {};
            if (e.ready !== undefined) conditions.ready = e.ready;
            if (e.serving !== undefined) conditions.serving = e.serving;
            if (e.terminating !== undefined) conditions.terminating = e.terminating;
            return {
              addresses: [e.ip],
              conditions,
              nodeName: e.local ? nodeName : others[k % others.length]!,
            };
          }),
          ports: ports.map((p) => ({ ...(p.name ? { name: p.name } : {}), protocol: p.protocol, port: p.targetPort })),
        });
      });
      return { services, endpointSlices, node: { name: nodeName, ips: o.nodeIPs ?? ["192.168.0.2"] } };
    });
}

export interface PacketArbOptions {
  /** Source addresses to pick from (default: a pod, the node, an outside client). */
  sources?: string[];
  /** The node address a NodePort packet is sent to (default the cluster's first node IP). */
  nodeIP?: string;
  /** Weight of packets not aimed at any service (default 1 in 10). */
  strayWeight?: number;
}

/** A packet aimed at one of the cluster's ClusterIPs, external IPs, LB IPs or NodePorts — or (rarely) at nothing. */
export function packetArb(c: Cluster, o: PacketArbOptions = {}): fc.Arbitrary<Packet> {
  const sources = o.sources ?? ["10.244.0.5", c.node.ips[0] ?? "192.168.0.2", "203.0.113.2"];
  const nodeIP = o.nodeIP ?? c.node.ips[0] ?? "192.168.0.2";
  const dests: { dst: string; dport: number; proto: Proto }[] = [];
  for (const s of c.services) {
    if (!s.spec.clusterIP) continue;
    for (const p of s.spec.ports ?? []) {
      const proto = (p.protocol ?? "TCP").toLowerCase() as Proto;
      dests.push({ dst: s.spec.clusterIP, dport: p.port, proto });
      for (const ip of s.spec.externalIPs ?? []) dests.push({ dst: ip, dport: p.port, proto });
      for (const ing of s.status?.loadBalancer?.ingress ?? [])
        if (ing.ip) dests.push({ dst: ing.ip, dport: p.port, proto });
      if (p.nodePort) dests.push({ dst: nodeIP, dport: p.nodePort, proto });
    }
  }
  const src = fc.constantFrom(...sources);
  const stray = fc.record({
    src,
    dst: fc.integer({ min: 1, max: 254 }).map((n) => `10.96.9.${n}`),
    dport: fc.integer({ min: 1, max: 65535 }),
    proto: fc.constantFrom<Proto>("tcp", "udp"),
  });
  if (dests.length === 0) return stray;
  const aimed = fc.record({ src, d: fc.constantFrom(...dests) }).map(({ src, d }) => ({ src, ...d }));
  return fc.oneof(
    { arbitrary: aimed, weight: 10 - (o.strayWeight ?? 1) },
    { arbitrary: stray, weight: o.strayWeight ?? 1 },
  );
}

/** A cluster and a packet aimed at it. */
export function clusterAndPacketArb(o: ClusterArbOptions = {}, p: PacketArbOptions = {}) {
  return clusterArb(o).chain((cluster) => packetArb(cluster, p).map((packet) => ({ cluster, packet })));
}
