import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { EndpointSlice, Service } from "../../../src/api/index.js";
import { computeProbability, masqueradeMarkFor, render } from "../../../proxier/iptables/render.js";
import {
  fakeProxierOptions,
  lb,
  makeTestEndpointSlice,
  makeTestService,
  node,
  testExternalClient,
  testExternalClientBlocked,
  testNodeIP,
  testNodeIPAlt,
  testNodeIPv6,
  testNodeIPv6Alt,
  testHostname,
} from "./fixtures.js";
import { applyToFake, chainLines, checkFlows } from "./support.js";

const p80 = [{ name: "p80", port: 80, protocol: "TCP" as const }];

function svc1(mutate: (s: Service) => void = () => {}) {
  return makeTestService("ns1", "svc1", (svc) => {
    svc.spec.clusterIP = "172.30.0.41";
    svc.spec.ports = [{ name: "p80", port: 80, protocol: "TCP" }];
    mutate(svc);
  });
}
function eps1(endpoints: EndpointSlice["endpoints"], ports = p80) {
  return makeTestEndpointSlice("ns1", "svc1", 1, (eps) => {
    eps.endpoints = endpoints;
    eps.ports = ports;
  });
}

describe("render: rule kinds (flows traced like kube-proxy's tests)", () => {
  it("no endpoints: REJECT for clusterIP, externalIP, NodePort and LB IP (TestNoEndpointsReject)", async () => {
    const { ipt } = await applyToFake(
      {
        services: [
          svc1((s) => {
            s.spec.type = "LoadBalancer";
            s.spec.externalIPs = ["192.168.99.11"];
            s.spec.ports = [{ name: "p80", port: 80, protocol: "TCP", nodePort: 3001 }];
            s.status = lb("1.2.3.4");
          }),
        ],
        endpointSlices: [],
        node: node(),
      },
      fakeProxierOptions(),
    );
    const errs = checkFlows(ipt, [
      { name: "pod to cluster IP", src: "10.0.0.2", dst: "172.30.0.41", dport: 80, output: "REJECT" },
      { name: "external to external IP", src: testExternalClient, dst: "192.168.99.11", dport: 80, output: "REJECT" },
      { name: "pod to NodePort", src: "10.0.0.2", dst: testNodeIP, dport: 3001, output: "REJECT" },
      { name: "external to NodePort", src: testExternalClient, dst: testNodeIP, dport: 3001, output: "REJECT" },
      { name: "pod to LB IP", src: "10.0.0.2", dst: "1.2.3.4", dport: 80, output: "REJECT" },
      { name: "external to LB IP", src: testExternalClient, dst: "1.2.3.4", dport: 80, output: "REJECT" },
    ]);
    assert.deepEqual(errs, []);
  });

  it("ClusterIP: hairpin masquerade, multiple ports and protocols, TargetPort (TestClusterIPGeneral)", async () => {
    const services = [
      makeTestService("ns1", "svc1", (s) => {
        s.spec.clusterIP = "172.30.0.41";
        s.spec.ports = [{ name: "http", port: 80, protocol: "TCP" }];
      }),
      makeTestService("ns2", "svc2", (s) => {
        s.spec.clusterIP = "172.30.0.42";
        s.spec.ports = [
          { name: "http", port: 80, protocol: "TCP" },
          { name: "https", port: 443, protocol: "TCP", targetPort: 8443 },
          { name: "dns-udp", port: 53, protocol: "UDP" },
          { name: "dns-tcp", port: 53, protocol: "TCP", targetPort: 5353 },
          { name: "dns-sctp", port: 53, protocol: "SCTP" },
        ];
      }),
    ];
    const endpointSlices = [
      makeTestEndpointSlice("ns1", "svc1", 1, (e) => {
        e.endpoints = [{ addresses: ["10.180.0.1"], nodeName: testHostname }];
        e.ports = [{ name: "http", port: 80, protocol: "TCP" }];
      }),
      makeTestEndpointSlice("ns2", "svc2", 1, (e) => {
        e.endpoints = [
          { addresses: ["10.180.0.1"], nodeName: testHostname },
          { addresses: ["10.180.2.1"], nodeName: "host2" },
        ];
        e.ports = [
          { name: "http", port: 80, protocol: "TCP" },
          { name: "https", port: 8443, protocol: "TCP" },
          { name: "dns-udp", port: 53, protocol: "UDP" },
          { name: "dns-tcp", port: 5353, protocol: "TCP" },
          { name: "dns-sctp", port: 53, protocol: "SCTP" },
        ];
      }),
    ];
    const { ipt } = await applyToFake({ services, endpointSlices, node: node() }, fakeProxierOptions());
    const errs = checkFlows(ipt, [
      { name: "simple clusterIP", src: "10.180.0.2", dst: "172.30.0.41", dport: 80, output: "10.180.0.1:80" },
      { name: "hairpin", src: "10.180.0.1", dst: "172.30.0.41", dport: 80, output: "10.180.0.1:80", masq: true },
      { name: "multi", src: "10.180.0.2", dst: "172.30.0.42", dport: 80, output: "10.180.0.1:80, 10.180.2.1:80" },
      {
        name: "target port",
        src: "10.180.0.2",
        dst: "172.30.0.42",
        dport: 443,
        output: "10.180.0.1:8443, 10.180.2.1:8443",
      },
      { name: "tcp", src: "10.180.0.2", dst: "172.30.0.42", dport: 53, output: "10.180.0.1:5353, 10.180.2.1:5353" },
      {
        name: "udp",
        src: "10.180.0.2",
        dst: "172.30.0.42",
        dport: 53,
        proto: "udp",
        output: "10.180.0.1:53, 10.180.2.1:53",
      },
      {
        name: "sctp",
        src: "10.180.0.2",
        dst: "172.30.0.42",
        dport: 53,
        proto: "sctp",
        output: "10.180.0.1:53, 10.180.2.1:53",
      },
      { name: "tcp port not udp", src: "10.180.0.2", dst: "172.30.0.42", dport: 80, proto: "udp", output: "" },
      { name: "other svc port", src: "10.180.0.2", dst: "172.30.0.41", dport: 443, output: "" },
      {
        name: "external client masqueraded",
        src: testExternalClient,
        dst: "172.30.0.41",
        dport: 80,
        output: "10.180.0.1:80",
        masq: true,
      },
    ]);
    assert.deepEqual(errs, []);
  });

  it("LoadBalancer with loadBalancerSourceRanges: KUBE-FW allows ranges and the node, NodePort bypasses (TestLoadBalancer)", async () => {
    const services = [
      svc1((s) => {
        s.spec.type = "LoadBalancer";
        s.spec.ports = [{ name: "p80", port: 80, protocol: "TCP", nodePort: 3001 }];
        s.status = { loadBalancer: { ingress: [{ ip: "1.2.3.4" }, { ip: "5.6.7.8" }] } };
        s.spec.loadBalancerSourceRanges = ["192.168.0.0/24", " 203.0.113.0/25"];
      }),
    ];
    const { ipt } = await applyToFake(
      { services, endpointSlices: [eps1([{ addresses: ["10.180.0.1"] }])], node: node() },
      fakeProxierOptions(),
    );
    const ep = "10.180.0.1:80";
    const errs = checkFlows(ipt, [
      { name: "pod to cluster IP", src: "10.0.0.2", dst: "172.30.0.41", dport: 80, output: ep },
      { name: "external to nodePort", src: testExternalClient, dst: testNodeIP, dport: 3001, output: ep, masq: true },
      {
        name: "nodePort bypasses ranges",
        src: testExternalClientBlocked,
        dst: testNodeIP,
        dport: 3001,
        output: ep,
        masq: true,
      },
      { name: "accepted to LB1", src: testExternalClient, dst: "1.2.3.4", dport: 80, output: ep, masq: true },
      { name: "accepted to LB2", src: testExternalClient, dst: "5.6.7.8", dport: 80, output: ep, masq: true },
      { name: "blocked to LB1", src: testExternalClientBlocked, dst: "1.2.3.4", dport: 80, output: "DROP" },
      { name: "blocked to LB2", src: testExternalClientBlocked, dst: "5.6.7.8", dport: 80, output: "DROP" },
      { name: "pod to LB1 blocked", src: "10.0.0.2", dst: "1.2.3.4", dport: 80, output: "DROP" },
      { name: "node to LB1 allowed", src: testNodeIP, dst: "1.2.3.4", dport: 80, output: ep, masq: true },
      { name: "LB1 SNAT implicitly allowed", src: "1.2.3.4", dst: "1.2.3.4", dport: 80, output: ep, masq: true },
      { name: "LB2 SNAT implicitly allowed", src: "5.6.7.8", dst: "5.6.7.8", dport: 80, output: ep, masq: true },
    ]);
    assert.deepEqual(errs, []);
  });

  for (const tc of [
    { name: "ipv4, localhost-nodeports enabled", family: "IPv4", lnp: true, npa: undefined, alt: true, fw: true },
    { name: "ipv4, localhost-nodeports disabled", family: "IPv4", lnp: false, npa: undefined, alt: true, fw: false },
    {
      name: "ipv4, localhost in nodeport-addresses but disabled",
      family: "IPv4",
      lnp: false,
      npa: ["192.168.0.0/24", "127.0.0.1/32"],
      alt: false,
      fw: false,
    },
    {
      name: "ipv4, multiple nodeport-addresses",
      family: "IPv4",
      lnp: false,
      npa: ["192.168.0.0/24", "192.168.1.0/24", "2001:db8::/64"],
      alt: true,
      fw: false,
    },
    { name: "ipv6, localhost-nodeports enabled", family: "IPv6", lnp: true, npa: undefined, alt: true, fw: false },
    {
      name: "ipv6, multiple nodeport-addresses",
      family: "IPv6",
      lnp: false,
      npa: ["192.168.0.0/24", "192.168.1.0/24", "2001:db8::/64"],
      alt: false,
      fw: false,
    },
  ] as const) {
    it(`NodePort: ${tc.name} (TestNodePorts)`, async () => {
      const v4 = tc.family === "IPv4";
      const [svcIP, ep1, ep2] = v4
        ? ["172.30.0.41", "10.180.0.1", "10.180.2.1"]
        : ["fd00:172:30::41", "fd00:10:180::1", "fd00:10:180::2:1"];
      const services = [
        svc1((s) => {
          s.spec.type = "NodePort";
          s.spec.clusterIP = svcIP;
          s.spec.ports = [{ name: "p80", port: 80, protocol: "TCP", nodePort: 3001 }];
        }),
      ];
      const slice = eps1([{ addresses: [ep1] }, { addresses: [ep2], nodeName: testHostname }]);
      slice.addressType = tc.family;
      const { ipt, result } = await applyToFake(
        { services, endpointSlices: [slice], node: node(v4 ? [testNodeIP] : [testNodeIPv6]) },
        fakeProxierOptions({
          ipFamily: tc.family,
          localhostNodePorts: tc.lnp,
          ...(tc.npa ? { nodePortAddresses: [...tc.npa] } : {}),
        }),
      );
      const [pod, ext, nip, alt, lo] = v4
        ? ["10.0.0.2", testExternalClient, testNodeIP, testNodeIPAlt, "127.0.0.1"]
        : ["fd00:10::2", "2600:5200::1", testNodeIPv6, testNodeIPv6Alt, "::1"];
      const j = (ip: string) => (v4 ? `${ip}:80` : `[${ip}]:80`);
      const out = `${j(ep1)}, ${j(ep2)}`;
      const errs = checkFlows(ipt, [
        { name: "pod to cluster IP", src: pod, dst: svcIP, dport: 80, output: out },
        { name: "external to nodePort", src: ext, dst: nip, dport: 3001, output: out, masq: true },
        { name: "node to nodePort", src: nip, dst: nip, dport: 3001, output: out, masq: true },
        v4 && tc.lnp
          ? { name: "localhost to nodePort", src: lo, dst: lo, dport: 3001, output: out, masq: true }
          : { name: "localhost to nodePort ignored", src: lo, dst: lo, dport: 3001, output: "" },
        tc.alt
          ? { name: "alt node IP", src: ext, dst: alt, dport: 3001, output: out, masq: true }
          : { name: "alt node IP ignored", src: ext, dst: alt, dport: 3001, output: "" },
      ]);
      assert.deepEqual(errs, []);
      assert.equal(chainLines(result.payload, "KUBE-FIREWALL").length, tc.fw ? 1 : 0, "KUBE-FIREWALL rule");
    });
  }
});

describe("render: rule text of each kind", () => {
  it("masquerade mark follows --masquerade-bit as Go's %#08x", () => {
    assert.equal(masqueradeMarkFor(14), "0x00004000");
    assert.equal(masqueradeMarkFor(0), "0x00000001");
    const r = render({ services: [], endpointSlices: [], node: node() }, { masqueradeBit: 15 });
    assert.ok(r.payload.includes("-A KUBE-MARK-MASQ -j MARK --or-mark 0x00008000\n"));
    assert.ok(r.payload.includes("-A KUBE-POSTROUTING -m mark ! --mark 0x00008000/0x00008000 -j RETURN\n"));
  });

  it("probabilities are %0.10f of 1/n (TestComputeProbability)", () => {
    assert.equal(computeProbability(1), "1.0000000000");
    assert.equal(computeProbability(2), "0.5000000000");
    assert.equal(computeProbability(10), "0.1000000000");
    assert.equal(computeProbability(100000), "0.0000100000");
    assert.equal(computeProbability(100001), "0.0000099999");
    assert.equal(computeProbability(3), "0.3333333333");
  });

  it("endpoint rules: 1/(n-i) probabilities, last unconditional, endpoints sorted as strings", () => {
    const ips = ["10.0.1.2", "10.0.1.10", "10.0.1.3"];
    const r = render(
      { services: [svc1()], endpointSlices: [eps1(ips.map((a) => ({ addresses: [a] })))], node: node() },
      fakeProxierOptions(),
    );
    const svc = chainLines(r.payload, "KUBE-SVC-XPGD46QRK7WJZT7O").slice(1);
    assert.equal(svc.length, 3);
    assert.match(
      svc[0]!,
      /"ns1\/svc1:p80 -> 10\.0\.1\.10:80" -m statistic --mode random --probability 0\.3333333333 -j KUBE-SEP-/,
    );
    assert.match(
      svc[1]!,
      /"ns1\/svc1:p80 -> 10\.0\.1\.2:80" -m statistic --mode random --probability 0\.5000000000 -j KUBE-SEP-/,
    );
    assert.match(svc[2]!, /"ns1\/svc1:p80 -> 10\.0\.1\.3:80" -j KUBE-SEP-/);
  });

  it("--masquerade-all masquerades every clusterIP flow; no cluster CIDR means no masquerade rule", () => {
    const input = { services: [svc1()], endpointSlices: [eps1([{ addresses: ["10.180.0.1"] }])], node: node() };
    const all = render(input, fakeProxierOptions({ masqueradeAll: true }));
    assert.deepEqual(
      chainLines(all.payload, "KUBE-SVC-XPGD46QRK7WJZT7O")[0],
      `-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 -j KUBE-MARK-MASQ`,
    );
    const none = render(input, fakeProxierOptions({ clusterCIDRs: [] }));
    assert.ok(!chainLines(none.payload, "KUBE-SVC-XPGD46QRK7WJZT7O").some((l) => l.includes("KUBE-MARK-MASQ")));
  });

  it("--random-fully is appended to MASQUERADE when supported", () => {
    const r = render({ services: [], endpointSlices: [], node: node() }, fakeProxierOptions({ randomFully: true }));
    assert.ok(
      r.payload.includes(`--comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully\n`),
    );
  });

  it("nf_conntrack_tcp_be_liberal drops the INVALID rule; nfacct absent drops -m nfacct", () => {
    const base = { services: [], endpointSlices: [], node: node() };
    assert.ok(!render(base, fakeProxierOptions({ conntrackTCPLiberal: true })).payload.includes("INVALID"));
    assert.ok(
      render(base, { masqueradeMark: "0x4000" }).payload.includes(
        "-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP\n",
      ),
    );
  });

  it("session affinity: recent --rcheck with the configured timeout, --set in the SEP chain", () => {
    const r = render(
      {
        services: [
          svc1((s) => {
            s.spec.sessionAffinity = "ClientIP";
            s.spec.sessionAffinityConfig = { clientIP: { timeoutSeconds: 77 } };
          }),
        ],
        endpointSlices: [eps1([{ addresses: ["10.180.0.1"] }, { addresses: ["10.180.0.2"] }])],
        node: node(),
      },
      fakeProxierOptions(),
    );
    const svc = chainLines(r.payload, "KUBE-SVC-XPGD46QRK7WJZT7O");
    assert.equal(
      svc.filter((l) => / -m recent --name (KUBE-SEP-\S+) --rcheck --seconds 77 --reap -j \1$/.test(l)).length,
      2,
    );
    assert.equal(
      r.payload.split("\n").filter((l) => / -m recent --name KUBE-SEP-\S+ --set -m tcp -p tcp -j DNAT/.test(l)).length,
      2,
    );
  });

  it("large-cluster mode (>1000 endpoints) drops comments on SEP and SVC->SEP rules only", () => {
    const endpoints = Array.from({ length: 1001 }, (_, i) => ({
      addresses: [`10.${Math.floor(i / 250)}.${i % 250}.1`],
    }));
    const r = render({ services: [svc1()], endpointSlices: [eps1(endpoints)], node: node() }, fakeProxierOptions());
    assert.equal(r.stats.largeClusterMode, true);
    const svc = chainLines(r.payload, "KUBE-SVC-XPGD46QRK7WJZT7O");
    assert.match(svc[0]!, /--comment "ns1\/svc1:p80 cluster IP"/);
    assert.ok(svc.slice(1).every((l) => !l.includes("--comment")));
    assert.ok(
      r.payload
        .split("\n")
        .filter((l) => l.startsWith("-A KUBE-SEP-"))
        .every((l) => !l.includes("--comment")),
    );
    const small = render(
      { services: [svc1()], endpointSlices: [eps1(endpoints.slice(0, 1000))], node: node() },
      fakeProxierOptions(),
    );
    assert.equal(small.stats.largeClusterMode, false);
  });

  it("ipMode: Proxy load-balancer ingress is ignored (TestLoadBalancerIngressRouteTypeProxy)", () => {
    const r = render(
      {
        services: [
          svc1((s) => {
            s.spec.type = "LoadBalancer";
            s.spec.ports = [{ name: "p80", port: 80, protocol: "TCP", nodePort: 3001 }];
            s.status = {
              loadBalancer: {
                ingress: [
                  { ip: "1.2.3.4", ipMode: "Proxy" },
                  { ip: "5.6.7.8", ipMode: "VIP" },
                ],
              },
            };
          }),
        ],
        endpointSlices: [eps1([{ addresses: ["10.180.0.1"] }])],
        node: node(),
      },
      fakeProxierOptions(),
    );
    assert.ok(!r.payload.includes("1.2.3.4"));
    assert.ok(r.payload.includes(`"ns1/svc1:p80 loadbalancer IP" -m tcp -p tcp -d 5.6.7.8 --dport 80 -j KUBE-EXT-`));
  });

  it("healthCheckNodePort: ACCEPT in filter KUBE-NODEPORTS even without endpoints, only for LB + eTP=Local", () => {
    const mk = (type: "LoadBalancer" | "NodePort") =>
      svc1((s) => {
        s.spec.type = type;
        s.spec.externalTrafficPolicy = "Local";
        s.spec.healthCheckNodePort = 30000;
        s.spec.ports = [{ name: "p80", port: 80, protocol: "TCP", nodePort: 3001 }];
      });
    const lbr = render({ services: [mk("LoadBalancer")], endpointSlices: [], node: node() }, fakeProxierOptions());
    assert.ok(
      lbr.payload.includes(
        `-A KUBE-NODEPORTS -m comment --comment "ns1/svc1:p80 health check node port" -m tcp -p tcp --dport 30000 -j ACCEPT\n`,
      ),
    );
    const np = render({ services: [mk("NodePort")], endpointSlices: [], node: node() }, fakeProxierOptions());
    assert.ok(!np.payload.includes("health check node port"));
  });

  it("internalTrafficPolicy Local: KUBE-SVL with local endpoints only; DROP when none are local", async () => {
    const services = [svc1((s) => (s.spec.internalTrafficPolicy = "Local"))];
    const local = await applyToFake(
      {
        services,
        endpointSlices: [
          eps1([
            { addresses: ["10.180.0.1"], nodeName: testHostname },
            { addresses: ["10.180.0.2"], nodeName: "other" },
          ]),
        ],
        node: node(),
      },
      fakeProxierOptions(),
    );
    assert.deepEqual(
      checkFlows(local.ipt, [
        { name: "local only", src: "10.0.0.2", dst: "172.30.0.41", dport: 80, output: "10.180.0.1:80" },
      ]),
      [],
    );
    assert.ok(local.result.payload.includes(":KUBE-SVL-XPGD46QRK7WJZT7O - [0:0]"));
    assert.ok(!local.result.payload.includes(":KUBE-SVC-XPGD46QRK7WJZT7O - [0:0]"));
    const remote = await applyToFake(
      { services, endpointSlices: [eps1([{ addresses: ["10.180.0.2"], nodeName: "other" }])], node: node() },
      fakeProxierOptions(),
    );
    assert.deepEqual(
      checkFlows(remote.ipt, [{ name: "no local", src: "10.0.0.2", dst: "172.30.0.41", dport: 80, output: "DROP" }]),
      [],
    );
    assert.ok(
      remote.result.payload.includes(
        `"ns1/svc1:p80 has no local endpoints" -m tcp -p tcp -d 172.30.0.41 --dport 80 -j DROP`,
      ),
    );
    assert.equal(remote.result.stats.noLocalEndpointsInternal, 1);
  });

  it("externalTrafficPolicy Local: external clients only reach local endpoints, unmasqueraded; pods and the node short-circuit", async () => {
    const services = [
      svc1((s) => {
        s.spec.type = "LoadBalancer";
        s.spec.externalTrafficPolicy = "Local";
        s.spec.externalIPs = ["192.168.99.11"];
        s.spec.ports = [{ name: "p80", port: 80, protocol: "TCP", nodePort: 3001 }];
        s.status = lb("1.2.3.4");
      }),
    ];
    const { ipt } = await applyToFake(
      {
        services,
        endpointSlices: [
          eps1([
            { addresses: ["10.180.0.1"], nodeName: testHostname },
            { addresses: ["10.180.2.1"], nodeName: "host2" },
          ]),
        ],
        node: node(),
      },
      fakeProxierOptions(),
    );
    const both = "10.180.0.1:80, 10.180.2.1:80";
    const errs = checkFlows(ipt, [
      {
        name: "external to LB: local only, no masq",
        src: testExternalClient,
        dst: "1.2.3.4",
        dport: 80,
        output: "10.180.0.1:80",
      },
      {
        name: "external to nodePort: local only",
        src: testExternalClient,
        dst: testNodeIP,
        dport: 3001,
        output: "10.180.0.1:80",
      },
      {
        name: "external to externalIP: local only",
        src: testExternalClient,
        dst: "192.168.99.11",
        dport: 80,
        output: "10.180.0.1:80",
      },
      { name: "pod to LB: cluster-wide", src: "10.0.0.2", dst: "1.2.3.4", dport: 80, output: both },
      { name: "node to LB: cluster-wide, masq", src: testNodeIP, dst: "1.2.3.4", dport: 80, output: both, masq: true },
    ]);
    assert.deepEqual(errs, []);
  });

  it("terminating endpoints: serving+terminating are used only when no ready endpoint exists", async () => {
    const services = [svc1()];
    const t = (ip: string, ready: boolean, serving: boolean, terminating: boolean) => ({
      addresses: [ip],
      conditions: { ready, serving, terminating },
    });
    const some = render(
      {
        services,
        endpointSlices: [eps1([t("10.0.1.1", true, true, false), t("10.0.1.2", false, true, true)])],
        node: node(),
      },
      fakeProxierOptions(),
    );
    assert.ok(some.payload.includes("--to-destination 10.0.1.1:80"));
    assert.ok(!some.payload.includes("--to-destination 10.0.1.2:80"));
    const onlyTerm = render(
      {
        services,
        endpointSlices: [eps1([t("10.0.1.2", false, true, true), t("10.0.1.3", false, false, true)])],
        node: node(),
      },
      fakeProxierOptions(),
    );
    assert.ok(onlyTerm.payload.includes("--to-destination 10.0.1.2:80"));
    assert.ok(!onlyTerm.payload.includes("--to-destination 10.0.1.3:80"), "not serving → never used");
  });

  it("bad IPs are normalised like Go's ParseIPSloppy (TestBadIPs)", () => {
    const r = render(
      {
        services: [svc1((s) => (s.spec.externalIPs = ["192.168.099.011"]))],
        endpointSlices: [eps1([{ addresses: ["10.180.00.001"] }])],
        node: node(),
      },
      fakeProxierOptions(),
    );
    assert.ok(r.payload.includes("--to-destination 10.180.0.1:80"));
    assert.ok(r.payload.includes("-d 192.168.99.11 --dport 80"));
  });

  it("headless, ExternalName and other-family services are skipped; unnamed ports hash as ns/name", () => {
    const r = render(
      {
        services: [
          makeTestService("ns", "headless", (s) => {
            s.spec.clusterIP = "None";
            s.spec.ports = [{ port: 80 }];
          }),
          makeTestService("ns", "ext", (s) => {
            s.spec.type = "ExternalName";
            s.spec.externalName = "example.com";
          }),
          makeTestService("ns", "v6", (s) => {
            s.spec.clusterIP = "fd00::1";
            s.spec.ports = [{ port: 80 }];
          }),
          makeTestService("ns", "plain", (s) => {
            s.spec.clusterIP = "172.30.0.9";
            s.spec.ports = [{ port: 80 }];
          }),
        ],
        endpointSlices: [],
        node: node(),
      },
      fakeProxierOptions(),
    );
    assert.equal(r.stats.servicePorts, 1);
    assert.ok(r.payload.includes(`--comment "ns/plain has no endpoints"`));
  });

  it("stale service chains the kernel still has are flushed and deleted", () => {
    const r = render(
      { services: [svc1()], endpointSlices: [eps1([{ addresses: ["10.180.0.1"] }])], node: node() },
      fakeProxierOptions({
        existingNatChains: [
          "KUBE-SVC-XPGD46QRK7WJZT7O",
          "KUBE-SVC-OLDOLDOLDOLDOLD1",
          "KUBE-SEP-GONEGONEGONEGONE",
          "MY-CHAIN",
        ],
      }),
    );
    assert.deepEqual(r.staleChains, ["KUBE-SEP-GONEGONEGONEGONE", "KUBE-SVC-OLDOLDOLDOLDOLD1"]);
    assert.ok(r.payload.includes(":KUBE-SVC-OLDOLDOLDOLDOLD1 - [0:0]\n"));
    assert.ok(r.payload.includes("-X KUBE-SVC-OLDOLDOLDOLDOLD1\n"));
    assert.ok(!r.payload.includes("MY-CHAIN"));
  });

  it("IPv6: ip6tables payload with [ip]:port endpoints, ::1 excluded from NodePorts, no KUBE-FIREWALL", () => {
    const s = svc1((x) => {
      x.spec.clusterIP = "fd00:172:30::41";
      x.spec.type = "NodePort";
      x.spec.ports = [{ name: "p80", port: 80, protocol: "TCP", nodePort: 3001 }];
    });
    const e = eps1([{ addresses: ["fd00:10:180::1"] }]);
    e.addressType = "IPv6";
    const r = render(
      { services: [s], endpointSlices: [e], node: node([testNodeIPv6]) },
      fakeProxierOptions({ ipFamily: "IPv6" }),
    );
    assert.ok(r.payload.includes("-j DNAT --to-destination [fd00:10:180::1]:80"));
    assert.ok(r.payload.includes("! -s fd00:10::/64 -j KUBE-MARK-MASQ"));
    assert.ok(r.payload.includes("-m addrtype --dst-type LOCAL ! -d ::1/128 -j KUBE-NODEPORTS"));
    assert.ok(!r.payload.includes("KUBE-FIREWALL"));
  });
});
