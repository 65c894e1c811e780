/**
 * Object builders mirroring kube-proxy's proxier_test.go helpers (makeTestService, makeTestEndpointSlice) and its
 * NewFakeProxier settings (node "test-hostname", node IP 192.168.0.2, pod CIDR 10.0.0.0/8, mark 0x4000,
 * localhostNodePorts, both nfacct counters present).
 */
import type { EndpointSlice, Service } from "../../../src/api/index.js";
import type { RenderOptions } from "../../../proxier/iptables/render.js";

export const testHostname = "test-hostname";
export const testNodeIP = "192.168.0.2";
export const testNodeIPAlt = "192.168.1.2";
export const testExternalIP = "192.168.99.11";
export const testNodeIPv6 = "2001:db8::1";
export const testNodeIPv6Alt = "2001:db8:1::2";
export const testExternalClient = "203.0.113.2";
export const testExternalClientBlocked = "203.0.113.130";
export const testNodeIPs = [testNodeIP, testNodeIPAlt, testExternalIP, testNodeIPv6, testNodeIPv6Alt];

export function fakeProxierOptions(extra: RenderOptions = {}): RenderOptions {
  const v6 = extra.ipFamily === "IPv6";
  return {
    ipFamily: "IPv4",
    clusterCIDRs: [v6 ? "fd00:10::/64" : "10.0.0.0/8"],
    masqueradeMark: "0x4000",
    localhostNodePorts: true,
    nfacct: { ctStateInvalidDropped: true, localhostNodePortsAccepted: true },
    localAddresses: ["127.0.0.1", "::1", ...testNodeIPs],
    ...extra,
  };
}

export function node(ips: string[] = v4NodeIPs()) {
  return { name: testHostname, ips };
}
function v4NodeIPs() {
  return [testNodeIP];
}

export function makeTestService(ns: string, name: string, mutate: (svc: Service) => void): Service {
  const svc: Service = {
    apiVersion: "v1",
    kind: "Service",
    metadata: { name, namespace: ns, annotations: {} },
    spec: {},
    status: {},
  };
  mutate(svc);
  return svc;
}

export function makeTestEndpointSlice(
  ns: string,
  name: string,
  sliceNum: number,
  mutate: (eps: EndpointSlice) => void,
): EndpointSlice {
  const eps: EndpointSlice = {
    apiVersion: "discovery.k8s.io/v1",
    kind: "EndpointSlice",
    metadata: { name: `${name}-${sliceNum}`, namespace: ns, labels: { "kubernetes.io/service-name": name } },
    addressType: "IPv4",
    endpoints: [],
    ports: [],
  };
  mutate(eps);
  return eps;
}

export function lb(ip: string) {
  return { loadBalancer: { ingress: [{ ip }] } };
}
