/**
 * What `podwire proxy --proxy-mode userspace` and `podwire proxy render --proxy-mode userspace` do, so the CLI file
 * only parses flags and calls one of these.
 */
import { hostname } from "node:os";
import type { KubeObject } from "../../src/api/meta.js";
import { spawnIn } from "../../src/netlinux/netns.js";
import { type UserspaceDaemon, startUserspaceDaemon } from "./daemon.js";
import { inputFromObjects, servicePorts } from "./model.js";
import { cleanupIptablesModeRules } from "./modeswitch.js";
import { parsePortRange } from "./ports.js";
import type { UserspaceLogger } from "./proxier.js";
import { renderPortalRules } from "./rules.js";
import { execRunner } from "./runner.js";

export interface UserspaceFlags {
  objects?: string[];
  kubeconfig?: string;
  nodeName?: string;
  nodeIPs?: string[];
  /** `--bind-address` (default 0.0.0.0). */
  bindAddress?: string;
  /** `--proxy-port-range` A-B | A+N. */
  proxyPortRange?: string;
  /** `--udp-timeout` in ms. */
  udpTimeoutMs?: number;
  /** `--proxy-workers`. */
  workers?: number;
  metricsBindAddress?: string;
  netns?: string;
  iptablesBackend?: "auto" | "legacy" | "nft";
}

/** A flag value the caller got wrong (the CLI maps it to exit 2). */
export class UserspaceFlagError extends Error {
  override name = "UserspaceFlagError";
}

export function validateUserspaceFlags(f: UserspaceFlags): void {
  if (f.proxyPortRange) {
    try {
      parsePortRange(f.proxyPortRange);
    } catch (e) {
      throw new UserspaceFlagError(`--proxy-port-range: ${(e as Error).message}`);
    }
  }
  const b = f.bindAddress ?? "0.0.0.0";
  if (b.startsWith("127.") || b === "::1")
    throw new UserspaceFlagError(`--bind-address ${b}: cannot proxy on localhost`);
  if (f.udpTimeoutMs !== undefined && !(f.udpTimeoutMs > 0))
    throw new UserspaceFlagError("--udp-timeout must be greater than 0");
}

/**
 * The restore payload of a full userspace sync. Proxy ports are picked at run time (by the kernel, or from
 * `--proxy-port-range`); the render numbers them in service-port order from the range start (default 36000)
 * and says so in a comment line.
 */
export function renderUserspaceFromObjects(objects: KubeObject[], f: UserspaceFlags): string {
  validateUserspaceFlags(f);
  const input = inputFromObjects(objects, f.nodeName ?? hostname().toLowerCase(), f.nodeIPs);
  const sps = servicePorts(input);
  const base = f.proxyPortRange ? parsePortRange(f.proxyPortRange).base : 36000;
  const ports = new Map(sps.map((sp, i) => [sp.key, base + i]));
  const header = `# podwire userspace portals: proxy ports numbered from ${base} in service order; at run time they are ${
    f.proxyPortRange ? `taken from ${f.proxyPortRange}` : "chosen by the kernel"
  }\n`;
  return (
    header +
    renderPortalRules(sps, {
      proxyPorts: ports,
      listenIP: f.bindAddress ?? "0.0.0.0",
      hostIP: input.nodeIPs?.[0],
    })
  );
}

/**
 * Runs the userspace proxy until SIGTERM/SIGINT. With `--netns NAME` it re-executes itself inside that
 * namespace (the proxy sockets must live where the portal rules are). Removes the iptables mode's rules first.
 */
export async function runUserspace(f: UserspaceFlags, log: UserspaceLogger, argv = process.argv): Promise<void> {
  validateUserspaceFlags(f);
  if (f.netns) {
    const args = stripNetns(argv.slice(1));
    const child = spawnIn(f.netns, process.execPath, args, { stdio: "inherit" });
    const fwd = (sig: NodeJS.Signals) => () => child.kill(sig);
    process.on("SIGTERM", fwd("SIGTERM"));
    process.on("SIGINT", fwd("SIGINT"));
    const code = await new Promise<number>((resolve) => child.on("exit", (c) => resolve(c ?? 1)));
    if (code !== 0) throw new Error(`userspace proxy in ${f.netns} exited ${code}`);
    return;
  }
  const backend = f.iptablesBackend && f.iptablesBackend !== "auto" ? f.iptablesBackend : undefined;
  const runner = await execRunner(null, backend);
  const removed = await cleanupIptablesModeRules(runner);
  if (removed) log.info("removed the iptables mode's chains (mode switch)", { chains: removed });
  const daemon: UserspaceDaemon = await startUserspaceDaemon({
    objectsFiles: f.objects,
    kubeconfig: f.kubeconfig,
    nodeName: f.nodeName ?? hostname().toLowerCase(),
    nodeIPs: f.nodeIPs,
    listenIP: f.bindAddress,
    portRange: f.proxyPortRange,
    udpTimeoutMs: f.udpTimeoutMs,
    workers: f.workers,
    metricsAddress: f.metricsBindAddress,
    runner,
    log,
    onSynced: (p, n) => log.info("synced", { generation: n, ports: Object.fromEntries(p.proxyPorts()) }),
  });
  process.stdout.write(
    `podwire proxy: userspace mode; ${daemon.proxier.proxyPorts().size} service ports${
      daemon.metricsAddress ? `; metrics on ${daemon.metricsAddress}` : ""
    }\n`,
  );
  await new Promise<void>((resolve) => {
    process.once("SIGTERM", resolve);
    process.once("SIGINT", resolve);
  });
  await daemon.stop({ cleanup: true });
}

/** argv without `--netns X` / `--netns=X`. */
export function stripNetns(args: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === "--netns") i++;
    else if (!args[i]!.startsWith("--netns=")) out.push(args[i]!);
  }
  return out;
}
