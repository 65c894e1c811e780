import type { Command } from "commander";
import { dirname } from "node:path";
import pino from "pino";
import { startAgent } from "../../agent/agent.js";
import { podwireBin } from "../../agent/components.js";
import { defaultNodeIP } from "../../kubelet/node.js";
import { UsageError } from "../errors.js";
import { boolArg, collectCsv, intArg } from "../program.js";

interface AgentFlags {
  kubeconfig: string;
  nodeName?: string;
  nodeIp?: string;
  proxyMode: string;
  overlay: boolean;
  dns: boolean;
  dnsListen: string;
  rootDir: string;
  cniConfDir: string;
  cniBinDir?: string[];
  cniCacheDir: string;
  clusterDns?: string[];
  clusterDomain: string;
  clusterCidr: string;
  kubeletPort: number;
  metricsAddr?: string;
  netnsPrefix?: string;
  heartbeatSeconds: number;
  podCidr?: string;
  subnetFile: string;
  iptablesMinSyncPeriod: string;
  iptablesBackend: string;
  tlsCertFile?: string;
  tlsPrivateKeyFile?: string;
  clientCaFile?: string;
  anonymousAuth: boolean;
  cniSocket?: string;
}

/** `podwire agent`: the node agent: kubelet + proxier + overlay (+ DNS) in one process tree, one log stream. */
export function registerAgent(program: Command): void {
  program
    .command("agent")
    .description("run the node agent: kubelet + proxier + overlay (+ DNS)")
    .requiredOption("--kubeconfig <path>", "kubeconfig of the apiserver")
    .option("--node-name <name>", "this node's name (default: hostname)")
    .option("--node-ip <ip>", "this node's InternalIP (default: first global IPv4 address)")
    .option("--proxy-mode <mode>", "iptables | userspace | none", "iptables")
    .option("--no-overlay", "do not run the overlay agent")
    .option("--dns", "also run cluster DNS on this node", false)
    .option("--dns-listen <addr>", "DNS listen address when --dns", "0.0.0.0:53")
    .option("--root-dir <dir>", "kubelet state (pod files, logs)", "/var/lib/podwire/agent")
    .option("--cni-conf-dir <dir>", "CNI network configuration directory", "/etc/cni/net.d")
    .option("--cni-bin-dir <dirs>", "CNI plugin directories (comma-separated, repeatable)", collectCsv)
    .option("--cni-cache-dir <dir>", "CNI result cache", "/var/lib/cni")
    .option("--cluster-dns <ips>", "cluster DNS server(s) for pods", collectCsv)
    .option("--cluster-domain <zone>", "cluster domain", "cluster.local")
    .option("--cluster-cidr <cidr>", "pod network (for the proxier)", "10.244.0.0/16")
    .option("--kubelet-port <n>", "kubelet HTTP port (logs/exec)", intArg(0, 65535), 10250)
    .option("--metrics-addr <host:port>", "metrics endpoint (default <node-ip>:10249)")
    .option("--netns-prefix <p>", "name prefix of pod network namespaces (default podwire-<node>-)")
    .option("--pod-cidr <cidr>", "set this Node's spec.podCIDR at registration when it has none")
    .option(
      "--subnet-file <path>",
      "subnet.env written by the overlay (podwire-cni reads it)",
      "/run/flannel/subnet.env",
    )
    .option("--heartbeat-seconds <n>", "node status update period", intArg(1, 300), 10)
    .option(
      "--iptables-min-sync-period <duration>",
      "iptables proxier: minimum time between syncs, start to start (kube-proxy's default is 1s; short keeps service programming latency low)",
      "50ms",
    )
    .option("--iptables-backend <backend>", "iptables proxier backend: auto | legacy | nft", "auto")
    .option("--tls-cert-file <path>", "kubelet API serving certificate (PEM; default: self-signed in the root dir)")
    .option("--tls-private-key-file <path>", "key of --tls-cert-file (PEM)")
    .option(
      "--client-ca-file <path>",
      "kubelet API: CA bundle (PEM) that verifies callers' client certificates (the apiserver's kubelet-client cert)",
    )
    .option(
      "--anonymous-auth <bool>",
      "kubelet API: serve unauthenticated requests as system:anonymous (true, the kubelet's default) or answer 401 (false)",
      boolArg,
      true,
    )
    .option("--cni-socket <path>", "serve podwire-cni on this unix socket (the conflist's agentSocket)")
    .action(async (f: AgentFlags) => {
      if (!["iptables", "userspace", "none"].includes(f.proxyMode))
        throw new UsageError(`--proxy-mode must be iptables, userspace or none, got ${f.proxyMode}`);
      const { hostname } = await import("node:os");
      const nodeName = f.nodeName ?? hostname();
      const nodeIP = f.nodeIp ?? defaultNodeIP();
      if (!nodeIP) throw new UsageError("no global IPv4 address found; pass --node-ip");
      if (!["auto", "legacy", "nft"].includes(f.iptablesBackend))
        throw new UsageError(`--iptables-backend must be auto, legacy or nft, got ${f.iptablesBackend}`);
      if (!/^\d+(\.\d+)?(ms|s|m|h)?$/.test(f.iptablesMinSyncPeriod))
        throw new UsageError(`invalid --iptables-min-sync-period: ${f.iptablesMinSyncPeriod} (e.g. 100ms, 1s)`);
      if (!f.tlsCertFile !== !f.tlsPrivateKeyFile)
        throw new UsageError("--tls-cert-file and --tls-private-key-file go together");
      const log = pino({ base: { node: nodeName } }, pino.destination(2));
      const sink = (line: string) => process.stderr.write(`${line}\n`);
      const agent = await startAgent(
        {
          kubeconfig: f.kubeconfig,
          nodeName,
          nodeIP,
          proxyMode: f.proxyMode as "iptables" | "userspace" | "none",
          overlay: f.overlay,
          dns: f.dns,
          dnsListen: f.dnsListen,
          rootDir: f.rootDir,
          cniConfDir: f.cniConfDir,
          cniBinDirs: f.cniBinDir ?? [dirname(podwireBin()), "/opt/cni/bin", "/usr/lib/cni"],
          cniCacheDir: f.cniCacheDir,
          clusterDNS: f.clusterDns ?? ["10.96.0.10"],
          clusterDomain: f.clusterDomain,
          clusterCIDR: f.clusterCidr,
          kubeletPort: f.kubeletPort,
          metricsAddr: f.metricsAddr ?? `${nodeIP}:10249`,
          netnsPrefix: f.netnsPrefix ?? `podwire-${nodeName}-`,
          heartbeatMs: f.heartbeatSeconds * 1000,
          ...(f.podCidr ? { podCIDR: f.podCidr } : {}),
          subnetFile: f.subnetFile,
          proxyMinSyncPeriod: f.iptablesMinSyncPeriod,
          iptablesBackend: f.iptablesBackend as "auto" | "legacy" | "nft",
          ...(f.tlsCertFile && f.tlsPrivateKeyFile
            ? { tlsCertFile: f.tlsCertFile, tlsPrivateKeyFile: f.tlsPrivateKeyFile }
            : {}),
          ...(f.clientCaFile ? { clientCAFile: f.clientCaFile } : {}),
          anonymousAuth: f.anonymousAuth,
          ...(f.cniSocket ? { cniSocket: f.cniSocket } : {}),
        },
        log,
        sink,
      );
      await new Promise<void>((resolve) => {
        const stop = () => {
          log.info({}, "stopping");
          const hard = setTimeout(() => process.exit(1), 9000);
          void agent.stop().finally(() => {
            clearTimeout(hard);
            resolve();
          });
        };
        process.once("SIGTERM", stop);
        process.once("SIGINT", stop);
      });
    });
}
