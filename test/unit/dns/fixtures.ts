/** Cluster objects for DNS tests: the spec's examples (kubernetes/dns docs/specification.md) and helpers. */
import type { EndpointSlice, KubeObject, Namespace, Pod, Service } from "../../../src/api/index.js";

export function namespace(name: string): Namespace {
  return { apiVersion: "v1", kind: "Namespace", metadata: { name } };
}

export function service(ns: string, name: string, spec: Service["spec"]): Service {
  return { apiVersion: "v1", kind: "Service", metadata: { name, namespace: ns }, spec };
}

export interface EpSpec {
  ip: string;
  hostname?: string;
  ready?: boolean;
}

export function slice(
  ns: string,
  svc: string,
  eps: EpSpec[],
  ports: { name?: string; port: number; protocol?: "TCP" | "UDP" }[],
  name = `${svc}-abc`,
): EndpointSlice {
  return {
    apiVersion: "discovery.k8s.io/v1",
    kind: "EndpointSlice",
    metadata: { name, namespace: ns, labels: { "kubernetes.io/service-name": svc } },
    addressType: eps[0]?.ip.includes(":") ? "IPv6" : "IPv4",
    ports: ports.map((p) => ({ ...p, protocol: p.protocol ?? "TCP" })),
    endpoints: eps.map((e) => ({
      addresses: [e.ip],
      ...(e.hostname ? { hostname: e.hostname } : {}),
      ...(e.ready === undefined ? {} : { conditions: { ready: e.ready } }),
    })),
  };
}

export function pod(ns: string, name: string, ip: string, phase: "Running" | "Succeeded" = "Running"): Pod {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name, namespace: ns },
    spec: { containers: [] },
    status: { phase, podIP: ip, podIPs: [{ ip }] },
  };
}

/** The spec's example cluster (§2.3–2.5), plus a few objects for the negative cases. */
export function specObjects(): KubeObject[] {
  return [
    namespace("default"),
    namespace("empty-ns"),
    service("default", "kubernetes", {
      clusterIP: "10.3.0.1",
      clusterIPs: ["10.3.0.1"],
      ports: [
        { name: "https", port: 443, protocol: "TCP" },
        { port: 8080, protocol: "TCP" },
      ],
    }),
    service("default", "kubernetes6", {
      clusterIP: "2001:db8::1",
      clusterIPs: ["2001:db8::1"],
      ports: [{ name: "https", port: 443, protocol: "TCP" }],
    }),
    service("default", "headless", { clusterIP: "None", ports: [{ name: "https", port: 443, protocol: "TCP" }] }),
    slice(
      "default",
      "headless",
      [
        { ip: "10.3.0.100", hostname: "my-pet" },
        { ip: "10.3.0.2" },
        { ip: "10.3.0.3" },
        { ip: "10.3.0.99", ready: false },
      ],
      [{ name: "https", port: 443 }],
    ),
    service("default", "empty-headless", { clusterIP: "None", ports: [{ name: "http", port: 80 }] }),
    service("default", "notready", {
      clusterIP: "None",
      publishNotReadyAddresses: true,
      ports: [{ name: "http", port: 80 }],
    }),
    slice("default", "notready", [{ ip: "10.3.1.7", ready: false }], [{ name: "http", port: 80 }]),
    service("default", "foo", { type: "ExternalName", externalName: "www.example.com" }),
    service("default", "alias", { type: "ExternalName", externalName: "kubernetes.default.svc.cluster.local" }),
  ];
}
