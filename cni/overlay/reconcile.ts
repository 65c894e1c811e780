/**
 * The overlay's pure reconcile: desired per-peer entries vs the kernel's actual entries → an ordered action list.
 * For each remote node (flannel vxlan backend, one entry of each kind per peer):
 *   neighbour  <subnet>.0 → VtepMAC on the VTEP, permanent
 *   FDB        VtepMAC → publicIp on the VTEP, self permanent
 *   route      <subnet> via <subnet>.0 dev <vtep> onlink
 * or, with direct routing and the peer on the same L2 (its public IP in a connected underlay subnet), just
 *   route      <subnet> via publicIp dev <underlay>.
 * Entries the agent owns: permanent neighbours and FDB entries on the VTEP, non-kernel routes on the VTEP, and
 * gatewayed routes on the underlay whose destination lies inside the cluster CIDR. Anything else is left alone.
 * Order: deletions (route, fdb, neigh) before additions (neigh, fdb, route), as flannel does.
 */
import { contains, parseCidr4, parseIp4 } from "../ipam/ipv4.js";
import type { Peer } from "./peers.js";

export interface NeighState {
  ip: string;
  mac: string;
  permanent: boolean;
}
export interface FdbState {
  mac: string;
  dst?: string;
  permanent: boolean;
}
export interface RouteState {
  dst: string;
  gw?: string;
  ifindex: number;
  onlink: boolean;
  kernel: boolean;
}

export interface ActualState {
  neigh: NeighState[];
  fdb: FdbState[];
  routes: RouteState[];
}

export interface PlanContext {
  vtepIndex: number;
  underlayIndex: number;
  /** Connected IPv4 subnets of the underlay interface (direct-routing test). */
  underlayCidrs: string[];
  clusterCidr: string;
  directRouting: boolean;
}

export type Action =
  | { op: "route-del"; dst: string; ifindex: number }
  | { op: "fdb-del"; mac: string; dst?: string }
  | { op: "neigh-del"; ip: string }
  | { op: "neigh-replace"; ip: string; mac: string }
  | { op: "fdb-replace"; mac: string; dst: string }
  | { op: "route-replace"; dst: string; gw: string; ifindex: number; onlink: boolean };

const ZERO_MAC = "00:00:00:00:00:00";

export function isDirect(p: Peer, ctx: PlanContext): boolean {
  if (!ctx.directRouting) return false;
  const ip = parseIp4(p.publicIp);
  return ctx.underlayCidrs.some((c) => {
    try {
      return contains(parseCidr4(c), ip);
    } catch {
      return false;
    }
  });
}

function inCluster(dst: string, cluster: string): boolean {
  try {
    const c = parseCidr4(cluster);
    const d = parseCidr4(dst);
    return d.len >= c.len && contains(c, d.net);
  } catch {
    return false;
  }
}

export function plan(peers: Peer[], actual: ActualState, ctx: PlanContext): Action[] {
  const wantNeigh = new Map<string, string>();
  const wantFdb = new Map<string, string>();
  const wantRoute = new Map<string, { gw: string; ifindex: number; onlink: boolean }>();
  for (const p of peers) {
    if (isDirect(p, ctx)) {
      wantRoute.set(p.subnet, { gw: p.publicIp, ifindex: ctx.underlayIndex, onlink: false });
      continue;
    }
    wantNeigh.set(p.vtepIp, p.mac);
    wantFdb.set(p.mac, p.publicIp);
    wantRoute.set(p.subnet, { gw: p.vtepIp, ifindex: ctx.vtepIndex, onlink: true });
  }
  const dels: Action[] = [];
  const fdbDels: Action[] = [];
  const neighDels: Action[] = [];
  const adds: Action[] = [];
  const fdbAdds: Action[] = [];
  const routeAdds: Action[] = [];

  const ownedRoutes = actual.routes.filter(
    (r) =>
      !r.kernel &&
      ((r.ifindex === ctx.vtepIndex && r.dst !== "0.0.0.0/0") ||
        (r.ifindex === ctx.underlayIndex && !!r.gw && inCluster(r.dst, ctx.clusterCidr))),
  );
  const routeByDst = new Map(ownedRoutes.map((r) => [r.dst, r]));
  for (const r of ownedRoutes)
    if (!wantRoute.has(r.dst)) dels.push({ op: "route-del", dst: r.dst, ifindex: r.ifindex });
  for (const [dst, w] of wantRoute) {
    const have = routeByDst.get(dst);
    if (!have || have.gw !== w.gw || have.ifindex !== w.ifindex || have.onlink !== w.onlink)
      routeAdds.push({ op: "route-replace", dst, gw: w.gw, ifindex: w.ifindex, onlink: w.onlink });
  }

  const ownedFdb = actual.fdb.filter((f) => f.permanent && f.mac !== ZERO_MAC);
  for (const f of ownedFdb) {
    const want = wantFdb.get(f.mac);
    if (want === undefined || (f.dst !== undefined && f.dst !== want))
      fdbDels.push({ op: "fdb-del", mac: f.mac, ...(f.dst ? { dst: f.dst } : {}) });
  }
  for (const [mac, dst] of wantFdb)
    if (!ownedFdb.some((f) => f.mac === mac && f.dst === dst)) fdbAdds.push({ op: "fdb-replace", mac, dst });

  const ownedNeigh = actual.neigh.filter((n) => n.permanent);
  for (const n of ownedNeigh) if (!wantNeigh.has(n.ip)) neighDels.push({ op: "neigh-del", ip: n.ip });
  for (const [ip, mac] of wantNeigh)
    if (!actual.neigh.some((n) => n.ip === ip && n.mac === mac && n.permanent))
      adds.push({ op: "neigh-replace", ip, mac });

  return [...dels, ...fdbDels, ...neighDels, ...adds, ...fdbAdds, ...routeAdds];
}
