/**
 * The tracer checked against the real kernel. fast-check generates clusters (services, endpoints, traffic
 * policies; affinity off) and a packet; podwire's renderer turns the cluster into kube-proxy's rules, which are
 * loaded (with kube-proxy's hook rules) into a throwaway node namespace. A real TCP or UDP probe is sent from a
 * client namespace (outside client, pod, or the node itself); the backend that answers reports who it is and
 * which source address it saw. The answer must be one of the tracer's targets with the same masquerade flag,
 * and no answer must come when the tracer says none can.
 *
 * Topology (all inside namespaces of this test): node N with forwarding on; client C 198.18.0.2 (N 198.18.0.1);
 * pod P 10.244.0.2 (N 10.244.0.1); backends B1..B4 at 10.244.i.2 (N 10.244.i.1), each serving TCP+UDP 80/8080.
 */
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { after, before, describe, it } from "node:test";
import { createInterface } from "node:readline";
import fc from "fast-check";
import { ip, runIn, spawnIn, sysctl } from "../../../src/netlinux/netns.js";
import { withKubeProxyHooks } from "../../../proxier/rules/hooks.js";
import { parseRules } from "../../../proxier/rules/parse.js";
import { type Cluster, clusterArb, render, trace } from "../../../proxier/testing/index.js";
import type { Packet } from "../../../proxier/rules/trace.js";
import { NetnsScope } from "../../support/netns.js";
import { runs } from "../../support/runs.js";

const BACKENDS = [1, 2, 3, 4].map((i) => `10.244.${i}.2`);
const NODE_IP = "198.18.0.1";
const NODE_ADDRS = [NODE_IP, "10.244.0.1", ...[1, 2, 3, 4].map((i) => `10.244.${i}.1`)];
const CLIENTS = { C: "198.18.0.2", P: "10.244.0.2", N: NODE_IP } as const;
type ClientName = keyof typeof CLIENTS;
const AGENT = new URL("./probe-agent.js", import.meta.url).pathname;
const isRoot = process.getuid?.() === 0;

class Client {
  private next = 1;
  private waiting = new Map<number, (r: string | null) => void>();
  constructor(readonly proc: ChildProcess) {
    createInterface({ input: proc.stdout! }).on("line", (l) => {
      const m = JSON.parse(l) as { id: number; reply: string | null };
      this.waiting.get(m.id)?.(m.reply);
      this.waiting.delete(m.id);
    });
  }
  probe(proto: string, dst: string, dport: number, timeoutMs: number): Promise<string | null> {
    const id = this.next++;
    return new Promise((resolve) => {
      this.waiting.set(id, resolve);
      this.proc.stdin!.write(`${JSON.stringify({ id, proto, dst, dport, timeoutMs })}\n`);
    });
  }
}

/** The payload plus kube-proxy's hook rules, as one flushing restore (each case starts from clean tables). */
function withHooks(payload: string): string {
  const hooked = withKubeProxyHooks(parseRules(payload));
  let text = payload;
  for (const table of ["filter", "nat"]) {
    const t = hooked.tables.get(table);
    if (!t) continue;
    const lines = [...t.chains.values()]
      .filter((c) => c.builtin)
      .flatMap((c) => [...c.rules].reverse().map((r) => r.raw));
    text = text.replace(new RegExp(`(\\*${table}\\n[\\s\\S]*?)COMMIT\\n`), `$1${lines.join("\n")}\nCOMMIT\n`);
  }
  return text;
}

describe("kernel-differential: the tracer predicts where real packets go", { skip: !isRoot && "needs root" }, () => {
  const scope = new NetnsScope("kd");
  const procs: ChildProcess[] = [];
  const clients = new Map<ClientName, Client>();
  let N = "";

  before(async () => {
    N = await scope.add("n");
    await sysctl(N, "net.ipv4.ip_forward", "1");
    const link = async (peerSuffix: string, nodeIf: string, nodeAddr: string, peerAddr: string, prefix: number) => {
      const peer = await scope.add(peerSuffix);
      await ip(N, "link", "add", nodeIf, "type", "veth", "peer", "name", "eth0", "netns", peer);
      await ip(N, "addr", "add", `${nodeAddr}/${prefix}`, "dev", nodeIf);
      await ip(N, "link", "set", nodeIf, "up");
      await ip(peer, "addr", "add", `${peerAddr}/${prefix}`, "dev", "eth0");
      await ip(peer, "link", "set", "eth0", "up");
      await ip(peer, "route", "add", "default", "via", nodeAddr);
      return peer;
    };
    const C = await link("c", "vc", "198.18.0.1", "198.18.0.2", 30);
    const P = await link("p", "vp", "10.244.0.1", "10.244.0.2", 24);
    // Locally generated packets to service IPs need a route before OUTPUT's DNAT; it leads to C, which drops them.
    await ip(N, "route", "add", "default", "via", "198.18.0.2");
    for (const [i, b] of BACKENDS.entries()) {
      const ns = await link(`b${i + 1}`, `vb${i + 1}`, `10.244.${i + 1}.1`, b, 24);
      const p = spawnIn(ns, process.execPath, [AGENT, "server", "80", "8080"], {
        env: { ...process.env, PROBE_IP: b },
        stdio: ["ignore", "pipe", "inherit"],
      });
      procs.push(p);
      await new Promise<void>((resolve, reject) => {
        p.once("exit", (c) => reject(new Error(`backend agent exited ${c}`)));
        createInterface({ input: p.stdout! }).once("line", () => resolve());
      });
    }
    for (const [name, ns] of [
      ["C", C],
      ["P", P],
      ["N", N],
    ] as const) {
      const p = spawnIn(ns, process.execPath, [AGENT, "client"], { stdio: ["pipe", "pipe", "inherit"] });
      procs.push(p);
      clients.set(name, new Client(p));
    }
  });

  after(async () => {
    for (const p of procs) p.kill();
    await scope.cleanup();
  });

  it(`${runs(1000, 200)} random clusters and packets: the answering backend is a traced target, masquerade matches`, async () => {
    const arb = clusterArb({
      nodeName: "node-a",
      nodeIPs: [NODE_IP],
      maxServices: 4,
      minEndpoints: 1,
      maxEndpoints: 3,
      types: ["ClusterIP", "NodePort", "LoadBalancer"],
      protocols: ["TCP", "UDP"],
      endpointIPs: BACKENDS,
      targetPorts: [80, 8080],
      externalIPs: ["198.19.20.1", "198.19.20.2"],
      loadBalancerIPs: ["198.19.10.1", "198.19.10.2"],
      sourceRanges: ["198.18.0.0/30", "10.244.0.0/24", "203.0.113.0/24"],
      affinity: false,
    }).chain((cluster: Cluster) => {
      const dests: Omit<Packet, "src">[] = [];
      for (const s of cluster.services)
        for (const p of s.spec.ports ?? []) {
          const proto = (p.protocol ?? "TCP").toLowerCase() as "tcp" | "udp";
          dests.push({ dst: s.spec.clusterIP!, dport: p.port, proto });
          for (const x of s.spec.externalIPs ?? []) dests.push({ dst: x, dport: p.port, proto });
          for (const g of s.status?.loadBalancer?.ingress ?? []) dests.push({ dst: g.ip!, dport: p.port, proto });
          if (p.nodePort) dests.push({ dst: NODE_IP, dport: p.nodePort, proto });
        }
      const stray = fc.record({
        dst: fc.constantFrom("10.96.9.9", NODE_IP),
        dport: fc.constantFrom(80, 30001),
        proto: fc.constantFrom<"tcp" | "udp">("tcp", "udp"),
      });
      const dest = dests.length
        ? fc.oneof({ arbitrary: fc.constantFrom(...dests), weight: 9 }, { arbitrary: stray, weight: 1 })
        : stray;
      return fc.record({ cluster: fc.constant(cluster), client: fc.constantFrom<ClientName>("C", "P", "N"), dest });
    });
    let answered = 0;
    let silent = 0;
    let masqueraded = 0;
    await fc.assert(
      fc.asyncProperty(arb, async ({ cluster, client, dest }) => {
        const payload = render(cluster);
        const full = withHooks(payload);
        await runIn(N, "iptables-restore", [], { input: full });
        await runIn(N, "conntrack", ["-F"], { check: false });
        const packet: Packet = { src: CLIENTS[client], ...dest };
        const t = trace(parseRules(full), packet, { nodeIPs: NODE_ADDRS, output: client === "N" });
        const deliverable = t.outcomes.filter((o) => o.target && o.verdict !== "DROP" && o.verdict !== "REJECT");
        const reply = await clients
          .get(client)!
          .probe(dest.proto!, dest.dst, dest.dport, deliverable.length ? 1500 : 250);
        const context = () =>
          `packet ${JSON.stringify(packet)} from ${client}${client === "N" ? " (locally generated)" : ""}\n` +
          `kernel: ${reply ?? "no answer"}\ntrace: ${JSON.stringify({ targets: t.targets, verdict: t.verdict, masquerade: t.masquerade, outcomes: t.outcomes.map((o) => [o.target, o.verdict, o.masquerade]) })}\n` +
          `rules loaded:\n${full}`;
        if (reply === null) {
          silent++;
          assert.equal(deliverable.length, 0, `the tracer expected an answer\n${context()}`);
          return;
        }
        answered++;
        const [hit, seen] = reply.split(" ");
        const masq = seen !== packet.src;
        if (masq) masqueraded++;
        const match = deliverable.filter((o) => o.target === hit);
        assert.ok(match.length > 0, `backend ${hit} answered but is not a traced target\n${context()}`);
        assert.ok(
          match.some((o) => o.masquerade === masq),
          `masquerade: kernel ${masq} (backend saw ${seen}), tracer ${match.map((o) => o.masquerade)}\n${context()}`,
        );
      }),
      { numRuns: runs(1000, 200), endOnFailure: false },
    );
    process.stdout.write(`# kernel-differential: ${answered} answered, ${silent} silent, ${masqueraded} masqueraded\n`);
    assert.ok(answered > 0 && silent > 0, "both outcomes were exercised");
  });
});
