/**
 * Generates the benchmark's two dumps with podwire's renderer: N services × M endpoints (kube-proxy's shape,
 * ~43 lines per service), and the same cluster after a small change (one endpoint removed, one service added).
 */
import type { EndpointSlice, Service } from "../../../src/api/index.js";
import { render } from "../../../proxier/iptables/render.js";

export interface Generated {
  old: string;
  new: string;
}

function cluster(nServices: number, nEndpoints: number) {
  const services: Service[] = [];
  const endpointSlices: EndpointSlice[] = [];
  for (let i = 0; i < nServices; i++) {
    const name = `svc-${i}`;
    services.push({
      apiVersion: "v1",
      kind: "Service",
      metadata: { namespace: `ns-${i % 50}`, name },
      spec: {
        type: "ClusterIP",
        clusterIP: `10.96.${(i >> 8) & 255}.${i & 255}`,
        ports: [{ name: "http", protocol: "TCP", port: 80, targetPort: 8080 }],
      },
    });
    endpointSlices.push({
      apiVersion: "discovery.k8s.io/v1",
      kind: "EndpointSlice",
      metadata: { namespace: `ns-${i % 50}`, name: `${name}-1`, labels: { "kubernetes.io/service-name": name } },
      addressType: "IPv4",
      endpoints: Array.from({ length: nEndpoints }, (_, k) => {
        const n = i * nEndpoints + k;
        return {
          addresses: [`10.${128 + ((n >> 16) & 63)}.${(n >> 8) & 255}.${n & 255}`],
          conditions: { ready: true },
          nodeName: "node-b",
        };
      }),
      ports: [{ name: "http", protocol: "TCP", port: 8080 }],
    });
  }
  return { services, endpointSlices, node: { name: "node-a", ips: ["192.168.0.2"] } };
}

export function generate(nServices: number, nEndpoints: number): Generated {
  const c = cluster(nServices, nEndpoints);
  const opts = { clusterCIDRs: ["10.128.0.0/10"] };
  const old = render(c, opts).payload;
  const c2 = cluster(nServices + 1, nEndpoints);
  const eps = c2.endpointSlices[7]!.endpoints!;
  eps.splice(3, 1);
  return { old, new: render(c2, opts).payload };
}
