/**
 * The one place that knows how podwire code enters another network namespace.
 *
 * Node has no setns(2), and a thread-per-namespace trick is impossible in a single-threaded runtime, so podwire
 * never switches the namespace of its own process. Instead every namespaced action is a child process started
 * with `nsenter --net=<path>`: commands (`ip`, `iptables-restore`, `conntrack`, `sysctl`) and, when a
 * long-lived listener is needed inside a namespace, a node process. nsenter (util-linux) is used rather than
 * `ip netns exec` because it neither remounts /sys nor bind-mounts /etc/netns files, so it is cheaper and
 * behaves the same for named (`/run/netns/NAME`) and pid-based (`/proc/PID/ns/net`) namespaces.
 */
import { type ChildProcess, type SpawnOptions, spawn } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { type RunOptions, type RunResult, run } from "./exec.js";

const NETNS_DIR = "/run/netns";

/** A namespace reference: a name under /run/netns, or an absolute path to a netns file. `null` = current. */
export type NetnsRef = string | null;

export function netnsPath(ns: string): string {
  return ns.startsWith("/") ? ns : `${NETNS_DIR}/${ns}`;
}

function wrap(ns: NetnsRef, file: string, args: string[]): [string, string[]] {
  if (ns === null) return [file, args];
  return ["nsenter", [`--net=${netnsPath(ns)}`, "--", file, ...args]];
}

/** Runs a command inside a network namespace and collects its output. */
export function runIn(ns: NetnsRef, file: string, args: string[], opts?: RunOptions): Promise<RunResult> {
  const [f, a] = wrap(ns, file, args);
  return run(f, a, opts);
}

/** Starts a long-lived process inside a network namespace (e.g. a test backend or a daemon). */
export function spawnIn(ns: NetnsRef, file: string, args: string[], opts: SpawnOptions = {}): ChildProcess {
  const [f, a] = wrap(ns, file, args);
  return spawn(f, a, opts);
}

/** Runs `ip …` in a namespace. */
export function ip(ns: NetnsRef, ...args: string[]): Promise<RunResult> {
  return runIn(ns, "ip", args);
}

/** Creates a named network namespace with loopback up. */
export async function addNetns(name: string): Promise<void> {
  await run("ip", ["netns", "add", name]);
  await ip(name, "link", "set", "lo", "up");
}

/** Deletes a named network namespace; missing is fine (idempotent). */
export async function delNetns(name: string): Promise<void> {
  if (!existsSync(netnsPath(name))) return;
  await run("ip", ["netns", "delete", name], { check: false });
}

/** Names of the namespaces under /run/netns that start with the prefix. */
export function listNetns(prefix = ""): string[] {
  if (!existsSync(NETNS_DIR)) return [];
  return readdirSync(NETNS_DIR).filter((n) => n.startsWith(prefix));
}

/** Deletes every named namespace with the prefix (cleanup after a crash or a failed test). */
export async function delNetnsByPrefix(prefix: string): Promise<void> {
  if (!prefix) throw new Error("refusing to delete namespaces with an empty prefix");
  for (const n of listNetns(prefix)) await delNetns(n);
}

/** Sets a sysctl inside a namespace (`net.ipv4.ip_forward=1`). */
export async function sysctl(ns: NetnsRef, key: string, value: string): Promise<void> {
  await runIn(ns, "sysctl", ["-q", "-w", `${key}=${value}`]);
}

/**
 * Kubelet addition: join several namespaces of a running process (a pod's pause process holds the pod's net, UTS
 * and mount namespaces; the mount namespace carries the pod's bind-mounted /etc/resolv.conf and /etc/hosts).
 * `wd` is the working directory inside the joined mount namespace (nsenter --wd).
 */
export type NsKind = "net" | "uts" | "mount" | "ipc";

function wrapProcess(
  pid: number,
  kinds: readonly NsKind[],
  file: string,
  args: string[],
  wd?: string,
): [string, string[]] {
  const flags = kinds.map((k) => `--${k}`);
  return ["nsenter", [`--target=${pid}`, ...flags, ...(wd ? [`--wd=${wd}`] : []), "--", file, ...args]];
}

/** Starts a process inside the namespaces of process `pid`. */
export function spawnInProcess(
  pid: number,
  kinds: readonly NsKind[],
  file: string,
  args: string[],
  opts: SpawnOptions & { wd?: string } = {},
): ChildProcess {
  const [f, a] = wrapProcess(pid, kinds, file, args, opts.wd);
  return spawn(f, a, opts);
}

/** Runs a command inside the namespaces of process `pid` and collects its output. */
export function runInProcess(
  pid: number,
  kinds: readonly NsKind[],
  file: string,
  args: string[],
  opts: RunOptions & { wd?: string } = {},
): Promise<RunResult> {
  const [f, a] = wrapProcess(pid, kinds, file, args, opts.wd);
  return run(f, a, opts);
}
