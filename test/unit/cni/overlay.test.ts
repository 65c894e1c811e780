import assert from "node:assert/strict";
import { test } from "node:test";
import { subnetEnvFor } from "../../../cni/overlay/agent.js";
import { chainMatches, desiredChains, hasJumpIn, normaliseRule, renderRules } from "../../../cni/overlay/masq.js";
import { ANN, peerFromNode, peersOf } from "../../../cni/overlay/peers.js";
import { derivedMac } from "../../../cni/overlay/vtep.js";
import { formatReply, parseRequest } from "../../../cni/plugin/server.js";
import type { Node } from "../../../src/api/index.js";

function node(name: string, ann: Record<string, string>, podCIDR?: string): Node {
  return { apiVersion: "v1", kind: "Node", metadata: { name, annotations: ann }, spec: podCIDR ? { podCIDR } : {} };
}
const good = {
  [ANN.kubeSubnetManager]: "true",
  [ANN.backendType]: "vxlan",
  [ANN.backendData]: '{"VNI":1,"VtepMAC":"AE:A6:00:00:00:01"}',
  [ANN.publicIp]: "198.18.0.2",
};

test("peers: flannel annotations → peer; nodes without kube-subnet-manager, MAC, IP or podCIDR are skipped", () => {
  assert.deepEqual(peerFromNode(node("b", good, "10.244.2.0/24")), {
    name: "b",
    subnet: "10.244.2.0/24",
    vtepIp: "10.244.2.0",
    mac: "ae:a6:00:00:00:01",
    publicIp: "198.18.0.2",
  });
  assert.equal(peerFromNode(node("b", { ...good, [ANN.kubeSubnetManager]: "false" }, "10.244.2.0/24")), undefined);
  assert.equal(peerFromNode(node("b", { ...good, [ANN.backendData]: "{}" }, "10.244.2.0/24")), undefined);
  assert.equal(peerFromNode(node("b", good)), undefined);
  assert.equal(
    peerFromNode(node("b", { ...good, [ANN.publicIpOverwrite]: "198.18.0.9" }, "10.244.2.0/24"))?.publicIp,
    "198.18.0.9",
  );
  assert.deepEqual(
    peersOf(
      [node("a", good, "10.244.1.0/24"), node("c", good, "10.244.3.0/24"), node("b", good, "10.244.2.0/24")],
      "a",
    ).map((p) => p.name),
    ["b", "c"],
  );
});

test("subnet.env in flannel's format: first address of the lease, network, MTU, masq flag", () => {
  assert.equal(
    subnetEnvFor("10.244.3.0/24", "10.244.0.0/16", 1450, true),
    "FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.3.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n",
  );
});

test("masquerade payload: own chains only, jumps only when missing, flannel's rule order", () => {
  const p = renderRules(
    { clusterCidr: "10.244.0.0/16", podCidr: "10.244.1.0/24", ipMasq: true, forwardRules: true },
    { nat: true, filter: false },
  );
  const lines = p.split("\n");
  assert.ok(lines.includes(":PODWIRE-POSTRTG - [0:0]"));
  assert.ok(lines.some((l) => l.startsWith("-I POSTROUTING 1 ") && l.endsWith("-j PODWIRE-POSTRTG")));
  assert.ok(!lines.some((l) => l.startsWith("-I FORWARD")));
  const masq = lines.filter((l) => l.startsWith("-A PODWIRE-POSTRTG"));
  assert.equal(masq.length, 6);
  assert.match(masq[0]!, /--mark 0x4000\/0x4000 .*RETURN/);
  assert.match(masq[4]!, /-s 10\.244\.0\.0\/16 ! -d 224\.0\.0\.0\/4 .*MASQUERADE --random-fully/);
  assert.ok(
    !/\*filter[\s\S]*-A (?!PODWIRE-FWD)/.test(p.split("*filter")[1] ?? ""),
    "filter table touches only our chain",
  );
  assert.equal(
    renderRules(
      { clusterCidr: "10.244.0.0/16", podCidr: "10.244.1.0/24", ipMasq: false, forwardRules: false },
      { nat: true, filter: true },
    ),
    "",
  );
});

test("masquerade resync compares the kernel's chain dump with the desired rules, quoting and spacing aside", () => {
  const [nat, fwd] = desiredChains({
    clusterCidr: "10.244.0.0/16",
    podCidr: "10.244.1.9/24",
    ipMasq: true,
    forwardRules: true,
  });
  assert.ok(nat && fwd);
  assert.ok(nat.rules[1]?.includes("-s 10.244.1.0/24 "), "pod CIDR canonical, as iptables prints it back");
  const dump = ["-N PODWIRE-POSTRTG", ...nat.rules.map((r) => `${r.replace(" -j ", "   -j ")}  `)].join("\n");
  assert.ok(chainMatches(`${dump}\n`, nat), "same rules, other spacing");
  assert.ok(!chainMatches(["-N PODWIRE-POSTRTG", ...nat.rules.slice(1)].join("\n"), nat), "one missing");
  assert.ok(!chainMatches(["-N PODWIRE-POSTRTG", ...[...nat.rules].reverse()].join("\n"), nat), "reordered");
  assert.ok(!chainMatches([...nat.rules, "-A PODWIRE-POSTRTG -j ACCEPT"].join("\n"), nat), "one extra");
  assert.ok(!chainMatches(fwd.rules.join("\n"), nat), "another chain's rules");
  assert.equal(normaliseRule('-A X -m comment --comment "a b"  -j Y'), "-A X -m comment --comment a b -j Y");
  assert.ok(hasJumpIn('-P FORWARD DROP\n-A FORWARD -m comment --comment "podwire forward" -j PODWIRE-FWD\n', fwd));
  assert.ok(!hasJumpIn("-P FORWARD DROP\n-A FORWARD -j PODWIRE-FWD-OTHER\n", fwd));
  assert.ok(!hasJumpIn("-A POSTROUTING -j PODWIRE-FWD\n", fwd), "a jump from another chain does not count");
});

test("socket protocol: header lines up to --, config verbatim; reply = code line + stdout", () => {
  const r = parseRequest('CNI_COMMAND=ADD\nCNI_NETNS=/run/netns/x\nCNI_ARGS=\nOTHER=1\n--\n{"a":"--\\n"}\n');
  assert.deepEqual(r.env, { CNI_COMMAND: "ADD", CNI_NETNS: "/run/netns/x" });
  assert.equal(r.stdin, '{"a":"--\\n"}\n');
  assert.equal(formatReply({ code: 1, stdout: '{"code":4}\n' }), '1\n{"code":4}\n');
});

test("derived VTEP MAC is stable, unicast and locally administered", () => {
  const m = derivedMac("node-1");
  assert.equal(m, derivedMac("node-1"));
  assert.notEqual(m, derivedMac("node-2"));
  const first = Number.parseInt(m.slice(0, 2), 16);
  assert.equal(first & 1, 0);
  assert.equal(first & 2, 2);
});

test("request lanes: one container's requests run in order; GC waits for everything in flight", async () => {
  const { RequestLanes } = await import("../../../cni/plugin/server.js");
  const lanes = new RequestLanes();
  const log: string[] = [];
  const slow = (tag: string, ms: number) => () =>
    new Promise<void>((r) =>
      setTimeout(() => {
        log.push(tag);
        r();
      }, ms),
    );
  const a1 = lanes.run({ CNI_COMMAND: "ADD", CNI_CONTAINERID: "a" }, slow("add-a", 40));
  const a2 = lanes.run({ CNI_COMMAND: "DEL", CNI_CONTAINERID: "a" }, slow("del-a", 1));
  const b = lanes.run({ CNI_COMMAND: "ADD", CNI_CONTAINERID: "b" }, slow("add-b", 5));
  const gc = lanes.run({ CNI_COMMAND: "GC" }, slow("gc", 1));
  await Promise.all([a1, a2, b, gc]);
  assert.deepEqual(log, ["add-b", "add-a", "del-a", "gc"]);
});
