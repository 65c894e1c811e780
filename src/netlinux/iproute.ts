/**
 * Thin helpers over iproute2 (`ip -j …`, `ip -batch -`) run in a namespace through netns.ts. Used where one
 * process must configure another namespace (Node cannot setns): the CNI plugin configuring a pod namespace, and
 * link creation (veth, bridge, vxlan) that the `netlink` package has no typed builders for.
 */
import { type NetnsRef, runIn } from "./netns.js";
import { CommandError } from "./exec.js";

export interface IpLink {
  ifindex: number;
  ifname: string;
  mtu: number;
  address?: string;
  operstate?: string;
  master?: string;
  flags?: string[];
  linkinfo?: {
    info_kind?: string;
    info_data?: Record<string, unknown>;
    info_slave_kind?: string;
    info_slave_data?: Record<string, unknown>;
  };
  addr_info?: { family: string; local: string; prefixlen: number }[];
}

export interface IpRoute {
  dst: string;
  gateway?: string;
  dev?: string;
  flags?: string[];
  protocol?: string;
  scope?: string;
}

/** `ip -j ARGS`, parsed; `undefined` when ip exits non-zero (e.g. the device does not exist). */
export async function ipJson<T>(ns: NetnsRef, args: string[]): Promise<T | undefined> {
  const r = await runIn(ns, "ip", ["-j", ...args], { check: false });
  if (r.code !== 0) return undefined;
  const t = r.stdout.trim();
  return (t ? JSON.parse(t) : []) as T;
}

/** Runs several `ip` commands in one process. Throws CommandError (stderr names the failing line) on error. */
export async function ipBatch(ns: NetnsRef, lines: string[], opts: { force?: boolean } = {}): Promise<void> {
  if (lines.length === 0) return;
  await runIn(ns, "ip", [...(opts.force ? ["-force"] : []), "-batch", "-"], { input: `${lines.join("\n")}\n` });
}

/** `ip -j -batch -` for show commands: one parsed JSON array per line. */
export async function ipJsonBatch(ns: NetnsRef, lines: string[]): Promise<unknown[][]> {
  const r = await runIn(ns, "ip", ["-j", "-force", "-batch", "-"], { input: `${lines.join("\n")}\n`, check: false });
  return r.stdout
    .split("\n")
    .filter((l) => l.trim().startsWith("["))
    .map((l) => JSON.parse(l) as unknown[]);
}

export function isNotFound(e: unknown): boolean {
  return (
    e instanceof CommandError && /Cannot find device|does not exist|No such device|not exist/i.test(e.result.stderr)
  );
}
