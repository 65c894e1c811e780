/**
 * conntrack(8) adapter: deletes connection-tracking entries (UDP flows pinned to a dead or absent backend),
 * optionally inside a network namespace. `FakeConntrack` records the deletions for tests.
 */
import { type NetnsRef, runIn } from "./netns.js";

/** One deletion, in kube-proxy's vocabulary (pkg/proxy/conntrack: ClearEntriesForIP/Port/NAT/PortNAT). */
export type ConntrackDeletion =
  /** flows whose original destination is `ip` */
  | { kind: "ip"; ip: string; proto: string }
  /** flows whose original destination port is `port` */
  | { kind: "port"; port: number; proto: string; family: "IPv4" | "IPv6" }
  /** flows to `origin` that were DNATed to `dest` */
  | { kind: "nat"; origin: string; dest: string; proto: string }
  /** flows to port `port` that were DNATed to `dest` */
  | { kind: "portnat"; port: number; dest: string; proto: string };

export interface Conntrack {
  delete(d: ConntrackDeletion): Promise<number>;
}

/** conntrack(8) arguments for a deletion. */
export function conntrackArgs(d: ConntrackDeletion): string[] {
  switch (d.kind) {
    case "ip":
      return ["-D", "--orig-dst", d.ip, "-p", d.proto];
    case "port":
      return ["-D", "-p", d.proto, "--dport", String(d.port), ...(d.family === "IPv6" ? ["-f", "ipv6"] : [])];
    case "nat":
      return ["-D", "--orig-dst", d.origin, "--dst-nat", d.dest, "-p", d.proto];
    case "portnat":
      return [
        "-D",
        "-p",
        d.proto,
        "--dport",
        String(d.port),
        "--dst-nat",
        d.dest,
        ...(d.dest.includes(":") ? ["-f", "ipv6"] : []),
      ];
  }
}

/** Runs conntrack(8); "0 flow entries have been deleted" (exit 1) is not an error. */
export class ConntrackRunner implements Conntrack {
  constructor(private readonly netns: NetnsRef = null) {}
  async delete(d: ConntrackDeletion): Promise<number> {
    const r = await runIn(this.netns, "conntrack", conntrackArgs(d), { check: false });
    const m = (r.stderr + r.stdout).match(/(\d+) flow entries have been deleted/);
    if (r.code !== 0 && !m) throw new Error(`conntrack ${conntrackArgs(d).join(" ")}: ${r.stderr.trim()}`);
    return m ? Number(m[1]) : 0;
  }
}

export class FakeConntrack implements Conntrack {
  readonly deletions: ConntrackDeletion[] = [];
  async delete(d: ConntrackDeletion): Promise<number> {
    this.deletions.push(d);
    return 0;
  }
}
