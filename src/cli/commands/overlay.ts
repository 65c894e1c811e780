import type { Command } from "commander";
import type { Node } from "../../api/index.js";
import { OverlayAgent, type OverlayLogger } from "../../../cni/overlay/agent.js";
import { removeRules } from "../../../cni/overlay/masq.js";
import { DEFAULT_SUBNET_FILE } from "../../../cni/subnetenv.js";
import { UsageError } from "../errors.js";
import { boolArg, collect, intArg } from "../program.js";

interface OverlayFlags {
  kubeconfig?: string;
  objects?: string[];
  nodeName?: string;
  iface?: string;
  publicIp?: string;
  directRouting?: boolean;
  clusterCidr: string;
  subnetFile: string;
  ipMasq: boolean;
  iptablesForwardRules: boolean;
  resync: number;
  mtu?: number;
  once?: boolean;
  cleanupRules?: boolean;
  cniSocket?: string;
  cniNetwork?: string[];
  cniDataDir: string;
}

const stderrLog: OverlayLogger = {
  info: (o, m) => process.stderr.write(`${JSON.stringify({ level: "info", msg: m, ...o })}\n`),
  warn: (o, m) => process.stderr.write(`${JSON.stringify({ level: "warn", msg: m, ...o })}\n`),
};

/** `podwire overlay`: flannel-style VXLAN overlay agent (see cni/overlay/agent.ts). */
export function registerOverlay(program: Command): void {
  program
    .command("overlay")
    .description("flannel-style VXLAN overlay agent: VTEP, peers' neigh/FDB/routes, subnet.env, masquerade")
    .option("--kubeconfig <path>", "kubeconfig of the cluster (Node informer; publishes flannel annotations)")
    .option("--objects <file>", "read Nodes from a YAML/JSON file instead of an apiserver (repeatable)", collect)
    .option("--node-name <name>", "this node's name (default: NODE_NAME)")
    .option("--iface <name>", "underlay interface (default: the one holding the node's InternalIP)")
    .option("--public-ip <ip>", "VTEP source address (default: flannel public-ip-overwrite, else InternalIP)")
    .option("--direct-routing", "route directly (no encapsulation) to nodes on the same L2")
    .option("--cluster-cidr <cidr>", "cluster pod network (flannel Network)", "10.244.0.0/16")
    .option("--subnet-file <path>", "where to write subnet.env", DEFAULT_SUBNET_FILE)
    .option("--ip-masq <bool>", "masquerade traffic leaving the cluster CIDR", boolArg, true)
    .option("--iptables-forward-rules <bool>", "add FORWARD accepts for the cluster CIDR", boolArg, true)
    .option("--resync <seconds>", "full resync period", intArg(1, 3600), 5)
    .option("--mtu <n>", "VTEP MTU (default underlay MTU - 50)", intArg(68, 65535))
    .option("--cni-socket <path>", "serve podwire-cni requests on this unix socket (conflist agentSocket)")
    .option(
      "--cni-network <name>",
      "on start, free IPAM entries of this network whose sandbox is gone (repeatable)",
      collect,
    )
    .option("--cni-data-dir <dir>", "host-local data dir of --cni-network", "/var/lib/cni/networks")
    .option("--once", "sync once and exit (exit 1 when not ready)")
    .option("--cleanup-rules", "remove podwire's masquerade/forward chains and exit")
    .action(async (f: OverlayFlags) => {
      if (f.cleanupRules) {
        await removeRules();
        return;
      }
      const nodeName = f.nodeName ?? process.env.NODE_NAME;
      if (!nodeName) throw new UsageError("--node-name (or NODE_NAME) is required");
      if (!f.objects?.length && !f.kubeconfig && !process.env.KUBECONFIG)
        throw new UsageError("one of --objects or --kubeconfig is required");
      if (!/^\d+\.\d+\.\d+\.\d+\/\d+$/.test(f.clusterCidr))
        throw new UsageError(`invalid --cluster-cidr ${f.clusterCidr}`);
      const { informerSource } = await import("../../client/index.js");
      const source = informerSource({ kubeconfig: f.kubeconfig, objects: f.objects });
      const informer = source.informer<Node>("Node");
      const client = source.client;
      const agent = new OverlayAgent(
        {
          nodeName,
          ...(f.iface ? { iface: f.iface } : {}),
          ...(f.publicIp ? { publicIp: f.publicIp } : {}),
          directRouting: !!f.directRouting,
          clusterCidr: f.clusterCidr,
          subnetFile: f.subnetFile,
          ipMasq: f.ipMasq,
          forwardRules: f.iptablesForwardRules,
          resyncMs: f.resync * 1000,
          ...(f.mtu ? { mtu: f.mtu } : {}),
        },
        {
          nodes: () => informer.list(),
          log: stderrLog,
          ...(client
            ? {
                publish: async (annotations: Record<string, string>) => {
                  const r = await client.patch("Node", undefined, nodeName, { metadata: { annotations } }, "strategic");
                  if (!r.ok) throw new Error(`patch node ${nodeName}: ${r.error.message}`);
                },
              }
            : {}),
        },
      );
      await informer.synced;
      if (f.cniNetwork?.length) {
        const { reclaimOrphans } = await import("../../../cni/plugin/reclaim.js");
        for (const net of f.cniNetwork) {
          try {
            const freed = await reclaimOrphans(net, f.cniDataDir);
            if (freed.length) stderrLog.info({ network: net, freed }, "freed IPs of sandboxes that no longer exist");
          } catch (e) {
            stderrLog.warn({ network: net, err: String(e) }, "IPAM reclaim failed");
          }
        }
      }
      if (f.once) {
        const r = await agent.sync();
        await agent.stop();
        source.stop();
        process.stdout.write(`${JSON.stringify(r)}\n`);
        if (!r.ready || r.errors.length) process.exitCode = 1;
        return;
      }
      informer.onChange(() => agent.trigger());
      agent.start();
      let server: import("node:net").Server | undefined;
      if (f.cniSocket) {
        const { startCniServer } = await import("../../../cni/plugin/server.js");
        const { bridgeHandlers, useRtnetlink } = await import("../../../cni/plugin/bridge.js");
        useRtnetlink();
        server = await startCniServer(f.cniSocket, bridgeHandlers, (e) =>
          stderrLog.warn({ err: String(e) }, "cni socket"),
        );
        stderrLog.info({ socket: f.cniSocket }, "serving podwire-cni");
      }
      await new Promise<void>((resolve) => {
        const stop = () => {
          process.off("SIGTERM", stop);
          process.off("SIGINT", stop);
          resolve();
        };
        process.on("SIGTERM", stop);
        process.on("SIGINT", stop);
      });
      server?.close();
      if (f.cniSocket) (await import("node:fs")).rmSync(f.cniSocket, { force: true });
      await agent.stop();
      source.stop();
    });
}
