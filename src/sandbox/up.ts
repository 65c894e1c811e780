/**
 * `podwire up`: a multi-node cluster in network namespaces on this machine.
 *   underlay ns (<name>-ul, bridge br0) ── node namespaces <name>-node1..N (eth0 198.18.0.i/15, pod CIDR 10.244.i.0/24)
 *   node1: `podwire server` (apiserver + controllers + scheduler) on 198.18.0.1:6443
 *   every node: `podwire agent` (kubelet + proxier [+ overlay]) with its own node kubeconfig, CNI config, state dirs
 *   cluster DNS: a kube-system Deployment running `podwire dns` (in a pod netns on node1) behind Service kube-dns = 10.96.0.10
 *   host: a socat forwarder 127.0.0.1:PORT → node1's apiserver (the only thing added to the initial namespace)
 * Everything it makes is recorded in /var/lib/podwire/sandbox/<name>/state.json before it is made.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { dirname, join } from "node:path";
import { parse as parseYaml, stringify as toYaml } from "yaml";
import type { Deployment } from "../api/apps.js";
import type { Node, Pod, Service } from "../api/core.js";
import { connect } from "../client/index.js";
import type { KubeClient } from "../client/types.js";
import { podwireBin } from "../agent/components.js";
import { TokenFile } from "../apiserver/auth.js";
import { writeKubeconfig } from "../apiserver/kubeconfig.js";
import { ensureKubeletServingCert } from "../kubelet/pki.js";
import { run } from "../netlinux/exec.js";
import { addPodRoutes, createNode, createUnderlay, nodeIP, nodePodCIDR } from "./network.js";
import { alive, startDetached } from "./processes.js";
import { Progress } from "./progress.js";
import { type SandboxNode, type SandboxState, readState, sandboxDir, validName, writeState } from "./state.js";

export interface UpOptions {
  name: string;
  nodes: number;
  proxyMode: "iptables" | "userspace";
  /** host-gw: static routes between nodes (default); vxlan: the overlay agent programs a VXLAN overlay. */
  backend: "host-gw" | "vxlan";
  timeoutMs: number;
}

export class SandboxExistsError extends Error {
  override name = "SandboxExistsError";
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
export const API_PORT = 6443;
export const CLUSTER_DNS = "10.96.0.10";

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const a = s.address();
      s.close(() => resolve(typeof a === "object" && a ? a.port : 0));
    });
  });
}

async function waitFor<T>(
  what: string,
  deadline: number,
  fn: () => Promise<T | undefined | false>,
  note?: (s: string) => void,
): Promise<T> {
  let last = "";
  while (Date.now() < deadline) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = (e as Error).message;
      note?.(last.slice(0, 80));
    }
    await sleep(300);
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${last}` : ""}`);
}

/**
 * The CNI network config of one node: podwire-cni on bridge cni0 with host-local IPAM over the node's pod CIDR
 * (the same CIDR the kubelet's --pod-cidr puts on the Node, which the overlay leases). vxlan also names the
 * overlay's subnet.env, so ADD waits ("try again later") until the overlay is up, and uses the VXLAN MTU.
 * Then the reference portmap plugin (Debian's, from /usr/lib/cni, which the agent's --cni-bin-dir names; it speaks
 * CNI 1.0.0): the kubelet passes a pod's hostPorts as the `portMappings` capability, and portmap DNATs
 * node:hostPort → pod (iptables, the same backend the proxier uses); it is a no-op for pods without hostPorts.
 */
export function cniSocketPath(n: SandboxNode): string {
  return join(n.dir, "cni.sock");
}

export function nodeConflist(n: SandboxNode, backend: UpOptions["backend"]): object {
  const ipam = {
    type: "host-local",
    ranges: [[{ subnet: n.podCIDR }]],
    routes: [{ dst: "0.0.0.0/0" }],
    dataDir: join(n.dir, "ipam"),
  };
  return {
    cniVersion: "1.0.0",
    name: "podwire",
    plugins: [
      {
        type: "podwire-cni",
        // the agent serves the plugin here; bin/podwire-cni forwards to it (no Node start-up per pod)
        agentSocket: cniSocketPath(n),
        bridge: "cni0",
        ...(backend === "vxlan" ? { subnetFile: join(n.dir, "subnet.env"), mtu: 1450 } : { mtu: 1500 }),
        isGateway: true,
        isDefaultGateway: true,
        hairpinMode: true,
        ipMasq: false,
        ipam,
      },
      { type: "portmap", capabilities: { portMappings: true } },
    ],
  };
}

/** Host kubeconfig: the admin's, pointed at the loopback forwarder, still verifying the apiserver's certificate. */
export function hostKubeconfig(adminYaml: string, hostPort: number, apiIP: string): string {
  const kc = parseYaml(adminYaml) as { clusters: { name: string; cluster: Record<string, unknown> }[] };
  for (const c of kc.clusters) {
    c.cluster.server = `https://127.0.0.1:${hostPort}`;
    c.cluster["tls-server-name"] = apiIP;
  }
  return toYaml(kc);
}

function dnsObjects(kubeconfig: string): [Service, Deployment] {
  const labels = { "k8s-app": "kube-dns" };
  const svc: Service = {
    apiVersion: "v1",
    kind: "Service",
    metadata: { name: "kube-dns", namespace: "kube-system", labels: { ...labels, "kubernetes.io/name": "CoreDNS" } },
    spec: {
      clusterIP: CLUSTER_DNS,
      selector: labels,
      ports: [
        { name: "dns", port: 53, protocol: "UDP", targetPort: 53 },
        { name: "dns-tcp", port: 53, protocol: "TCP", targetPort: 53 },
      ],
    },
  };
  const dep: Deployment = {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name: "coredns", namespace: "kube-system", labels },
    spec: {
      replicas: 1,
      selector: { matchLabels: labels },
      template: {
        metadata: { labels },
        spec: {
          // A pod network namespace, not hostNetwork: a UDP server bound to 0.0.0.0 on a node with several
          // addresses (eth0, cni0, flannel.1) answers from whichever address routes back to the client, which a
          // resolver rejects; a pod has one address.
          dnsPolicy: "Default",
          // Bound directly (as a DaemonSet's pods are): cluster DNS must not wait for the scheduler.
          nodeName: "node1",
          containers: [
            {
              name: "dns",
              image: "podwire/dns",
              command: [process.execPath, podwireBin(), "dns", "--kubeconfig", kubeconfig, "--listen", "0.0.0.0:53"],
              ports: [
                { name: "dns", containerPort: 53, protocol: "UDP" },
                { name: "dns-tcp", containerPort: 53, protocol: "TCP" },
              ],
              readinessProbe: { tcpSocket: { port: 53 }, periodSeconds: 2 },
            },
          ],
        },
      },
    },
  } as Deployment;
  return [svc, dep];
}

/** A kubeconfig for a node (`system:node:<name>`) or the admin, minted in the server's token file (as `podwire server kubeconfig`). */
function mintKubeconfig(dataDir: string, out: string, nodeName?: string): void {
  const admin = parseYaml(readFileSync(join(dataDir, "admin.kubeconfig"), "utf8")) as {
    clusters: { cluster: Record<string, string> }[];
  };
  const cluster = admin.clusters[0]?.cluster;
  if (!cluster) throw new Error("admin.kubeconfig has no cluster");
  const ca = Buffer.from(cluster["certificate-authority-data"] ?? "", "base64").toString();
  const user = nodeName ? `system:node:${nodeName}` : "podwire-admin";
  const token = new TokenFile(dataDir).tokenFor(user, nodeName ? ["system:nodes"] : ["system:masters"]);
  writeKubeconfig(out, cluster.server ?? "", ca, user, token);
}

async function createOrKeep(client: KubeClient, obj: Service | Deployment): Promise<void> {
  const r = await client.create(obj);
  if (!r.ok && r.error.code !== 409) throw new Error(`create ${obj.kind} ${obj.metadata.name}: ${r.error.message}`);
}

export async function up(o: UpOptions, out: NodeJS.WritableStream = process.stdout): Promise<SandboxState> {
  if (!validName(o.name))
    throw new Error(
      `invalid sandbox name ${JSON.stringify(o.name)}: 1-8 lowercase letters/digits, starting with a letter`,
    );
  const existing = readState(o.name);
  if (existing)
    throw new SandboxExistsError(
      `sandbox ${o.name} exists (created ${existing.createdAt}, ${existing.phase}); see \`podwire status --name ${o.name}\` or remove it with \`podwire down --name ${o.name}\``,
    );
  if (!existsSync(join(dirname(podwireBin()), "..", "dist", "podwire-cni.mjs")))
    throw new Error("dist/podwire-cni.mjs is missing: run `npm run build` first");
  const deadline = Date.now() + o.timeoutMs;
  const dir = sandboxDir(o.name);
  const nodes: SandboxNode[] = [];
  for (let i = 1; i <= o.nodes; i++) {
    const name = `node${i}`;
    nodes.push({
      name,
      ns: `${o.name}-${name}`,
      ip: nodeIP(i),
      podCIDR: nodePodCIDR(i),
      podNetnsPrefix: `${o.name}-${name}-`,
      dir: join(dir, "nodes", name),
    });
  }
  const first = nodes[0];
  if (!first) throw new Error("--nodes must be at least 1");
  const state: SandboxState = {
    name: o.name,
    createdAt: new Date().toISOString(),
    dir,
    underlay: `${o.name}-ul`,
    nodes,
    processes: [],
    apiServer: `https://${first.ip}:${API_PORT}`,
    hostPort: 0,
    kubeconfig: join(dir, "kubeconfig"),
    proxyMode: o.proxyMode,
    phase: "creating",
  };
  mkdirSync(join(dir, "logs"), { recursive: true });
  writeState(state);
  const p = new Progress(7);
  const agentArgs = new Map<string, string[]>();
  const restarts = new Map<string, number>();
  const bin = podwireBin();
  const node = process.execPath;

  await p.step(`network namespaces: underlay + ${o.nodes} nodes (198.18.0.0/15)`, async (note) => {
    await createUnderlay(state.underlay);
    for (const [i, n] of nodes.entries()) {
      note(n.ns);
      mkdirSync(join(n.dir, "cni", "net.d"), { recursive: true });
      await createNode(state.underlay, n, i + 1);
      writeFileSync(
        join(n.dir, "cni", "net.d", "10-podwire.conflist"),
        `${JSON.stringify(nodeConflist(n, o.backend), null, 2)}\n`,
      );
    }
    if (o.backend === "host-gw") await addPodRoutes(nodes);
    note(nodes.map((n) => `${n.ns}=${n.ip}`).join(" "));
  });

  const dataDir = join(dir, "server");
  await p.step(`control plane on ${first.name} (${state.apiServer})`, async (note) => {
    const pid = startDetached(
      first.ns,
      node,
      [
        bin,
        "server",
        "--data-dir",
        dataDir,
        "--listen",
        `${first.ip}:${API_PORT}`,
        "--advertise-address",
        first.ip,
        "--tls-san",
        "127.0.0.1",
        "--cluster-cidr",
        "10.244.0.0/16",
        "--service-cluster-ip-range",
        "10.96.0.0/12",
        "--kubelet-certificate-authority",
        "cluster",
      ],
      join(dir, "logs", "server.log"),
    );
    state.processes.push({ role: "server", pid, mark: "server" });
    writeState(state);
    note(`pid ${pid}`);
    await waitFor("admin.kubeconfig", deadline, async () => existsSync(join(dataDir, "admin.kubeconfig")));
    const r = await waitFor("apiserver /readyz", deadline, async () => {
      const res = await run(
        "nsenter",
        [
          `--net=/run/netns/${first.ns}`,
          "--",
          "curl",
          "-sk",
          "-o",
          "/dev/null",
          "-w",
          "%{http_code}",
          `${state.apiServer}/readyz`,
        ],
        { check: false, timeoutMs: 3000 },
      );
      return res.stdout === "200" && res;
    });
    void r;
  });

  await p.step("host access: 127.0.0.1 forwarder + kubeconfig", async (note) => {
    state.hostPort = await freePort();
    // One socat per connection enters node1's namespace (a script, since socat would split the address's colons).
    const script = join(dir, "forward.sh");
    writeFileSync(
      script,
      `#!/bin/sh\nexec nsenter --net=/run/netns/${first.ns} socat STDIO TCP:${first.ip}:${API_PORT}\n`,
      { mode: 0o755 },
    );
    const pid = startDetached(
      null,
      "socat",
      [`TCP-LISTEN:${state.hostPort},bind=127.0.0.1,reuseaddr,fork`, `EXEC:${script}`],
      join(dir, "logs", "forwarder.log"),
    );
    state.processes.push({ role: "forwarder", pid, mark: "socat" });
    writeFileSync(
      state.kubeconfig,
      hostKubeconfig(readFileSync(join(dataDir, "admin.kubeconfig"), "utf8"), state.hostPort, first.ip),
      { mode: 0o600 },
    );
    writeState(state);
    note(`127.0.0.1:${state.hostPort}`);
  });

  await p.step(`node agents (${o.proxyMode} proxy, ${o.backend})`, async (note) => {
    for (const n of nodes) {
      const kc = join(n.dir, "kubeconfig");
      mintKubeconfig(dataDir, kc, n.name);
      // The kubelet's serving certificate from the cluster CA (as the kubelet-serving signer issues it), so the
      // apiserver can verify kubelets with the CA it already has instead of skipping verification.
      const serving = ensureKubeletServingCert({
        dir: join(n.dir, "pki"),
        nodeName: n.name,
        ips: [n.ip],
        ca: { certPath: join(dataDir, "pki", "ca.crt"), keyPath: join(dataDir, "pki", "ca.key") },
      });
      const args = [
        bin,
        "agent",
        "--kubeconfig",
        kc,
        "--node-name",
        n.name,
        "--node-ip",
        n.ip,
        "--pod-cidr",
        n.podCIDR,
        "--proxy-mode",
        o.proxyMode,
        "--root-dir",
        join(n.dir, "agent"),
        "--cni-conf-dir",
        join(n.dir, "cni", "net.d"),
        "--cni-cache-dir",
        join(n.dir, "cni", "cache"),
        "--cni-bin-dir",
        `${dirname(bin)},/usr/lib/cni`,
        "--cluster-dns",
        CLUSTER_DNS,
        "--netns-prefix",
        n.podNetnsPrefix,
        "--metrics-addr",
        `${n.ip}:10249`,
        "--heartbeat-seconds",
        "5",
        "--subnet-file",
        join(n.dir, "subnet.env"),
        // Fresh namespaces: nft, what auto-detection would pick, without spending its probes at every start.
        "--iptables-backend",
        "nft",
        "--tls-cert-file",
        serving.certPath,
        "--tls-private-key-file",
        serving.keyPath,
        // Only the apiserver (its kubelet-client cert, signed by the cluster CA) may use the kubelet API.
        "--client-ca-file",
        join(dataDir, "pki", "ca.crt"),
        "--anonymous-auth=false",
        "--cni-socket",
        cniSocketPath(n),
      ];
      if (o.backend === "host-gw") args.push("--no-overlay");
      agentArgs.set(n.name, args);
      const pid = startDetached(n.ns, node, args, join(dir, "logs", `${n.name}-agent.log`));
      state.processes.push({ role: `agent:${n.name}`, pid, mark: "agent" });
      writeState(state);
      note(`${n.name} pid ${pid}`);
    }
  });

  const client = connect({ kubeconfig: state.kubeconfig });
  try {
    await p.step("nodes Ready", async (note) => {
      await waitFor(
        "all nodes Ready",
        deadline,
        async () => {
          // An agent that died while starting (e.g. a half-written build) is started again, at most 3 times.
          for (const rec of state.processes.filter((x) => x.role.startsWith("agent:") && !alive(x))) {
            const nodeName = rec.role.slice("agent:".length);
            const n = nodes.find((x) => x.name === nodeName);
            const args = agentArgs.get(nodeName);
            const tries = (restarts.get(nodeName) ?? 0) + 1;
            if (!n || !args || tries > 3) continue;
            restarts.set(nodeName, tries);
            rec.pid = startDetached(n.ns, node, args, join(dir, "logs", `${n.name}-agent.log`));
            writeState(state);
            note(`restarted ${rec.role} (pid ${rec.pid})`);
          }
          const r = await client.list("Node");
          if (!r.ok) throw r.error;
          const ready = r.value.items.filter((n: Node) =>
            n.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True"),
          );
          note(`${ready.length}/${o.nodes}`);
          return ready.length >= o.nodes;
        },
        note,
      );
    });

    await p.step(`cluster DNS (kube-dns ${CLUSTER_DNS})`, async (note) => {
      const dnsKubeconfig = join(dir, "kubeconfig-dns");
      mintKubeconfig(dataDir, dnsKubeconfig);
      for (const obj of dnsObjects(dnsKubeconfig)) await createOrKeep(client, obj);
      await waitFor(
        "a Ready kube-dns pod",
        deadline,
        async () => {
          const r = await client.list("Pod", { namespace: "kube-system", labelSelector: "k8s-app=kube-dns" });
          if (!r.ok) throw r.error;
          const pod = r.value.items[0] as Pod | undefined;
          note(pod ? `${pod.metadata.name} ${pod.status?.phase ?? "Pending"}` : "no pod yet");
          return r.value.items.some((x: Pod) =>
            x.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True"),
          );
        },
        note,
      );
    });

    await p.step("kubernetes service reachable from a node", async () => {
      await waitFor("kubernetes service programmed", deadline, async () => {
        const r = await run(
          "nsenter",
          [
            `--net=/run/netns/${nodes[nodes.length - 1]?.ns}`,
            "--",
            "curl",
            "-sk",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "https://10.96.0.1/readyz",
          ],
          { check: false, timeoutMs: 3000 },
        );
        return r.stdout === "200";
      });
    });
  } finally {
    client.close();
  }
  state.phase = "ready";
  writeState(state);
  out.write(
    `sandbox ${o.name} is ready: ${o.nodes} nodes in ${p.elapsed()}s (namespaces ${nodes.map((n) => n.ns).join(", ")})\n`,
  );
  out.write(`export KUBECONFIG=${state.kubeconfig}\n`);
  return state;
}
