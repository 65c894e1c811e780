/**
 * Jump rules from the built-in chains into kube-proxy's chains (proxier.go `iptablesJumpChains` and the kubelet
 * duplicates). They live outside the restore payload — built-in chains are never flushed — and are ensured with
 * single `-I` calls on full syncs only.
 */
import type { Iptables, Table } from "../../src/netlinux/iptables.js";

export interface JumpChain {
  table: Table;
  dstChain: string;
  srcChain: string;
  comment: string;
  extraArgs: string[];
}

const ctNew = ["-m", "conntrack", "--ctstate", "NEW"];

export const iptablesJumpChains: JumpChain[] = [
  {
    table: "filter",
    dstChain: "KUBE-EXTERNAL-SERVICES",
    srcChain: "INPUT",
    comment: "kubernetes externally-visible service portals",
    extraArgs: ctNew,
  },
  {
    table: "filter",
    dstChain: "KUBE-EXTERNAL-SERVICES",
    srcChain: "FORWARD",
    comment: "kubernetes externally-visible service portals",
    extraArgs: ctNew,
  },
  {
    table: "filter",
    dstChain: "KUBE-NODEPORTS",
    srcChain: "INPUT",
    comment: "kubernetes health check service ports",
    extraArgs: [],
  },
  {
    table: "filter",
    dstChain: "KUBE-SERVICES",
    srcChain: "FORWARD",
    comment: "kubernetes service portals",
    extraArgs: ctNew,
  },
  {
    table: "filter",
    dstChain: "KUBE-SERVICES",
    srcChain: "OUTPUT",
    comment: "kubernetes service portals",
    extraArgs: ctNew,
  },
  {
    table: "filter",
    dstChain: "KUBE-FORWARD",
    srcChain: "FORWARD",
    comment: "kubernetes forwarding rules",
    extraArgs: [],
  },
  {
    table: "filter",
    dstChain: "KUBE-PROXY-FIREWALL",
    srcChain: "INPUT",
    comment: "kubernetes load balancer firewall",
    extraArgs: ctNew,
  },
  {
    table: "filter",
    dstChain: "KUBE-PROXY-FIREWALL",
    srcChain: "OUTPUT",
    comment: "kubernetes load balancer firewall",
    extraArgs: ctNew,
  },
  {
    table: "filter",
    dstChain: "KUBE-PROXY-FIREWALL",
    srcChain: "FORWARD",
    comment: "kubernetes load balancer firewall",
    extraArgs: ctNew,
  },
  { table: "nat", dstChain: "KUBE-SERVICES", srcChain: "OUTPUT", comment: "kubernetes service portals", extraArgs: [] },
  {
    table: "nat",
    dstChain: "KUBE-SERVICES",
    srcChain: "PREROUTING",
    comment: "kubernetes service portals",
    extraArgs: [],
  },
  {
    table: "nat",
    dstChain: "KUBE-POSTROUTING",
    srcChain: "POSTROUTING",
    comment: "kubernetes postrouting rules",
    extraArgs: [],
  },
];

/** kubelet's KUBE-FIREWALL jumps, which kube-proxy duplicates (no comment). */
export const iptablesKubeletJumpChains: JumpChain[] = [
  { table: "filter", dstChain: "KUBE-FIREWALL", srcChain: "INPUT", comment: "", extraArgs: [] },
  { table: "filter", dstChain: "KUBE-FIREWALL", srcChain: "OUTPUT", comment: "", extraArgs: [] },
];

export function jumpArgs(j: JumpChain): string[] {
  const args = [...j.extraArgs];
  if (j.comment) args.push("-m", "comment", "--comment", j.comment);
  args.push("-j", j.dstChain);
  return args;
}

/**
 * Ensures every jump chain and jump rule (EnsureChain + EnsureRule(Prepend)). Returns the number of iptables
 * calls made. `withKubeletFirewall` = IPv4 with localhost NodePorts (KUBE-FIREWALL is written by the payload).
 */
export async function ensureJumpRules(ipt: Iptables, withKubeletFirewall: boolean): Promise<void> {
  const all = withKubeletFirewall ? [...iptablesJumpChains, ...iptablesKubeletJumpChains] : iptablesJumpChains;
  for (const j of all) {
    await ipt.ensureChain(j.table, j.dstChain);
    await ipt.ensureRule("prepend", j.table, j.srcChain, jumpArgs(j));
  }
}
