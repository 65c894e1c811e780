/**
 * Pure node IPAM: hand each node without a podCIDR the next free subnet of the cluster CIDR(s) (one per
 * family for dual-stack), never one that another node holds.
 */
import type { Node } from "../api/index.js";
import { addressOffset, type CIDR, nthAddress, parseCIDR } from "../api/ip.js";

export interface IpamConfig {
  clusterCIDRs: string[];
  /** Per-node prefix length for IPv4 (default 24) and IPv6 (default 64). */
  maskSizeV4?: number;
  maskSizeV6?: number;
}

interface Pool {
  cidr: CIDR;
  mask: number;
  count: bigint;
  step: bigint;
}

export function pools(cfg: IpamConfig): Pool[] {
  return cfg.clusterCIDRs.map((s) => {
    const cidr = parseCIDR(s);
    if (!cidr) throw new Error(`invalid cluster CIDR: ${s}`);
    const mask = cidr.family === 4 ? (cfg.maskSizeV4 ?? 24) : (cfg.maskSizeV6 ?? 64);
    if (mask < cidr.prefix) throw new Error(`node mask /${mask} is larger than the cluster CIDR ${cidr.text}`);
    const bits = cidr.family === 4 ? 32 : 128;
    return { cidr, mask, count: 1n << BigInt(mask - cidr.prefix), step: 1n << BigInt(bits - mask) };
  });
}

function indexOf(pool: Pool, podCIDR: string): bigint | undefined {
  const c = parseCIDR(podCIDR);
  if (!c || c.family !== pool.cidr.family || c.prefix !== pool.mask) return undefined;
  const off = addressOffset(pool.cidr, c.network);
  return off === null ? undefined : off / pool.step;
}

export interface IpamPlan {
  /** node name → podCIDRs to set */
  assign: Map<string, string[]>;
  /** nodes left without a CIDR because a pool is exhausted */
  exhausted: string[];
}

/**
 * Assigns CIDRs to nodes lacking them (oldest first). `reserved` are CIDRs handed out but maybe not yet in the
 * nodes given (a lagging cache) so they are not handed out twice.
 */
export function planPodCIDRs(cfg: IpamConfig, nodes: readonly Node[], reserved: readonly string[] = []): IpamPlan {
  const ps = pools(cfg);
  const used = ps.map(() => new Set<bigint>());
  const taken = [...nodes.flatMap((n) => n.spec?.podCIDRs ?? (n.spec?.podCIDR ? [n.spec.podCIDR] : [])), ...reserved];
  for (const c of taken)
    ps.forEach((p, i) => {
      const idx = indexOf(p, c);
      if (idx !== undefined) used[i]!.add(idx);
    });
  const next = ps.map(() => 0n);
  const plan: IpamPlan = { assign: new Map(), exhausted: [] };
  const todo = nodes
    .filter((n) => !n.spec?.podCIDR && !(n.spec?.podCIDRs?.length ?? 0))
    .sort((a, b) => {
      const ta = a.metadata.creationTimestamp ?? "";
      const tb = b.metadata.creationTimestamp ?? "";
      if (ta !== tb) return ta < tb ? -1 : 1;
      return (a.metadata.name ?? "") < (b.metadata.name ?? "") ? -1 : 1;
    });
  for (const n of todo) {
    const cidrs: string[] = [];
    let ok = true;
    ps.forEach((p, i) => {
      while (next[i]! < p.count && used[i]!.has(next[i]!)) next[i]!++;
      if (next[i]! >= p.count) {
        ok = false;
        return;
      }
      used[i]!.add(next[i]!);
      cidrs.push(`${nthAddress(p.cidr, next[i]! * p.step)}/${p.mask}`);
    });
    if (ok) plan.assign.set(n.metadata.name ?? "", cidrs);
    else plan.exhausted.push(n.metadata.name ?? "");
  }
  return plan;
}
