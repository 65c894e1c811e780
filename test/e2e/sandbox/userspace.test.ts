/**
 * The sandbox in userspace proxy mode (a shorter pass than the iptables suite: rule-inspection scenarios are
 * iptables-specific): ClusterIP from pods on every node reaches every backend, DNS names resolve, NodePort answers
 * on every node from outside, ClientIP affinity sticks, scaling is followed.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { Pod, Service } from "../../../src/api/core.js";
import { addNetns, delNetns, ip } from "../../../src/netlinux/netns.js";
import { readState, type SandboxState } from "../../../src/sandbox/state.js";
import { curlIn, dialFrom, Kubectl, podwire, sh, shellIn, until } from "./helpers.js";

const NAME = "pwu";
const CLIENT_NS = `${NAME}x-client`;
const AGNHOST = "registry.k8s.io/e2e-test-images/agnhost:2.47";

describe("sandbox e2e (userspace mode, 3 nodes)", { timeout: 420_000 }, () => {
  let state: SandboxState;
  let k: Kubectl;
  const ready = (p: Pod) => p.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false;
  const readyPods = (n: number) =>
    until(
      `${n} ready web pods`,
      () => {
        const ps = k
          .json<{ items: Pod[] }>("get", "pods", "-l", "app=web")
          .items.filter((p) => ready(p) && !p.metadata.deletionTimestamp);
        return ps.length === n && ps;
      },
      120_000,
    );
  let web: Pod[] = [];
  let clusterIP = "";

  before(async () => {
    sh(podwire, ["down", "--name", NAME]);
    await delNetns(CLIENT_NS);
    const r = sh(podwire, ["up", "--nodes", "3", "--name", NAME, "--proxy-mode", "userspace"], process.env, 330_000);
    assert.equal(r.code, 0, `podwire up --proxy-mode userspace exits 0 (stderr: ${r.err.slice(-2000)})`);
    const s = readState(NAME);
    assert.ok(s, "state file written");
    state = s;
    k = new Kubectl(state.kubeconfig);
    await addNetns(CLIENT_NS);
    await ip(state.underlay, "link", "add", "cl", "type", "veth", "peer", "name", "eth0", "netns", CLIENT_NS);
    await ip(state.underlay, "link", "set", "cl", "master", "br0", "up");
    await ip(CLIENT_NS, "addr", "add", "198.18.1.100/15", "dev", "eth0");
    await ip(CLIENT_NS, "link", "set", "eth0", "up");
  });
  after(async () => {
    await delNetns(CLIENT_NS);
    const r = sh(podwire, ["down", "--name", NAME]);
    assert.equal(r.code, 0, `podwire down exits 0: ${r.err}`);
  });

  it("ClusterIP from a pod on every node reaches all three backends; names resolve", async () => {
    k.run(
      "create",
      "deployment",
      "web",
      `--image=${AGNHOST}`,
      "--replicas=3",
      "--",
      "/agnhost",
      "netexec",
      "--http-port=8080",
    );
    k.run("expose", "deployment", "web", "--port=80", "--target-port=8080", "--type=NodePort");
    web = await readyPods(3);
    clusterIP = k.json<Service>("get", "svc", "web").spec.clusterIP ?? "";
    for (const p of web) {
      const seen = new Set<string>();
      await until(`all backends from ${p.metadata.name}`, async () => {
        for (const r of await dialFrom(`${NAME}-${p.spec.nodeName}`, p.status?.podIP ?? "", clusterIP, 80, 12))
          seen.add(r);
        return seen.size === 3;
      });
      assert.equal(seen.size, 3, `userspace ClusterIP from a pod on ${p.spec.nodeName} hit all three backends`);
    }
    const p = web[0] as Pod;
    const out = await until("web.default resolves", () =>
      shellIn(`${NAME}-${p.spec.nodeName}`, p.status?.podIP ?? "", "getent hosts web.default"),
    );
    assert.match(out, new RegExp(`^${clusterIP.replace(/\./g, "\\.")}\\s`), "web.default resolves to the ClusterIP");
  });

  it("NodePort answers on every node's underlay address", async () => {
    const nodePort = k.json<Service>("get", "svc", "web").spec.ports?.[0]?.nodePort;
    for (const n of state.nodes) {
      const body = await until(`NodePort on ${n.ip}`, () => curlIn(CLIENT_NS, `http://${n.ip}:${nodePort}/hostname`));
      assert.ok(
        web.some((w) => w.metadata.name === body),
        `userspace NodePort ${n.ip}:${nodePort} answered by a web pod`,
      );
    }
  });

  it("ClientIP affinity sticks; scaling to 1 leaves one backend", async () => {
    k.run("patch", "svc", "web", "-p", '{"spec":{"sessionAffinity":"ClientIP"}}');
    const p = web[0] as Pod;
    const answers = await until("affinity in effect", async () => {
      const r = await dialFrom(`${NAME}-${p.spec.nodeName}`, p.status?.podIP ?? "", clusterIP, 80, 10);
      return new Set(r).size === 1 && r.length === 10 && r;
    });
    assert.equal(new Set(answers).size, 1, "10 connections with ClientIP affinity reached one backend");
    k.run("scale", "deployment", "web", "--replicas=1");
    const [only] = await readyPods(1);
    const client = only as Pod;
    const after1 = await until("only one backend answers", async () => {
      const r = await dialFrom(`${NAME}-${client.spec.nodeName}`, client.status?.podIP ?? "", clusterIP, 80, 6);
      return r.length === 6 && r.every((x) => x === client.metadata.name) && r;
    });
    assert.equal(new Set(after1).size, 1, "after scaling to 1 every answer comes from the remaining pod");
  });
});
