import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { Command } from "commander";
import pino from "pino";
import { parse as parseYaml } from "yaml";
import { TokenFile } from "../../apiserver/auth.js";
import { writeKubeconfig } from "../../apiserver/kubeconfig.js";
import { startApiServer } from "../../apiserver/server.js";
import { RestClient } from "../../client/rest.js";
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
  nodeMonitorGracePeriod: string;
  podEvictionTimeout: string;
  logLevel: string;
  kubeletCertificateAuthority?: string;
}

/** A Go duration as kube-controller-manager's flags take it (`40s`, `5m0s`, `1m30s`, `500ms`) → seconds. */
export function parseDuration(flag: string, s: string): number {
  const re = /(\d+(?:\.\d+)?)(h|ms|m|s|us|µs|ns)/gy;
  const unit: Record<string, number> = { h: 3600, m: 60, s: 1, ms: 1e-3, us: 1e-6, µs: 1e-6, ns: 1e-9 };
  if (s === "0") return 0;
  let total = 0;
  let at = 0;
  for (let m = re.exec(s); m; m = re.exec(s)) {
    total += Number(m[1]) * (unit[m[2] as string] as number);
    at = re.lastIndex;
  }
  if (at === 0 || at !== s.length) throw new UsageError(`invalid ${flag} ${s} (a duration such as 40s, 5m0s, 1m30s)`);
  return total;
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
    // kube-controller-manager's names and (1.32) defaults.
    .option(
      "--node-monitor-grace-period <duration>",
      "how long a node may go without a heartbeat before it is marked Unknown (NotReady)",
      "50s",
    )
    .option(
      "--pod-eviction-timeout <duration>",
      "how long pods stay on a node that is not Ready before they are deleted (0 = at once)",
      "5m0s",
    )
    .option(
      "--kubelet-certificate-authority <file|cluster>",
      "verify kubelets' serving certs (logs/exec) with this PEM CA file, or with this server's CA (cluster); default: not verified",
    )
    .option("--log-level <level>", "controller/scheduler log level (fatal|error|warn|info|debug|trace|silent)", "info")
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
      const nodeMonitorGracePeriod = parseDuration("--node-monitor-grace-period", flags.nodeMonitorGracePeriod);
      if (nodeMonitorGracePeriod <= 0) throw new UsageError("--node-monitor-grace-period must be positive");
      const podEvictionTimeout = parseDuration("--pod-eviction-timeout", flags.podEvictionTimeout);
      const levels = ["fatal", "error", "warn", "info", "debug", "trace", "silent"];
      if (!levels.includes(flags.logLevel))
        throw new UsageError(`invalid --log-level ${flags.logLevel} (${levels.join("|")})`);
      let kubeletCA: string | undefined;
      const kca = flags.kubeletCertificateAuthority;
      if (kca === "cluster") kubeletCA = "cluster";
      else if (kca !== undefined) {
        try {
          kubeletCA = readFileSync(kca, "utf8");
        } catch (e) {
          throw new UsageError(
            `invalid --kubelet-certificate-authority ${kca}: ${e instanceof Error ? e.message : String(e)}`,
          );
        }
        if (!kubeletCA.includes("-----BEGIN CERTIFICATE-----"))
          throw new UsageError(`invalid --kubelet-certificate-authority ${kca}: no PEM certificate in it`);
      }
      // One JSON log stream on stderr (like `podwire agent`); each component tagged.
      const log = pino({ level: flags.logLevel, base: { component: "server" } }, pino.destination(2));
      const server = await startApiServer({
        dataDir: flags.dataDir,
        listen: flags.listen,
        storage: flags.storage,
        etcdEndpoints: flags.etcdEndpoints,
        serviceClusterIPRange: flags.serviceClusterIpRange,
        serviceNodePortRange: portRange(flags.serviceNodePortRange),
        advertiseAddress: flags.advertiseAddress,
        extraSANs: flags.tlsSan,
        kubeletCertificateAuthority: kubeletCA,
      });
      process.stderr.write(`podwire server: listening on ${server.url}; KUBECONFIG=${server.kubeconfigPath}\n`);
      log.info(
        { url: server.url, storage: flags.storage, nodeMonitorGracePeriod, podEvictionTimeout },
        "apiserver listening",
      );
      // --controllers follows kube-controller-manager: `*` all, `-name` removes one; `scheduler` is one of them here.
      const list = flags.controllers.length ? flags.controllers : ["*"];
      const none = list.length === 1 && (list[0] === "none" || list[0] === "");
      const schedulerOn = !none && !list.includes("-scheduler") && (list.includes("*") || list.includes("scheduler"));
      const controllerList = list.filter((c) => c !== "scheduler" && c !== "-scheduler");
      const parts: ({ stop?: () => unknown } | undefined)[] = [];
      if (!none && controllerList.length > 0)
        parts.push(
          await startOptional("../../controllers/index.js", "startControllers", {
            // In-process: requests go through the apiserver's handler without TLS/HTTP (src/apiserver/loopback.ts).
            client: new RestClient({ transport: server.loopbackTransport("podwire-controller-manager") }),
            controllers: controllerList,
            clusterCIDR: flags.clusterCidr,
            nodeMonitorGracePeriod,
            podEvictionTimeout,
            log: log.child({ component: "controller-manager" }),
          }),
        );
      if (schedulerOn)
        parts.push(
          await startOptional("../../scheduler/index.js", "startScheduler", {
            client: new RestClient({ transport: server.loopbackTransport("podwire-scheduler") }),
            log: log.child({ component: "scheduler" }),
          }),
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
