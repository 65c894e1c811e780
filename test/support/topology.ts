/**
 * Reusable test topology: N "node" network namespaces joined by a bridge that lives in an "underlay" namespace,
 * plus empty pod namespaces per node. Nothing in the initial namespace changes: the bridge is created inside the
 * underlay namespace and every veth pair is created inside a namespace with its peer placed directly into another
 * (`ip -n UL link add uN type veth peer name eth0 netns NODE`), so no link ever appears in the initial namespace.
 *
 * API (stable, used by the CNI tests and by the kubelet/sandbox tests):
 *
 *   const topo = await Topology.create({ nodes: 3, tag: "cni" });   // namespaces <prefix>ul, <prefix>n1..n3
 *   topo.nodes[0]  // { name: "n1", ns: "<prefix>n1", iface: "eth0", ip: "198.18.0.1", prefixLen: 24, mac, podCidr: "10.244.1.0/24", dir }
 *   const pod = await topo.addPod(topo.nodes[0], "p1");   // empty netns "<prefix>n1p1" (lo up); returns { ns, path }
 *   await topo.exec(topo.nodes[0], "ip", ["-j", "route"]); // run a command inside a namespace (RunResult)
 *   const n4 = await topo.addNode();  await topo.removeNode(n4);           // grow/shrink; removing unplugs it
 *   await topo.destroy();                                 // deletes every namespace with the prefix + topo.dir
 *
 *   await Topology.sweepOrphans();  // removes leftovers of earlier runs whose owning process is dead (crash)
 *   await Topology.cleanupPrefix(prefix); // removes everything of one prefix
 *
 * Addresses: node i (1-based) gets 198.18.0.i/24 on `eth0`; pod CIDR 10.244.i.0/24 (a suggestion the caller may
 * ignore). `topo.dir` is a scratch directory (/tmp/podwire-topo/<prefix>) for per-node state such as CNI data
 * dirs; it holds an `owner` file with the creating pid so sweepOrphans can tell crashed runs from live ones.
 */
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { RunOptions, RunResult } from "../../src/netlinux/exec.js";
import { addNetns, delNetns, delNetnsByPrefix, netnsPath, runIn } from "../../src/netlinux/netns.js";
import { createUnderlay, plugIntoUnderlay } from "../../src/sandbox/network.js";

export const TOPOLOGY_ROOT = "/tmp/podwire-topo";

export interface TopologyOptions {
  /** Number of nodes to create up front (default 2). */
  nodes?: number;
  /** Short tag in the prefix (letters/digits, ≤ 4 chars), e.g. "cni". */
  tag?: string;
  /** Underlay MTU on every link (default 1500). */
  mtu?: number;
}

export interface TopoNode {
  /** Short name: n1, n2, … */
  name: string;
  /** 1-based index; the node's address is 198.18.0.<index>. */
  index: number;
  /** Network namespace name (under /run/netns). */
  ns: string;
  /** Absolute netns path (/run/netns/<ns>). */
  path: string;
  /** Underlay interface inside the node namespace. */
  iface: string;
  ip: string;
  prefixLen: number;
  /** Suggested pod CIDR for this node. */
  podCidr: string;
  /** Scratch directory for this node's state (under topo.dir). */
  dir: string;
  /** Pod namespaces created for this node. */
  pods: TopoPod[];
}

export interface TopoPod {
  name: string;
  ns: string;
  path: string;
  node: TopoNode;
}

function ownerAlive(dir: string): boolean {
  try {
    const pid = Number(readFileSync(join(dir, "owner"), "utf8").trim());
    if (!pid) return false;
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

export class Topology {
  readonly prefix: string;
  readonly underlay: string;
  readonly dir: string;
  readonly mtu: number;
  readonly nodes: TopoNode[] = [];
  private nextIndex = 1;

  private constructor(prefix: string, mtu: number) {
    this.prefix = prefix;
    this.underlay = `${prefix}ul`;
    this.dir = join(TOPOLOGY_ROOT, prefix);
    this.mtu = mtu;
  }

  /** Builds the underlay and `nodes` node namespaces. On failure everything made so far is removed. */
  static async create(opts: TopologyOptions = {}): Promise<Topology> {
    const tag = (opts.tag ?? "t").replace(/[^a-z0-9]/gi, "").slice(0, 4);
    const topo = new Topology(`pw${tag}${randomBytes(2).toString("hex")}-`, opts.mtu ?? 1500);
    try {
      mkdirSync(topo.dir, { recursive: true });
      writeFileSync(join(topo.dir, "owner"), `${process.pid}\n`);
      await createUnderlay(topo.underlay, topo.mtu);
      for (let i = 0; i < (opts.nodes ?? 2); i++) await topo.addNode();
      return topo;
    } catch (e) {
      await topo.destroy();
      throw e;
    }
  }

  /** Adds one node namespace plugged into the underlay bridge. */
  async addNode(): Promise<TopoNode> {
    const index = this.nextIndex++;
    if (index > 250) throw new Error("topology supports at most 250 nodes");
    const name = `n${index}`;
    const ns = this.prefix + name;
    const dir = join(this.dir, name);
    mkdirSync(dir, { recursive: true });
    await addNetns(ns);
    const addr = `198.18.0.${index}`;
    await plugIntoUnderlay(this.underlay, ns, `u${index}`, `${addr}/24`, this.mtu);
    const node: TopoNode = {
      name,
      index,
      ns,
      path: netnsPath(ns),
      iface: "eth0",
      ip: addr,
      prefixLen: 24,
      podCidr: `10.244.${index}.0/24`,
      dir,
      pods: [],
    };
    this.nodes.push(node);
    return node;
  }

  /** Removes a node namespace and its pod namespaces (its underlay port goes with it). */
  async removeNode(node: TopoNode): Promise<void> {
    // Not by prefix: "n1" is a prefix of "n10".
    for (const pod of [...node.pods]) await this.removePod(pod);
    // Unplugged first, synchronously: deleting a namespace returns before the kernel tears it down (cleanup_net
    // runs later, on a work queue that other tests' namespaces keep busy), and until then its veth still answers.
    await runIn(node.ns, "ip", ["link", "del", "eth0"], { check: false });
    await delNetns(node.ns);
    const i = this.nodes.indexOf(node);
    if (i >= 0) this.nodes.splice(i, 1);
  }

  /** Creates an empty pod namespace (loopback up) for a node; the CNI plugin under test wires it. */
  async addPod(node: TopoNode, name: string): Promise<TopoPod> {
    const ns = `${node.ns}${name}`;
    await addNetns(ns);
    const pod: TopoPod = { name, ns, path: netnsPath(ns), node };
    node.pods.push(pod);
    return pod;
  }

  /** Deletes a pod namespace (like a sandbox dying); idempotent. */
  async removePod(pod: TopoPod): Promise<void> {
    await delNetns(pod.ns);
    const i = pod.node.pods.indexOf(pod);
    if (i >= 0) pod.node.pods.splice(i, 1);
  }

  /** Runs a command inside a node, pod or the underlay namespace. */
  exec(where: TopoNode | TopoPod | string, file: string, args: string[], opts?: RunOptions): Promise<RunResult> {
    const ns = typeof where === "string" ? where : where.ns;
    return runIn(ns, file, args, opts);
  }

  /** Removes every namespace with this topology's prefix and its scratch directory. */
  async destroy(): Promise<void> {
    await Topology.cleanupPrefix(this.prefix);
  }

  static async cleanupPrefix(prefix: string): Promise<void> {
    if (!prefix) throw new Error("empty prefix");
    await delNetnsByPrefix(prefix);
    rmSync(join(TOPOLOGY_ROOT, prefix), { recursive: true, force: true });
  }

  /** Removes topologies left by crashed runs (owner pid gone). Live topologies of other tests are kept. */
  static async sweepOrphans(): Promise<string[]> {
    if (!existsSync(TOPOLOGY_ROOT)) return [];
    const removed: string[] = [];
    for (const prefix of readdirSync(TOPOLOGY_ROOT)) {
      if (!prefix.startsWith("pw")) continue;
      if (ownerAlive(join(TOPOLOGY_ROOT, prefix))) continue;
      await Topology.cleanupPrefix(prefix);
      removed.push(prefix);
    }
    return removed;
  }
}
