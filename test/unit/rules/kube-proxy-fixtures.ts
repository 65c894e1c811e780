import { overallExpected } from "../proxier/kube-cases.js";

/**
 * Conformance data: the restore payload kube-proxy's own unit test TestOverallIPTablesRules expects
 * (kubernetes/kubernetes pkg/proxy/iptables/proxier_test.go; 6 services: ClusterIP, LoadBalancer eTP=Local with an
 * external IP and no local endpoint, NodePort, external IP, LoadBalancer with source ranges + ClientIP affinity,
 * no-endpoints ClusterIP), in kube-proxy's canonical order. The rules are data only; hook rules (PREROUTING →
 * KUBE-SERVICES …) are not part of the payload, as in kube-proxy.
 */
export const KUBE_PROXY_OVERALL: string = overallExpected;

/**
 * The hook rules kube-proxy's fake iptables holds after a sync (kube-proxy ensures them with `iptables -I`, they are
 * not in the payload), in the unquoted form the fake stores; TestTracePacket's static rule set starts with them.
 */
export const KUBE_PROXY_HOOKS = `*filter
:INPUT - [0:0]
:FORWARD - [0:0]
:OUTPUT - [0:0]
-A INPUT -m comment --comment kubernetes health check service ports -j KUBE-NODEPORTS
-A INPUT -m conntrack --ctstate NEW -m comment --comment kubernetes externally-visible service portals -j KUBE-EXTERNAL-SERVICES
-A FORWARD -m comment --comment kubernetes forwarding rules -j KUBE-FORWARD
-A FORWARD -m conntrack --ctstate NEW -m comment --comment kubernetes service portals -j KUBE-SERVICES
-A FORWARD -m conntrack --ctstate NEW -m comment --comment kubernetes externally-visible service portals -j KUBE-EXTERNAL-SERVICES
-A OUTPUT -m conntrack --ctstate NEW -m comment --comment kubernetes service portals -j KUBE-SERVICES
COMMIT
*nat
:PREROUTING - [0:0]
:INPUT - [0:0]
:OUTPUT - [0:0]
:POSTROUTING - [0:0]
-A PREROUTING -m comment --comment kubernetes service portals -j KUBE-SERVICES
-A OUTPUT -m comment --comment kubernetes service portals -j KUBE-SERVICES
-A POSTROUTING -m comment --comment kubernetes postrouting rules -j KUBE-POSTROUTING
COMMIT
`;

/** Node IPs of kube-proxy's fake proxier (testNodeIPs). */
export const KUBE_PROXY_NODE_IPS = ["192.168.0.2", "192.168.1.2", "192.168.99.11", "2001:db8::1", "2001:db8:1::2"];

/**
 * kube-proxy's TestTracePacket cases (runPacketFlowTests): output is kube-proxy's joined result — DNAT destinations
 * or ACCEPT/DROP/REJECT — and masq whether KUBE-MARK-MASQ was hit.
 */
export const KUBE_PROXY_PACKET_FLOWS: {
  name: string;
  sourceIP: string;
  destIP: string;
  destPort: number;
  output: string;
  masq: boolean;
}[] = [
  { name: "no match", sourceIP: "10.0.0.2", destIP: "10.0.0.3", destPort: 80, output: "", masq: false },
  {
    name: "single endpoint",
    sourceIP: "10.0.0.2",
    destIP: "172.30.0.41",
    destPort: 80,
    output: "10.180.0.1:80",
    masq: false,
  },
  {
    name: "multiple endpoints",
    sourceIP: "10.0.0.2",
    destIP: "172.30.0.44",
    destPort: 80,
    output: "10.180.0.4:80, 10.180.0.5:80",
    masq: false,
  },
  {
    name: "LOCAL, KUBE-MARK-MASQ",
    sourceIP: "192.168.0.2",
    destIP: "192.168.99.22",
    destPort: 80,
    output: "10.180.0.2:80",
    masq: true,
  },
  { name: "DROP", sourceIP: "203.0.113.2", destIP: "192.168.99.22", destPort: 80, output: "DROP", masq: false },
  {
    name: "ACCEPT (NodePortHealthCheck)",
    sourceIP: "192.168.0.2",
    destIP: "192.168.0.2",
    destPort: 30000,
    output: "ACCEPT",
    masq: false,
  },
  { name: "REJECT", sourceIP: "10.0.0.2", destIP: "172.30.0.46", destPort: 80, output: "REJECT", masq: false },
];
