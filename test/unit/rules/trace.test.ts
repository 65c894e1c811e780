import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { withKubeProxyHooks } from "../../../proxier/rules/hooks.js";
import { parseRules } from "../../../proxier/rules/parse.js";
import { tracePacket } from "../../../proxier/rules/trace.js";
import { KERNEL_SAVE_NFT } from "./kernel-dumps.js";
import {
  KUBE_PROXY_HOOKS,
  KUBE_PROXY_NODE_IPS,
  KUBE_PROXY_OVERALL,
  KUBE_PROXY_PACKET_FLOWS,
} from "./kube-proxy-fixtures.js";

/**
 * kube-proxy's tracer joins DNAT destinations and ACCEPT/DROP/REJECT into one string; ours reports targets and a
 * verdict. Ours also evaluates `-m mark` (kube-proxy's never matches it), so a masqueraded DNAT packet that
 * KUBE-FORWARD accepts has verdict ACCEPT where kube-proxy prints only the destination.
 */
function kubeOutput(r: ReturnType<typeof tracePacket>): string {
  if (r.verdict === "DROP" || r.verdict === "REJECT") return r.verdict;
  if (r.targets.length) return r.targets.join(", ");
  return r.verdict === "ACCEPT" ? "ACCEPT" : "";
}

describe("packet tracer", () => {
  const payload = parseRules(KUBE_PROXY_OVERALL);
  const variants: [string, ReturnType<typeof parseRules>][] = [
    ["kube-proxy payload + withKubeProxyHooks", withKubeProxyHooks(payload)],
    ["kube-proxy payload + TestTracePacket's hook rules", parseRules(KUBE_PROXY_HOOKS + KUBE_PROXY_OVERALL)],
    ["kernel print-back + hooks", withKubeProxyHooks(parseRules(KERNEL_SAVE_NFT))],
  ];
  for (const [label, dump] of variants) {
    for (const tc of KUBE_PROXY_PACKET_FLOWS) {
      it(`${label}: kube-proxy TestTracePacket "${tc.name}"`, () => {
        const r = tracePacket(
          dump,
          { src: tc.sourceIP, dst: tc.destIP, dport: tc.destPort },
          { nodeIPs: KUBE_PROXY_NODE_IPS },
        );
        assert.equal(kubeOutput(r), tc.output, JSON.stringify(r, null, 1));
        assert.equal(r.masquerade, tc.masq);
      });
    }
  }

  // Further flows on the same rules, following kube-proxy's documented semantics (reference §1.4).
  const more: {
    name: string;
    src: string;
    dst: string;
    dport: number;
    output?: boolean;
    targets: string[];
    verdict: string;
    masq: boolean;
  }[] = [
    {
      name: "LB source range allows 203.0.113.2",
      src: "203.0.113.2",
      dst: "5.6.7.8",
      dport: 80,
      targets: ["10.180.0.3:80"],
      verdict: "ACCEPT",
      masq: true,
    },
    {
      name: "LB source range blocks 203.0.113.130",
      src: "203.0.113.130",
      dst: "5.6.7.8",
      dport: 80,
      targets: [],
      verdict: "DROP",
      masq: false,
    },
    {
      name: "NodePort eTP=Cluster from outside is masqueraded",
      src: "203.0.113.2",
      dst: "192.168.0.2",
      dport: 3003,
      targets: ["10.180.0.3:80"],
      verdict: "ACCEPT",
      masq: true,
    },
    {
      name: "NodePort eTP=Local without local endpoints drops",
      src: "203.0.113.2",
      dst: "192.168.0.2",
      dport: 3001,
      targets: [],
      verdict: "DROP",
      masq: false,
    },
    {
      name: "ClusterIP from off-cluster source is masqueraded",
      src: "203.0.113.2",
      dst: "172.30.0.41",
      dport: 80,
      targets: ["10.180.0.1:80"],
      verdict: "ACCEPT",
      masq: true,
    },
    {
      name: "hairpin: endpoint to its own service is masqueraded",
      src: "10.180.0.1",
      dst: "172.30.0.41",
      dport: 80,
      targets: ["10.180.0.1:80"],
      verdict: "ACCEPT",
      masq: true,
    },
    {
      name: "wrong port does not match",
      src: "10.0.0.2",
      dst: "172.30.0.41",
      dport: 81,
      targets: [],
      verdict: "NONE",
      masq: false,
    },
    {
      name: "UDP does not match a TCP service",
      src: "10.0.0.2",
      dst: "172.30.0.41",
      dport: 80,
      targets: [],
      verdict: "NONE",
      masq: false,
    },
    {
      name: "locally generated to ClusterIP (nat OUTPUT) is masqueraded",
      src: "192.168.0.2",
      dst: "172.30.0.44",
      dport: 80,
      output: true,
      targets: ["10.180.0.4:80", "10.180.0.5:80"],
      verdict: "DNAT",
      masq: true,
    },
    {
      name: "external IP from outside goes through EXT",
      src: "203.0.113.2",
      dst: "192.168.99.33",
      dport: 80,
      targets: ["10.180.0.4:80", "10.180.0.5:80"],
      verdict: "ACCEPT",
      masq: true,
    },
  ];
  const dump = withKubeProxyHooks(payload);
  for (const tc of more) {
    it(`kube-proxy rules: ${tc.name}`, () => {
      const proto = tc.name.startsWith("UDP") ? "udp" : "tcp";
      const r = tracePacket(
        dump,
        { src: tc.src, dst: tc.dst, dport: tc.dport, proto },
        { nodeIPs: KUBE_PROXY_NODE_IPS, output: !!tc.output },
      );
      assert.deepEqual(r.targets, tc.targets, JSON.stringify(r, null, 1));
      assert.equal(r.verdict, tc.verdict);
      assert.equal(r.masquerade, tc.masq);
    });
  }

  it("a dump without hook rules is traced as written and says so", () => {
    const r = tracePacket(
      payload,
      { src: "10.0.0.2", dst: "172.30.0.41", dport: 80 },
      { nodeIPs: KUBE_PROXY_NODE_IPS },
    );
    assert.deepEqual(r.targets, []);
    assert.match(r.notes.join("\n"), /no rules in built-in chains/);
  });

  it("follows goto, RETURN, REDIRECT, SNAT and chain policies", () => {
    const d = parseRules(`*nat
:PREROUTING ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:A - [0:0]
:B - [0:0]
-A PREROUTING -p udp -g A
-A PREROUTING -p tcp -j B
-A A -s 10.0.0.0/8 -j RETURN
-A A -p udp -m multiport --dports 53,5353 -j REDIRECT --to-ports 1053
-A B -j DNAT --to-destination 10.1.1.1
-A POSTROUTING -d 10.1.1.1/32 -j SNAT --to-source 192.168.0.2
COMMIT
*filter
:FORWARD DROP [0:0]
:INPUT ACCEPT [0:0]
-A FORWARD -d 10.1.1.1/32 -p tcp --dport 22 -j ACCEPT
COMMIT
`);
    const o = { nodeIPs: ["192.168.0.2"] };
    const redirect = tracePacket(d, { src: "203.0.113.9", dst: "8.8.8.8", dport: 5353, proto: "udp" }, o);
    assert.deepEqual(redirect.targets, ["192.168.0.2:1053"]);
    assert.equal(redirect.verdict, "DNAT");
    const returned = tracePacket(d, { src: "10.0.0.9", dst: "8.8.8.8", dport: 53, proto: "udp" }, o);
    assert.deepEqual(returned.targets, []);
    assert.equal(returned.verdict, "DROP", "goto + RETURN skips the rest of PREROUTING; FORWARD policy DROP applies");
    const dnat = tracePacket(d, { src: "203.0.113.9", dst: "1.2.3.4", dport: 22 }, o);
    assert.deepEqual(dnat.targets, ["10.1.1.1:22"]);
    assert.equal(dnat.verdict, "ACCEPT");
    assert.equal(dnat.masquerade, true);
    const dropped = tracePacket(d, { src: "203.0.113.9", dst: "1.2.3.4", dport: 80 }, o);
    assert.equal(dropped.verdict, "DROP");
    assert.equal(dropped.masquerade, false, "a dropped packet never reaches POSTROUTING");
  });

  it("collects both branches of recent --rcheck and every statistic branch", () => {
    const d = parseRules(`*nat
:PREROUTING ACCEPT [0:0]
:S - [0:0]
:E1 - [0:0]
:E2 - [0:0]
:E3 - [0:0]
-A PREROUTING -d 10.96.0.1/32 -j S
-A S -m recent --name E3 --rcheck --seconds 10 --reap -j E3
-A S -m statistic --mode random --probability 0.5 -j E1
-A S -j E2
-A E1 -p tcp -j DNAT --to-destination 10.244.1.1:80
-A E2 -p tcp -j DNAT --to-destination 10.244.1.2:80
-A E3 -p tcp -j DNAT --to-destination [fd00::1]:80
COMMIT
`);
    const r = tracePacket(d, { src: "10.244.0.5", dst: "10.96.0.1", dport: 80 });
    assert.deepEqual(r.targets, ["[fd00::1]:80", "10.244.1.1:80", "10.244.1.2:80"]);
    const ranged = parseRules(
      "*nat\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -p udp -j DNAT --to-destination 10.0.0.1-10.0.0.9:5000-5010\nCOMMIT\n",
    );
    assert.deepEqual(tracePacket(ranged, { src: "1.1.1.1", dst: "2.2.2.2", dport: 53, proto: "udp" }).targets, [
      "10.0.0.1:5000",
    ]);
    assert.equal(r.outcomes.length, 3);
  });
});
