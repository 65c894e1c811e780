/** Synthetic objects for the proxier-scale benchmark: N services × 10 endpoints, one port each. */
import type { EndpointSlice, Service } from "../../../src/api/index.js";

export const EPS = 10;
export const NODE = "bench-node";

export function objects(n: number): { services: Service[]; slices: EndpointSlice[] } {
  const services: Service[] = [];
  const slices: EndpointSlice[] = [];
  for (let i = 0; i < n; i++) {
    services.push({
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: `svc-${i}`, namespace: `ns-${i % 50}` },
      spec: { clusterIP: `10.96.${(i >> 8) & 255}.${i & 255}`, ports: [{ name: "http", port: 80, protocol: "TCP" }] },
    });
    slices.push(slice(i, 0));
  }
  return { services, slices };
}

export function slice(i: number, gen: number): EndpointSlice {
  return {
    apiVersion: "discovery.k8s.io/v1",
    kind: "EndpointSlice",
    metadata: {
      name: `svc-${i}-abc`,
      namespace: `ns-${i % 50}`,
      labels: { "kubernetes.io/service-name": `svc-${i}` },
    },
    addressType: "IPv4",
    endpoints: Array.from({ length: EPS }, (_, j) => {
      const k = i * EPS + j + gen;
      return { addresses: [`10.${128 + ((k >> 16) & 63)}.${(k >> 8) & 255}.${k & 255}`], nodeName: `node-${k % 20}` };
    }),
    ports: [{ name: "http", port: 8080, protocol: "TCP" }],
  };
}
