/**
 * A throwaway network for proxier tests: a "node" namespace (where the rules go) with a client namespace on
 * 198.18.0.0/24 and backend "pod" namespaces on 10.244.N.0/24, each connected to the node by a veth pair.
 * Everything lives in namespaces with the scope's prefix; cleanup() removes it all.
 */
import type { ChildProcess } from "node:child_process";
import { once } from "node:events";
import { ip, runIn, spawnIn, sysctl } from "../../../src/netlinux/netns.js";
import { NetnsScope } from "../../support/netns.js";

export const NODE_IP = "198.18.0.1";
export const CLIENT_IP = "198.18.0.2";
export const EXTERNAL_IP = "198.18.0.100";
const peerJs = new URL("./peer.js", import.meta.url).pathname;

export class ProxyWorld {
  readonly scope = new NetnsScope("px");
  node = "";
  client = "";
  readonly backends: { ns: string; ip: string; name: string; proc?: ChildProcess }[] = [];

  async setup(nBackends: number): Promise<void> {
    this.node = await this.scope.add("node");
    this.client = await this.scope.add("cli");
    await sysctl(this.node, "net.ipv4.ip_forward", "1");
    // A fresh namespace's per-host ICMP rate limiter starts without tokens; REJECT's port-unreachable must go out.
    await sysctl(this.node, "net.ipv4.icmp_ratelimit", "0");
    await ip(this.node, "link", "add", "vcli", "type", "veth", "peer", "name", "eth0", "netns", this.client);
    await ip(this.node, "addr", "add", `${NODE_IP}/24`, "dev", "vcli");
    await ip(this.node, "link", "set", "vcli", "up");
    await ip(this.client, "addr", "add", `${CLIENT_IP}/24`, "dev", "eth0");
    await ip(this.client, "link", "set", "eth0", "up");
    await ip(this.client, "route", "add", "default", "via", NODE_IP);
    // Like a real node, the node has a default route (to the client namespace, which does not forward), so
    // packets for service IPs without endpoints are routed and meet the filter rules, not "network unreachable".
    await ip(this.node, "route", "add", "default", "via", CLIENT_IP);
    for (let i = 1; i <= nBackends; i++) {
      const ns = await this.scope.add(`b${i}`);
      const podIP = `10.244.${i}.2`;
      await ip(this.node, "link", "add", `vb${i}`, "type", "veth", "peer", "name", "eth0", "netns", ns);
      await ip(this.node, "addr", "add", `10.244.${i}.1/24`, "dev", `vb${i}`);
      await ip(this.node, "link", "set", `vb${i}`, "up");
      await ip(ns, "addr", "add", `${podIP}/24`, "dev", "eth0");
      await ip(ns, "link", "set", "eth0", "up");
      await ip(ns, "route", "add", "default", "via", `10.244.${i}.1`);
      const b: { ns: string; ip: string; name: string; proc?: ChildProcess } = { ns, ip: podIP, name: `backend-${i}` };
      b.proc = spawnIn(ns, process.execPath, [peerJs, "server", b.name, "8080", "5353"], {
        stdio: ["ignore", "pipe", "inherit"],
      });
      await once(b.proc.stdout!, "data");
      this.backends.push(b);
    }
  }

  /** Runs the peer client inside the client namespace (or another one) and returns the replies. */
  async tcp(host: string, port: number, count: number, from = this.client): Promise<string[]> {
    const r = await runIn(from, process.execPath, [peerJs, "tcp", host, String(port), String(count)]);
    return JSON.parse(r.stdout) as string[];
  }

  async udp(host: string, port: number, count: number, sport?: number, from = this.client): Promise<string[]> {
    const args = [peerJs, "udp", host, String(port), String(count), ...(sport ? [String(sport)] : [])];
    const r = await runIn(from, process.execPath, args);
    return JSON.parse(r.stdout) as string[];
  }

  async cleanup(): Promise<void> {
    for (const b of this.backends) if (b.proc?.pid && b.proc.exitCode === null) b.proc.kill("SIGKILL");
    await this.scope.cleanup();
  }
}

/** Counts replies per value. */
export function tally(replies: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of replies) out[r] = (out[r] ?? 0) + 1;
  return out;
}
