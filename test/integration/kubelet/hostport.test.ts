/**
 * hostPort through the CNI chain, as in the sandbox: the kubelet (FakeClient API, real process runtime) wires
 * pods with podwire-cni + the reference portmap plugin (`capabilities: {portMappings: true}`), the plugins run
 * inside a test node namespace (nsenter wrap), and a second node reaches the pod at node-IP:hostPort (TCP and
 * UDP). Deleting the pod removes the DNAT rules (CNI DEL with the cached portMappings).
 */
import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { after, before, describe, it } from "node:test";
import type { Pod } from "../../../src/api/core.js";
import { ApiSource } from "../../../src/client/informer.js";
import { FakeClient } from "../../../src/client/fake.js";
import { CniPodNetwork } from "../../../src/kubelet/cni.js";
import { Kubelet } from "../../../src/kubelet/kubelet.js";
import type { Logger } from "../../../src/kubelet/podworker.js";
import { ProcessRuntime } from "../../../src/kubelet/runtime.js";
import { delNetnsByPrefix, listNetns, sysctl } from "../../../src/netlinux/netns.js";
import { Topology, type TopoNode } from "../../support/topology.js";

const quiet: Logger = { info() {}, warn() {}, error() {}, debug() {} };

async function until<T>(what: string, fn: () => T | undefined | false | Promise<T | undefined | false>, ms = 30_000) {
  const end = Date.now() + ms;
  let last: unknown;
  while (Date.now() < end) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ""}`);
}

describe("kubelet hostPort via the CNI portmap plugin", () => {
  let topo: Topology;
  let n1: TopoNode;
  let n2: TopoNode;
  let kubelet: Kubelet;
  let podNetnsPrefix = "";
  const fake = new FakeClient();
  const getPod = (name: string) => fake.peek<Pod>("Pod", "default", name);

  before(async () => {
    await Topology.sweepOrphans();
    topo = await Topology.create({ nodes: 2, tag: "khp" });
    [n1, n2] = topo.nodes as [TopoNode, TopoNode];
    podNetnsPrefix = `${topo.prefix}k`;
    await sysctl(n1.ns, "net.ipv4.ip_forward", "1");
    const confDir = join(n1.dir, "net.d");
    mkdirSync(confDir, { recursive: true });
    // The sandbox's chain (src/sandbox nodeConflist, host-gw flavour) plus portmap.
    writeFileSync(
      join(confDir, "10-podwire.conflist"),
      JSON.stringify({
        cniVersion: "1.0.0",
        name: "podwire",
        plugins: [
          {
            type: "podwire-cni",
            bridge: "cni0",
            mtu: 1500,
            isGateway: true,
            isDefaultGateway: true,
            hairpinMode: true,
            ipMasq: false,
            ipam: {
              type: "host-local",
              ranges: [[{ subnet: n1.podCidr }]],
              routes: [{ dst: "0.0.0.0/0" }],
              dataDir: join(n1.dir, "ipam"),
            },
          },
          { type: "portmap", capabilities: { portMappings: true } },
        ],
      }),
    );
    const network = new CniPodNetwork({
      confDir,
      binDirs: [resolve("bin"), "/usr/lib/cni"],
      cacheDir: join(n1.dir, "cni-cache"),
      wrap: ["nsenter", `--net=${n1.path}`, "--"],
    });
    kubelet = new Kubelet(
      {
        nodeName: "hp1",
        nodeIP: n1.ip,
        rootDir: join(n1.dir, "kubelet"),
        netnsPrefix: podNetnsPrefix,
        clusterDNS: ["10.96.0.10"],
        clusterDomain: "cluster.local",
        port: -1,
        heartbeatMs: 5000,
      },
      fake,
      new ApiSource(fake),
      new ProcessRuntime(),
      network,
      quiet,
    );
    await kubelet.start();
  });

  after(async () => {
    await kubelet?.stop(true);
    if (podNetnsPrefix) await delNetnsByPrefix(podNetnsPrefix);
    await topo?.destroy();
  });

  it("node-IP:hostPort reaches the pod (TCP and UDP) from another node and from the node itself", async () => {
    await fake.create({
      apiVersion: "v1",
      kind: "Pod",
      metadata: { namespace: "default", name: "hp", uid: "0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0" },
      spec: {
        nodeName: "hp1",
        terminationGracePeriodSeconds: 1,
        containers: [
          {
            name: "c",
            image: "netexec",
            args: ["--http-port=8080", "--udp-port=8081"],
            ports: [
              { containerPort: 8080, hostPort: 30080 },
              { containerPort: 8081, hostPort: 30081, protocol: "UDP" },
            ],
          },
        ],
      },
    } satisfies Pod);
    const podIP = await until("pod IP", () => getPod("hp")?.status?.podIP);
    assert.ok(podIP.startsWith("10.244.1."), `pod IP ${podIP} from the node's range`);
    const curl = (from: TopoNode, path: string) =>
      topo.exec(from, "curl", ["-s", "--max-time", "2", `http://${n1.ip}:30080${path}`], { check: false });
    const body = await until("TCP hostPort answers from node 2", async () => {
      const r = await curl(n2, "/hostname");
      return r.code === 0 && r.stdout;
    });
    assert.equal(body.trim(), "hp", "netexec /hostname through node-IP:hostPort");
    const client = await curl(n2, "/clientip");
    assert.equal(client.stdout.trim().split(":")[0], n2.ip, "DNAT keeps the client's address (no SNAT from outside)");
    const local = await until("TCP hostPort from the node itself (OUTPUT chain)", async () => {
      const r = await curl(n1, "/hostname");
      return r.code === 0 && r.stdout;
    });
    assert.equal(local.trim(), "hp");
    const udp = await until("UDP hostPort answers", async () => {
      const r = await topo.exec(n2, "sh", ["-c", `echo hostname | timeout 2 socat -T1 - UDP:${n1.ip}:30081`], {
        check: false,
      });
      return r.stdout.trim() || false;
    });
    assert.equal(udp, "hp", "netexec UDP hostname through node-IP:hostPort/udp");
    const nat = (await topo.exec(n1, "iptables-save", ["-t", "nat"])).stdout;
    assert.match(nat, new RegExp(`--to-destination ${podIP.replaceAll(".", "\\.")}:8080`), "DNAT to the pod");
  });

  it("deleting the pod removes its DNAT rules (DEL gets the cached portMappings)", async () => {
    await fake.delete("Pod", "default", "hp", { gracePeriodSeconds: 1 });
    await until("pod gone", () => !getPod("hp"));
    await until("pod netns removed", () => listNetns(podNetnsPrefix).length === 0);
    const nat = (await topo.exec(n1, "iptables-save", ["-t", "nat"])).stdout;
    assert.doesNotMatch(nat, /--dports 3008[01]/, "no hostPort rules left");
    const r = await topo.exec(n2, "curl", ["-s", "--max-time", "1", `http://${n1.ip}:30080/hostname`], {
      check: false,
    });
    assert.notEqual(r.code, 0, "the hostPort no longer answers");
  });
});
