import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { Command } from "commander";
import { parse as parseYaml } from "yaml";
import { TokenFile } from "../../apiserver/auth.js";
import { writeKubeconfig } from "../../apiserver/kubeconfig.js";
import { startApiServer } from "../../apiserver/server.js";
import { UsageError } from "../errors.js";
import { collectCsv } from "../program.js";

interface ServerFlags {
  dataDir?: string;
  listen: string;
  storage: string;
  etcdEndpoints: string[];
  serviceClusterIpRange: string;
  serviceNodePortRange: string;
  clusterCidr: string;
  controllers: string[];
  advertiseAddress?: string;
  tlsSan: string[];
}

function portRange(s: string): [number, number] {
  const m = /^(\d+)-(\d+)$/.exec(s);
  if (!m || Number(m[1]) > Number(m[2]) || Number(m[2]) > 65535 || Number(m[1]) < 1)
    throw new UsageError(`invalid --service-node-port-range ${s} (want LOW-HIGH)`);
  return [Number(m[1]), Number(m[2])];
}

/** Runs the in-process controllers/scheduler when their modules exist in this build. */
async function startOptional(
  modulePath: string,
  fn: string,
  opts: Record<string, unknown>,
): Promise<{ stop?: () => unknown } | undefined> {
  const url = new URL(modulePath, import.meta.url);
  if (!existsSync(url)) return undefined;
  try {
    const mod = (await import(url.href)) as Record<string, unknown>;
    const start = mod[fn];
    if (typeof start !== "function") return undefined;
    return ((await start(opts)) ?? undefined) as { stop?: () => unknown } | undefined;
  } catch (err) {
    // The API keeps serving; the operator sees why the component is missing.
    process.stderr.write(`podwire server: ${fn} failed: ${err instanceof Error ? err.message : String(err)}\n`);
    return undefined;
  }
}

/** `podwire server`: bundled control plane: apiserver, controllers, scheduler. */
export function registerServer(program: Command): void {
  const cmd = program
    .command("server")
    .description("bundled control plane: apiserver (HTTPS, sqlite or etcd storage), controllers, scheduler")
    // Not commander-required: that would also demand it before the `kubeconfig` subcommand.
    .option("--data-dir <dir>", "state, PKI, tokens and admin.kubeconfig live here (required)")
    .option("--listen <host:port>", "HTTPS listen address", "127.0.0.1:6443")
    .option("--storage <backend>", "sqlite | etcd", "sqlite")
    .option("--etcd-endpoints <urls>", "etcd client URLs (comma-separated, repeatable)", collectCsv, [])
    .option("--service-cluster-ip-range <cidr>", "ClusterIP range", "10.96.0.0/12")
    .option("--service-node-port-range <range>", "NodePort range", "30000-32767")
    .option("--cluster-cidr <cidr>", "pod network, split into per-node podCIDRs by node IPAM", "10.244.0.0/16")
    .option("--controllers <names>", "controllers to run (comma-separated; * = all, '' = none)", collectCsv, [])
    .option("--advertise-address <ip>", "address the kubernetes Service's endpoints point at")
    .option(
      "--tls-san <name>",
      "extra subject alternative name for the serving certificate (repeatable)",
      collectCsv,
      [],
    )
    .action(async (flags: ServerFlags) => {
      if (!flags.dataDir) throw new UsageError("--data-dir is required");
      if (flags.storage !== "sqlite" && flags.storage !== "etcd")
        throw new UsageError(`invalid --storage ${flags.storage} (sqlite|etcd)`);
      if (flags.storage === "etcd" && flags.etcdEndpoints.length === 0)
        throw new UsageError("--storage etcd needs --etcd-endpoints");
      if (!/^\d+\.\d+\.\d+\.\d+\/\d+$/.test(flags.serviceClusterIpRange))
        throw new UsageError(`invalid --service-cluster-ip-range ${flags.serviceClusterIpRange}`);
      if (!/^[^:]*:\d+$/.test(flags.listen) && !/^\[.*\]:\d+$/.test(flags.listen))
        throw new UsageError(`invalid --listen ${flags.listen}`);
      const server = await startApiServer({
        dataDir: flags.dataDir,
        listen: flags.listen,
        storage: flags.storage,
        etcdEndpoints: flags.etcdEndpoints,
        serviceClusterIPRange: flags.serviceClusterIpRange,
        serviceNodePortRange: portRange(flags.serviceNodePortRange),
        advertiseAddress: flags.advertiseAddress,
        extraSANs: flags.tlsSan,
      });
      process.stderr.write(`podwire server: listening on ${server.url}; KUBECONFIG=${server.kubeconfigPath}\n`);
      // --controllers follows kube-controller-manager: `*` all, `-name` removes one; `scheduler` is one of them here.
      const list = flags.controllers.length ? flags.controllers : ["*"];
      const none = list.length === 1 && (list[0] === "none" || list[0] === "");
      const schedulerOn = !none && !list.includes("-scheduler") && (list.includes("*") || list.includes("scheduler"));
      const controllerList = list.filter((c) => c !== "scheduler" && c !== "-scheduler");
      const parts: ({ stop?: () => unknown } | undefined)[] = [];
      if (!none && controllerList.length > 0)
        parts.push(
          await startOptional("../../controllers/index.js", "startControllers", {
            kubeconfig: server.kubeconfigPath,
            controllers: controllerList,
            clusterCIDR: flags.clusterCidr,
          }),
        );
      if (schedulerOn)
        parts.push(
          await startOptional("../../scheduler/index.js", "startScheduler", { kubeconfig: server.kubeconfigPath }),
        );
      await new Promise<void>((resolve) => {
        const stop = () => resolve();
        process.once("SIGTERM", stop);
        process.once("SIGINT", stop);
      });
      const timer = setTimeout(() => process.exit(1), 9000);
      timer.unref();
      for (const p of parts) await Promise.resolve(p?.stop?.()).catch(() => {});
      await server.close();
    });

  cmd
    .command("kubeconfig")
    .description("write a kubeconfig for a node (user system:node:NAME) or the admin of a server's data dir")
    .requiredOption("--data-dir <dir>", "the server's data dir")
    .option("--node <name>", "node name (omit for the admin)")
    .option("--out <file>", "output file (default: stdout)")
    .action((flags: { dataDir: string; node?: string; out?: string }) => {
      const adminPath = join(flags.dataDir, "admin.kubeconfig");
      if (!existsSync(adminPath))
        throw new Error(`${adminPath} does not exist: start podwire server with this --data-dir first`);
      const admin = parseYaml(readFileSync(adminPath, "utf8")) as {
        clusters: { cluster: { server: string; "certificate-authority-data": string } }[];
      };
      const cluster = admin.clusters[0]?.cluster;
      if (!cluster) throw new Error(`${adminPath} has no cluster`);
      const ca = Buffer.from(cluster["certificate-authority-data"], "base64").toString();
      const tokens = new TokenFile(flags.dataDir);
      const user = flags.node ? `system:node:${flags.node}` : "podwire-admin";
      const token = tokens.tokenFor(user, flags.node ? ["system:nodes"] : ["system:masters"]);
      const out = flags.out ?? "/dev/stdout";
      writeKubeconfig(out, cluster.server, ca, user, token);
    });
}
