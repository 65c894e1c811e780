/**
 * The node agent: kubelet (in-process) + proxier + overlay (+ DNS) for one node, one log stream (pino JSON on
 * stderr), one metrics endpoint (`/metrics`, `/healthz` on --metrics-addr).
 */
import { createServer, type Server } from "node:http";
import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { Counter, collectDefaultMetrics, Gauge, Registry } from "prom-client";
import { informerSource } from "../client/index.js";
import type { KubeClient } from "../client/types.js";
import { CniPodNetwork } from "../kubelet/cni.js";
import { Kubelet } from "../kubelet/kubelet.js";
import type { Logger } from "../kubelet/podworker.js";
import { ProcessRuntime } from "../kubelet/runtime.js";
import { ChildComponent, type Component, InProcessUserspaceProxy } from "./components.js";

export interface AgentOptions {
  kubeconfig: string;
  nodeName: string;
  nodeIP: string;
  proxyMode: "iptables" | "userspace" | "none";
  overlay: boolean;
  dns: boolean;
  dnsListen: string;
  rootDir: string;
  cniConfDir: string;
  cniBinDirs: string[];
  cniCacheDir: string;
  clusterDNS: string[];
  clusterDomain: string;
  clusterCIDR: string;
  kubeletPort: number;
  metricsAddr: string;
  netnsPrefix: string;
  heartbeatMs: number;
  podCIDR?: string;
  /** flannel-style subnet.env the overlay writes and podwire-cni reads (per node). */
  subnetFile: string;
  /** iptables proxier --iptables-min-sync-period (a duration such as "100ms"); the proxy's default (1s) when unset. */
  proxyMinSyncPeriod?: string;
  /**
   * Backend of the iptables proxier; unset = its default (auto: detect like iptables-wrappers, which reads the
   * legacy tables that exist from /proc and creates none). A caller that knows the backend (the sandbox) names it
   * and saves the probes.
   */
  iptablesBackend?: "nft" | "legacy" | "auto";
  /**
   * The kubelet's serving certificate for :10250 (kubelet's --tls-cert-file/--tls-private-key-file; the sandbox
   * issues them from the cluster CA); unset = self-signed in <root-dir>/kubelet/pki.
   */
  tlsCertFile?: string;
  tlsPrivateKeyFile?: string;
  /** The kubelet's --client-ca-file and --anonymous-auth (src/kubelet/server.ts KubeletServerAuth). */
  clientCAFile?: string;
  anonymousAuth?: boolean;
  /**
   * Serve podwire-cni on this unix socket (the conflist's `agentSocket`): the plugin's C client forwards to it, so
   * a pod's ADD costs no Node start-up. Served by the overlay child when there is one, else in this process.
   */
  cniSocket?: string;
}

export interface RunningAgent {
  kubelet: Kubelet;
  components: Component[];
  metrics: Server | null;
  stop(): Promise<void>;
}

export async function startAgent(o: AgentOptions, log: Logger, sink: (line: string) => void): Promise<RunningAgent> {
  mkdirSync(o.rootDir, { recursive: true });
  const source = informerSource({ kubeconfig: o.kubeconfig, log });
  const client = (source as { client?: KubeClient }).client;
  if (!client) throw new Error("the agent needs an apiserver (--kubeconfig)");
  const network = new CniPodNetwork({ confDir: o.cniConfDir, binDirs: o.cniBinDirs, cacheDir: o.cniCacheDir });
  const kubelet = new Kubelet(
    {
      nodeName: o.nodeName,
      nodeIP: o.nodeIP,
      rootDir: join(o.rootDir, "kubelet"),
      netnsPrefix: o.netnsPrefix,
      clusterDNS: o.clusterDNS,
      clusterDomain: o.clusterDomain,
      port: o.kubeletPort,
      heartbeatMs: o.heartbeatMs,
      ...(o.podCIDR ? { podCIDR: o.podCIDR } : {}),
      ...(o.tlsCertFile && o.tlsPrivateKeyFile
        ? { tlsCertFile: o.tlsCertFile, tlsPrivateKeyFile: o.tlsPrivateKeyFile }
        : {}),
      ...(o.clientCAFile ? { clientCAFile: o.clientCAFile } : {}),
      ...(o.anonymousAuth !== undefined ? { anonymousAuth: o.anonymousAuth } : {}),
    },
    client,
    source,
    new ProcessRuntime(),
    network,
    log,
  );
  const common = ["--kubeconfig", o.kubeconfig];
  const components: Component[] = [];
  // Children's metrics are scraped on loopback (inside the node's namespace) and served with the agent's own.
  const childMetrics: string[] = [];
  if (o.overlay)
    components.push(
      new ChildComponent(
        "overlay",
        [
          "overlay",
          ...common,
          "--node-name",
          o.nodeName,
          "--public-ip",
          o.nodeIP,
          "--subnet-file",
          o.subnetFile,
          "--cluster-cidr",
          o.clusterCIDR,
          ...(o.cniSocket ? ["--cni-socket", o.cniSocket] : []),
        ],
        log,
        sink,
      ),
    );
  let cniServer: import("node:net").Server | undefined;
  if (o.cniSocket && !o.overlay) {
    const { startCniServer } = await import("../../cni/plugin/server.js");
    const { bridgeHandlers, useRtnetlink } = await import("../../cni/plugin/bridge.js");
    useRtnetlink();
    cniServer = await startCniServer(o.cniSocket, bridgeHandlers, (e) => log.warn({ err: String(e) }, "cni socket"));
    log.info({ socket: o.cniSocket }, "serving podwire-cni");
  }
  if (o.proxyMode === "userspace") {
    components.push(
      new InProcessUserspaceProxy(
        {
          kubeconfig: o.kubeconfig,
          nodeName: o.nodeName,
          nodeIP: o.nodeIP,
          metricsAddress: "127.0.0.1:10249",
          ...(o.iptablesBackend && o.iptablesBackend !== "auto" ? { backend: o.iptablesBackend } : {}),
        },
        log,
      ),
    );
    childMetrics.push("http://127.0.0.1:10249/metrics");
  } else if (o.proxyMode !== "none") {
    components.push(
      new ChildComponent(
        "proxy",
        [
          "proxy",
          ...common,
          "--node-name",
          o.nodeName,
          "--node-ip",
          o.nodeIP,
          "--proxy-mode",
          o.proxyMode,
          "--cluster-cidr",
          o.clusterCIDR,
          "--metrics-bind-address",
          "127.0.0.1:10249",
          ...(o.iptablesBackend ? ["--iptables-backend", o.iptablesBackend] : []),
          ...(o.proxyMinSyncPeriod ? ["--iptables-min-sync-period", o.proxyMinSyncPeriod] : []),
        ],
        log,
        sink,
      ),
    );
    childMetrics.push("http://127.0.0.1:10249/metrics");
  }
  if (o.dns) {
    components.push(
      new ChildComponent(
        "dns",
        [
          "dns",
          ...common,
          "--listen",
          o.dnsListen,
          "--zone",
          o.clusterDomain,
          "--metrics-bind-address",
          "127.0.0.1:9153",
        ],
        log,
        sink,
      ),
    );
    childMetrics.push("http://127.0.0.1:9153/metrics");
  }

  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: "podwire_agent_" });
  new Gauge({
    name: "podwire_kubelet_running_pods",
    help: "Pods with a worker on this node",
    registers: [registry],
    collect() {
      this.set(kubelet.workerList().filter((w) => !w.terminated).length);
    },
  });
  new Gauge({
    name: "podwire_kubelet_running_containers",
    help: "Containers running on this node",
    registers: [registry],
    collect() {
      let n = 0;
      for (const w of kubelet.workerList()) for (const c of w.containers.values()) if (c.state.kind === "running") n++;
      this.set(n);
    },
  });
  new Counter({
    name: "podwire_kubelet_status_writes_total",
    help: "Pod status writes",
    registers: [registry],
    collect() {
      this.reset();
      this.inc(kubelet.stats.statusWrites);
    },
  });
  new Counter({
    name: "podwire_kubelet_node_heartbeats_total",
    help: "Node status heartbeats",
    registers: [registry],
    collect() {
      this.reset();
      this.inc(kubelet.stats.heartbeats);
    },
  });
  const up = new Gauge({
    name: "podwire_agent_component_up",
    help: "1 when the component runs",
    labelNames: ["component"],
    registers: [registry],
  });

  for (const c of components) await c.start();
  await kubelet.start();

  let metrics: Server | null = null;
  if (o.metricsAddr) {
    const i = o.metricsAddr.lastIndexOf(":");
    const host = o.metricsAddr.slice(0, i) || "0.0.0.0";
    const port = Number(o.metricsAddr.slice(i + 1));
    metrics = createServer(async (req, res) => {
      if (req.url === "/healthz") {
        res.end("ok");
        return;
      }
      if (req.url !== "/metrics") {
        res.statusCode = 404;
        res.end();
        return;
      }
      up.set({ component: "kubelet" }, 1);
      for (const c of components) up.set({ component: c.name }, c.healthy() ? 1 : 0);
      const parts = [await registry.metrics()];
      for (const url of childMetrics) {
        try {
          const r = await fetch(url, { signal: AbortSignal.timeout(2000) });
          if (r.ok) parts.push(await r.text());
        } catch {
          // a child that is restarting has no metrics this scrape
        }
      }
      res.setHeader("content-type", registry.contentType);
      res.end(parts.join("\n"));
    });
    await new Promise<void>((resolve, reject) => {
      metrics?.once("error", reject);
      metrics?.listen(port, host, () => resolve());
    });
  }
  log.info(
    { node: o.nodeName, ip: o.nodeIP, components: ["kubelet", ...components.map((c) => c.name)] },
    "agent running",
  );
  return {
    kubelet,
    components,
    metrics,
    stop: async () => {
      await kubelet.stop(false);
      await Promise.all(components.map((c) => c.stop()));
      if (cniServer && o.cniSocket) {
        cniServer.close();
        rmSync(o.cniSocket, { force: true });
      }
      source.stop();
      await new Promise<void>((r) => (metrics ? metrics.close(() => r()) : r()));
    },
  };
}
