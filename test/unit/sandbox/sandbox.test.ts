import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parse } from "yaml";
import { nodeIP, nodePodCIDR } from "../../../src/sandbox/network.js";
import { validName } from "../../../src/sandbox/state.js";
import { hostKubeconfig, nodeConflist } from "../../../src/sandbox/up.js";

const node = {
  name: "node2",
  ns: "pw-node2",
  ip: "198.18.0.2",
  podCIDR: "10.244.2.0/24",
  podNetnsPrefix: "pw-node2-",
  dir: "/x/nodes/node2",
};

describe("sandbox pieces", () => {
  it("node addresses come from 198.18.0.0/15, pod CIDRs from 10.244.0.0/16", () => {
    assert.equal(nodeIP(1), "198.18.0.1");
    assert.equal(nodeIP(300), "198.18.1.44");
    assert.equal(nodePodCIDR(3), "10.244.3.0/24");
  });
  it("names are short and plain (they become namespace and file names)", () => {
    assert.ok(validName("pw"));
    assert.ok(!validName("PW"));
    assert.ok(!validName("../x"));
    assert.ok(!validName("averyverylongname"));
  });
  it("host-gw conflist: podwire-cni with the node's fixed range, then portmap for hostPorts", () => {
    const c = nodeConflist(node, "host-gw") as { plugins: Record<string, unknown>[] };
    assert.equal(c.plugins[0]?.type, "podwire-cni");
    assert.deepEqual((c.plugins[0]?.ipam as { ranges?: unknown } | undefined)?.ranges, [[{ subnet: "10.244.2.0/24" }]]);
    assert.equal(c.plugins.length, 2);
    assert.equal(c.plugins[0]?.agentSocket, "/x/nodes/node2/cni.sock", "the plugin forwards to the agent's socket");
    assert.deepEqual(c.plugins[1], { type: "portmap", capabilities: { portMappings: true } });
  });
  it("vxlan conflist: names the overlay's subnet.env and uses the VXLAN MTU", () => {
    const c = nodeConflist(node, "vxlan") as { plugins: Record<string, unknown>[] };
    assert.equal(c.plugins[0]?.subnetFile, "/x/nodes/node2/subnet.env");
    assert.equal(c.plugins[0]?.mtu, 1450);
  });
  it("host kubeconfig points at the loopback forwarder and still verifies the apiserver's IP SAN", () => {
    const admin =
      "apiVersion: v1\nkind: Config\nclusters:\n- name: podwire\n  cluster:\n    server: https://198.18.0.1:6443\n    certificate-authority-data: QUJD\nusers: []\ncontexts: []\n";
    const kc = parse(hostKubeconfig(admin, 40000, "198.18.0.1")) as { clusters: { cluster: Record<string, string> }[] };
    assert.equal(kc.clusters[0]?.cluster.server, "https://127.0.0.1:40000");
    assert.equal(kc.clusters[0]?.cluster["tls-server-name"], "198.18.0.1");
    assert.equal(kc.clusters[0]?.cluster["certificate-authority-data"], "QUJD");
  });
});
