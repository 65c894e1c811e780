/**
 * Numbered Service + EndpointSlice pairs for proxier sync tests and benches: service `s<i>` in namespace `b`
 * with one port "p" 80→8080, every `nodePortEvery`-th a NodePort, and a slice of `eps` ready endpoints on node1.
 */
import type { EndpointSlice, Service } from "../../src/api/index.js";

export function numberedService(i: number, nodePortEvery: number): Service {
  const nodePort = i % nodePortEvery === 0;
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: { name: `s${i}`, namespace: "b" },
    spec: {
      clusterIP: `10.96.1.${i}`,
      type: nodePort ? "NodePort" : "ClusterIP",
      selector: { a: "b" },
      ports: [{ name: "p", port: 80, targetPort: 8080, protocol: "TCP", ...(nodePort ? { nodePort: 30000 + i } : {}) }],
    },
  };
}

/** Endpoint j of service i is 10.244.(j + firstOctet).i. */
export function numberedSlice(i: number, eps: number, firstOctet = 0): EndpointSlice {
  return {
    apiVersion: "discovery.k8s.io/v1",
    kind: "EndpointSlice",
    metadata: { name: `s${i}-x`, namespace: "b", labels: { "kubernetes.io/service-name": `s${i}` } },
    addressType: "IPv4",
    endpoints: Array.from({ length: eps }, (_, j) => ({
      addresses: [`10.244.${j + firstOctet}.${i}`],
      nodeName: "node1",
      conditions: { ready: true },
    })),
    ports: [{ name: "p", port: 8080, protocol: "TCP" }],
  };
}
