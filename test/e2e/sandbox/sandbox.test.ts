/**
 * End-to-end on a 3-node `podwire up` sandbox (iptables mode): real kubectl, real pods (processes in network
 * namespaces), real kernel rules, real traffic. Every assertion message names what it checked.
 * A client namespace on the underlay (198.18.1.100) plays the outside world for NodePort tests.
 */
import assert from "node:assert/strict";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import type { Node, Pod, Service } from "../../../src/api/core.js";
import { addNetns, delNetns, ip, runIn } from "../../../src/netlinux/netns.js";
import { readState, type SandboxState } from "../../../src/sandbox/state.js";
import { curlIn, dialFrom, iptablesSave, Kubectl, podwire, sepTargets, sh, shellIn, until } from "./helpers.js";

const NAME = process.env.PODWIRE_E2E_NAME ?? "pwe";
const MODE = process.env.PODWIRE_E2E_PROXY_MODE ?? "iptables";
const BACKEND = process.env.PODWIRE_E2E_BACKEND ?? "vxlan";
const CLIENT_NS = `${NAME}x-client`;
const CLIENT_IP = "198.18.1.100";
const READY_DIR = `/tmp/${NAME}-e2e-ready`;
const AGNHOST = "registry.k8s.io/e2e-test-images/agnhost:2.47";

interface PodList {
  items: Pod[];
}

describe(`sandbox e2e (${MODE} mode, ${BACKEND}, 3 nodes)`, { timeout: 600_000 }, () => {
  let state: SandboxState;
  let k: Kubectl;
  const nodeNs = (node: string) => `${NAME}-${node}`;
  const ready = (p: Pod) => p.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false;
  const pods = (selector: string) => k.json<PodList>("get", "pods", "-l", selector).items;
  const readyPods = (selector: string, n: number) =>
    until(
      `${n} ready pods (${selector})`,
      () => {
        const ps = pods(selector).filter((p) => ready(p) && !p.metadata.deletionTimestamp);
        return ps.length === n && ps;
      },
      120_000,
    );
  const svc = (name: string) => k.json<Service>("get", "svc", name);

  before(async () => {
    sh(podwire, ["down", "--name", NAME]); // leftovers of a crashed run
    await delNetns(CLIENT_NS);
    const r = sh(
      podwire,
      ["up", "--nodes", "3", "--name", NAME, "--proxy-mode", MODE, "--backend", BACKEND],
      process.env,
      330_000,
    );
    assert.equal(r.code, 0, `podwire up exits 0 (stderr: ${r.err.slice(-2000)})`);
    assert.match(r.out, /^export KUBECONFIG=\/\S+$/m, "podwire up prints export KUBECONFIG=/abs/path");
    const s = readState(NAME);
    assert.ok(s, "state file written");
    state = s;
    k = new Kubectl(state.kubeconfig);
    // The outside world: a client namespace on the underlay bridge.
    await addNetns(CLIENT_NS);
    await ip(state.underlay, "link", "add", "cl", "type", "veth", "peer", "name", "eth0", "netns", CLIENT_NS);
    await ip(state.underlay, "link", "set", "cl", "master", "br0", "up");
    await ip(CLIENT_NS, "addr", "add", `${CLIENT_IP}/15`, "dev", "eth0");
    await ip(CLIENT_NS, "link", "set", "eth0", "up");
    mkdirSync(READY_DIR, { recursive: true });
  });

  after(async () => {
    await delNetns(CLIENT_NS);
    const r = sh(podwire, ["down", "--name", NAME]);
    rmSync(READY_DIR, { recursive: true, force: true });
    assert.equal(r.code, 0, `podwire down exits 0: ${r.err}`);
  });

  it("a second `podwire up` with the same name says it exists", () => {
    const r = sh(podwire, ["up", "--nodes", "1", "--name", NAME]);
    assert.notEqual(r.code, 0, "second up fails");
    assert.match(r.err, /exists/, "second up says the sandbox exists");
  });

  it("kubectl get nodes: 3 Ready nodes with underlay InternalIPs; kubectl get cs answers", () => {
    const nodes = k.json<{ items: Node[] }>("get", "nodes").items;
    assert.equal(nodes.length, 3, "three nodes registered");
    for (const n of nodes) {
      assert.equal(
        n.status?.conditions?.find((c) => c.type === "Ready")?.status,
        "True",
        `node ${n.metadata.name} Ready`,
      );
      assert.match(
        n.status?.addresses?.find((a) => a.type === "InternalIP")?.address ?? "",
        /^198\.1[89]\./,
        `node ${n.metadata.name} InternalIP in 198.18.0.0/15`,
      );
    }
    const table = k.run("get", "nodes");
    assert.match(table, /node1\s+Ready/, "kubectl get nodes table shows node1 Ready");
    const cs = k.run("get", "cs");
    assert.match(cs, /Healthy/, "kubectl get cs shows Healthy components");
  });

  let web: Pod[] = [];
  let clusterIP = "";
  it("deployment web (netexec ×3) + expose: pods Running on every node", async () => {
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
      "--udp-port=8081",
    );
    k.run("expose", "deployment", "web", "--port=80", "--target-port=8080");
    web = await readyPods("app=web", 3);
    const nodes = new Set(web.map((p) => p.spec.nodeName));
    assert.equal(nodes.size, 3, `web pods spread over all three nodes (got ${[...nodes].join(",")})`);
    clusterIP = svc("web").spec.clusterIP ?? "";
    assert.match(clusterIP, /^10\.(9[6-9]|1[01]\d)\./, "web has a ClusterIP in 10.96.0.0/12");
  });

  it("ClusterIP answers from pods on every node and reaches all three backends", async () => {
    const names = new Set(web.map((p) => p.metadata.name));
    for (const p of web) {
      const seen = new Set<string>();
      await until(
        `all backends via ${clusterIP} from ${p.metadata.name}`,
        async () => {
          for (const r of await dialFrom(nodeNs(p.spec.nodeName ?? ""), p.status?.podIP ?? "", clusterIP, 80, 15))
            seen.add(r);
          return seen.size === 3;
        },
        60_000,
      );
      assert.deepEqual(
        [...seen].sort(),
        [...names].sort(),
        `ClusterIP from a pod on ${p.spec.nodeName} hit every backend`,
      );
    }
  });

  it("web, web.default, web.default.svc.cluster.local resolve from a pod", async () => {
    const p = web[0] as Pod;
    for (const name of ["web", "web.default", "web.default.svc.cluster.local"]) {
      const out = await until(`${name} resolves`, () =>
        shellIn(nodeNs(p.spec.nodeName ?? ""), p.status?.podIP ?? "", `getent hosts ${name}`),
      );
      assert.match(
        out,
        new RegExp(`^${clusterIP.replace(/\./g, "\\.")}\\s`),
        `${name} resolves to the ClusterIP from a pod`,
      );
    }
    const byName = await dialFrom(nodeNs(p.spec.nodeName ?? ""), p.status?.podIP ?? "", "web", 80, 3);
    assert.equal(byName.length, 3, "HTTP to the service by name from a pod answers");
  });

  it("a pod's env has the service variables of services that existed when it started", async () => {
    k.run(
      "run",
      "envpod",
      `--image=${AGNHOST}`,
      "--labels=app=envpod",
      "--",
      "/agnhost",
      "netexec",
      "--http-port=8080",
    );
    const [p] = await readyPods("app=envpod", 1);
    // Ready without a readiness probe means "started": netexec may not listen yet, so retry the first request.
    const env = await until("envpod's netexec answers", () =>
      shellIn(nodeNs(p?.spec.nodeName ?? ""), p?.status?.podIP ?? "", "env"),
    );
    assert.match(env, new RegExp(`^WEB_SERVICE_HOST=${clusterIP}$`, "m"), "WEB_SERVICE_HOST = ClusterIP");
    assert.match(env, /^WEB_SERVICE_PORT=80$/m, "WEB_SERVICE_PORT = 80");
    assert.match(
      env,
      new RegExp(`^WEB_PORT_80_TCP=tcp://${clusterIP}:80$`, "m"),
      "WEB_PORT_80_TCP docker-link variable",
    );
    assert.match(env, /^KUBERNETES_SERVICE_HOST=10\.96\.0\.1$/m, "KUBERNETES_SERVICE_HOST");
    k.run("delete", "pod", "envpod", "--wait=false");
  });

  it("kubectl logs and kubectl exec (stdin, exit code) reach the pod through the apiserver and its kubelet", () => {
    const p = web[0] as Pod;
    assert.match(
      k.run("logs", p.metadata.name ?? ""),
      /netexec: HTTP on 8080/,
      "kubectl logs shows the container's output",
    );
    assert.equal(
      k.run("exec", p.metadata.name ?? "", "--", "hostname").trim(),
      p.metadata.name,
      "kubectl exec runs in the pod's UTS namespace",
    );
    const r = sh("sh", ["-c", `echo ping | kubectl exec -i ${p.metadata.name} -- sh -c 'cat; exit 3'`], {
      ...process.env,
      KUBECONFIG: state.kubeconfig,
    });
    assert.equal(r.out, "ping\n", "kubectl exec -i passes stdin through");
    assert.equal(r.code, 3, "kubectl exec returns the command's exit code");
  });

  it("every kubelet serves a certificate from the cluster CA for its node IP and answers only the apiserver", async () => {
    const pki = `${state.dir}/server/pki`;
    const ca = `${pki}/ca.crt`;
    const asApiserver = [
      "--cert",
      `${pki}/apiserver-kubelet-client.crt`,
      "--key",
      `${pki}/apiserver-kubelet-client.key`,
    ];
    for (const n of state.nodes) {
      // From another node's namespace, verifying against the cluster CA and the node's IP SAN (curl fails otherwise).
      const from = state.nodes.find((x) => x.name !== n.name) ?? n;
      const url = `https://${n.ip}:10250/healthz`;
      const r = await runIn(from.ns, "curl", ["-sS", "-m", "5", "--cacert", ca, ...asApiserver, url], { check: false });
      assert.equal(
        r.stdout,
        "ok",
        `kubelet ${n.name} at ${n.ip}:10250 verified with the cluster CA, the apiserver's client cert accepted (${r.stderr.trim()})`,
      );
      const anon = await runIn(
        from.ns,
        "curl",
        ["-sS", "-m", "5", "-o", "/dev/null", "-w", "%{http_code}", "--cacert", ca, url],
        {
          check: false,
        },
      );
      assert.equal(anon.stdout, "401", `kubelet ${n.name} answers an anonymous request 401 (--anonymous-auth=false)`);
    }
  });

  it("NodePort answers on every node's underlay address from outside", async () => {
    k.run("patch", "svc", "web", "-p", '{"spec":{"type":"NodePort"}}');
    const nodePort = svc("web").spec.ports?.[0]?.nodePort;
    assert.ok(nodePort && nodePort >= 30000, "web got a nodePort");
    for (const n of state.nodes) {
      const body = await until(`NodePort on ${n.ip}`, () => curlIn(CLIENT_NS, `http://${n.ip}:${nodePort}/hostname`));
      assert.ok(
        web.some((p) => p.metadata.name === body),
        `NodePort ${n.ip}:${nodePort} answered by a web pod (${body})`,
      );
    }
  });

  it("hostPort: a pod answers on its node's underlay IP:hostPort; the DNAT goes with the pod", async () => {
    // 9080: outside the NodePort range, so no Service of this suite can claim the same node port.
    const hostPort = 9080;
    k.apply(`apiVersion: v1
kind: Pod
metadata: {name: hp, labels: {app: hp}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: nx
    image: ${AGNHOST}
    args: [netexec, --http-port=8080]
    ports: [{containerPort: 8080, hostPort: ${hostPort}}]
`);
    const [pod] = await readyPods("app=hp", 1);
    const n = state.nodes.find((x) => x.name === pod?.spec.nodeName);
    assert.ok(pod && n, "the hostPort pod is Ready on a node");
    const body = await until(`hostPort on ${n.ip}:${hostPort}`, () =>
      curlIn(CLIENT_NS, `http://${n.ip}:${hostPort}/hostname`),
    );
    assert.equal(body, "hp", `${n.ip}:${hostPort} from the client namespace answered by pod hp`);
    const dnat = (save: string) =>
      save
        .split("\n")
        .some((l) => l.includes(`--dport ${hostPort}`) && l.includes(`--to-destination ${pod.status?.podIP}:8080`));
    assert.ok(
      dnat(await iptablesSave(n.ns)),
      `${n.name}'s nat table has the portmap DNAT ${hostPort} → ${pod.status?.podIP}:8080`,
    );
    k.run("delete", "pod", "hp", "--wait=false");
    await until(
      `portmap DNAT for ${hostPort} removed from ${n.name}`,
      async () => !dnat(await iptablesSave(n.ns)),
      30_000,
    );
    await assert.rejects(
      curlIn(CLIENT_NS, `http://${n.ip}:${hostPort}/hostname`, 2),
      `${n.ip}:${hostPort} no longer answers after the pod is deleted`,
    );
  });

  it("ClientIP session affinity sticks to one backend", async () => {
    k.run(
      "expose",
      "deployment",
      "web",
      "--name=web-aff",
      "--port=80",
      "--target-port=8080",
      "--session-affinity=ClientIP",
    );
    const ip = svc("web-aff").spec.clusterIP ?? "";
    const p = web[0] as Pod;
    const answers = await until("affinity service answers", async () => {
      const r = await dialFrom(nodeNs(p.spec.nodeName ?? ""), p.status?.podIP ?? "", ip, 80, 12);
      return r.length === 12 && r;
    });
    assert.equal(
      new Set(answers).size,
      1,
      `12 connections with ClientIP affinity all reached one backend (${[...new Set(answers)].join(",")})`,
    );
  });

  it("externalTrafficPolicy: Local keeps the client's source IP", async () => {
    // Created with Local from the start: a create-then-patch would race the proxier, which may
    // program the Cluster-policy rules (masquerading) first and answer before the patch lands.
    k.apply(`apiVersion: v1
kind: Service
metadata: {name: web-local}
spec:
  type: NodePort
  externalTrafficPolicy: Local
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
`);
    const nodePort = svc("web-local").spec.ports?.[0]?.nodePort;
    const target = state.nodes.find((n) => web.some((p) => p.spec.nodeName === n.name));
    assert.ok(target && nodePort, "a node with a local web pod and a nodePort");
    const body = await until("clientip through eTP Local", () =>
      curlIn(CLIENT_NS, `http://${target.ip}:${nodePort}/clientip`),
    );
    assert.match(
      body,
      new RegExp(`^${CLIENT_IP.replace(/\./g, "\\.")}:\\d+$`),
      `backend saw the client's own address (${body}), not a node's`,
    );
  });

  it("a failing readiness probe removes the pod from the endpoints and from every node's rules", async () => {
    k.apply(`apiVersion: apps/v1
kind: Deployment
metadata: {name: probed}
spec:
  replicas: 2
  selector: {matchLabels: {app: probed}}
  template:
    metadata: {labels: {app: probed}}
    spec:
      containers:
      - name: nx
        image: ${AGNHOST}
        args: [netexec, --http-port=8080]
        readinessProbe:
          exec: {command: [sh, -c, "test -f ${READY_DIR}/$HOSTNAME"]}
          periodSeconds: 1
          failureThreshold: 1
          timeoutSeconds: 10
`);
    // timeoutSeconds 10, not the default 1: on a loaded CI machine a passing exec probe (nsenter + sh) can take
    // longer than 1 s, and a probe that always times out would keep the pods from ever becoming Ready.
    k.run("expose", "deployment", "probed", "--port=80", "--target-port=8080");
    await until("2 probed pods exist", () => pods("app=probed").filter((p) => p.status?.podIP).length === 2);
    for (const p of pods("app=probed")) writeFileSync(`${READY_DIR}/${p.metadata.name}`, "");
    const both = await readyPods("app=probed", 2);
    const ips = both.map((p) => p.status?.podIP ?? "").sort();
    for (const n of state.nodes)
      await until(
        `both endpoints in ${n.name}'s rules`,
        async () => sepTargets(await iptablesSave(n.ns), "default/probed").join() === ips.join(),
      );
    const victim = both[0] as Pod;
    rmSync(`${READY_DIR}/${victim.metadata.name}`);
    await until(
      `${victim.metadata.name} NotReady`,
      () => pods("app=probed").some((p) => p.metadata.name === victim.metadata.name && !ready(p)),
      30_000,
    );
    const eps = await until("endpointslice marks it not ready", () => {
      const sl = k.json<{ items: { endpoints?: { addresses: string[]; conditions?: { ready?: boolean } }[] }[] }>(
        "get",
        "endpointslices",
        "-l",
        "kubernetes.io/service-name=probed",
      );
      const e = sl.items
        .flatMap((s) => s.endpoints ?? [])
        .find((x) => x.addresses.includes(victim.status?.podIP ?? ""));
      return e?.conditions?.ready === false && e;
    });
    assert.equal(eps.conditions?.ready, false, "EndpointSlice condition ready=false for the failing pod");
    for (const n of state.nodes) {
      const left = await until(`${n.name}'s rules drop the failing pod`, async () => {
        const t = sepTargets(await iptablesSave(n.ns), "default/probed");
        return t.length === 1 && t;
      });
      assert.deepEqual(
        left,
        ips.filter((x) => x !== victim.status?.podIP),
        `${n.name}: only the ready pod is a DNAT target`,
      );
    }
  });

  it("scaling 3 → 5 → 1 is reflected in every node's rules", async () => {
    for (const n of [5, 1]) {
      k.run("scale", "deployment", "web", `--replicas=${n}`);
      const ps = await readyPods("app=web", n);
      const want = ps
        .map((p) => p.status?.podIP ?? "")
        .sort()
        .join();
      for (const node of state.nodes) {
        await until(
          `${node.name} has ${n} web endpoints`,
          async () => sepTargets(await iptablesSave(node.ns), "default/web").join() === want,
          60_000,
        );
      }
      assert.ok(true, `scaled to ${n}: every node's rules list exactly the ${n} ready pods`);
    }
    k.run("scale", "deployment", "web", "--replicas=3");
    web = await readyPods("app=web", 3);
  });

  it("killing a node's agent marks the node NotReady and moves traffic off it", async () => {
    const victim = state.nodes[2];
    assert.ok(victim, "a third node");
    const agent = state.processes.find((p) => p.role === `agent:${victim.name}`);
    assert.ok(agent, "the agent's pid is recorded");
    process.kill(agent.pid, "SIGKILL");
    await until(
      `${victim.name} NotReady`,
      () => {
        const n = k.json<Node>("get", "node", victim.name);
        return n.status?.conditions?.find((c) => c.type === "Ready")?.status !== "True";
      },
      120_000,
    );
    const onVictim = pods("app=web")
      .filter((p) => p.spec.nodeName === victim.name)
      .map((p) => p.status?.podIP);
    // Every live node's rules, not just one: the client pod below may sit on either live node, and a node whose
    // proxier has not yet dropped the dead node's endpoints still sends connections there (its pods keep running).
    for (const live of state.nodes.filter((n) => n.name !== victim.name))
      await until(
        `web endpoints on the dead node leave ${live.name}'s rules`,
        async () => {
          const t = sepTargets(await iptablesSave(live.ns), "default/web");
          return t.length > 0 && !t.some((ip) => onVictim.includes(ip));
        },
        120_000,
      );
    const client = pods("app=web").find((p) => p.spec.nodeName !== victim.name && ready(p));
    assert.ok(client, "a ready web pod on a live node");
    const answers = await dialFrom(nodeNs(client.spec.nodeName ?? ""), client.status?.podIP ?? "", clusterIP, 80, 12);
    const victimNames = pods("app=web")
      .filter((p) => p.spec.nodeName === victim.name)
      .map((p) => p.metadata.name);
    assert.equal(answers.length, 12, "the ClusterIP still answers every connection");
    assert.ok(!answers.some((a) => victimNames.includes(a)), `no answer came from a pod on ${victim.name}`);
  });
});
