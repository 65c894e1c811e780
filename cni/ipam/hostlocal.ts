/**
 * host-local IPAM served in-process: config parsing, allocate / release / check / gc over the pure allocator and
 * the disk store. Output is host-local's abbreviated IPAM result (no interfaces; ips without `interface`).
 */
import {
  canonicalizeRangeSet,
  checkRequested,
  IpamConfigError,
  nextIp,
  type Range,
  type RangeConfig,
} from "./allocator.js";
import { formatIp, parseIp } from "./ip.js";
import { DEFAULT_DATA_DIR, DiskStore } from "./store.js";

export interface IpamRoute {
  dst: string;
  gw?: string;
}

export interface HostLocalConfig {
  type: string;
  ranges?: RangeConfig[][];
  subnet?: string;
  rangeStart?: string;
  rangeEnd?: string;
  gateway?: string;
  routes?: IpamRoute[];
  dataDir?: string;
}

export interface IpamIp {
  address: string; // CIDR
  gateway: string;
}

export interface IpamResult {
  ips: IpamIp[];
  routes: IpamRoute[];
}

export class IpamExhaustedError extends Error {
  override name = "IpamExhaustedError";
}

/** id+ifname already holds an address of the set (host-local: "duplicate allocation is not allowed"). */
export class IpamDuplicateError extends Error {
  override name = "IpamDuplicateError";
}

/** Range sets from `ranges` or the legacy top-level subnet keys. */
export function rangeSetsOf(conf: HostLocalConfig): Range[][] {
  let sets: RangeConfig[][];
  if (conf.ranges && conf.ranges.length > 0) sets = conf.ranges;
  else if (conf.subnet)
    sets = [
      [
        {
          subnet: conf.subnet,
          ...(conf.rangeStart ? { rangeStart: conf.rangeStart } : {}),
          ...(conf.rangeEnd ? { rangeEnd: conf.rangeEnd } : {}),
          ...(conf.gateway ? { gateway: conf.gateway } : {}),
        },
      ],
    ];
  else throw new IpamConfigError("IPAM config missing 'ranges' or 'subnet'");
  return sets.map(canonicalizeRangeSet);
}

export function storeFor(network: string, conf: Pick<HostLocalConfig, "dataDir">): DiskStore {
  return new DiskStore(network, conf.dataDir ?? DEFAULT_DATA_DIR);
}

/** Allocates one IP per range set for id/ifname. `requested` are IPs asked for by CNI_ARGS/args. */
export function allocate(
  network: string,
  conf: HostLocalConfig,
  id: string,
  ifname: string,
  requested: string[] = [],
): IpamResult {
  const sets = rangeSetsOf(conf);
  const store = storeFor(network, conf);
  return store.withLock(() => {
    const held = store.list().filter((r) => r.id === id && r.ifname === ifname);
    const got: IpamIp[] = [];
    const want = requested.map(parseIp);
    const heldAddrs = held.flatMap((h) => {
      try {
        return [parseIp(h.ip)];
      } catch {
        return [];
      }
    });
    try {
      sets.forEach((set, i) => {
        const fam = set[0]!.family;
        const fmt = (n: bigint) => formatIp(fam, n);
        if (heldAddrs.some((h) => h.family === fam && set.some((r) => isIn(r, h.n))))
          throw new IpamDuplicateError(`${id} has been allocated to ${ifname}, duplicate allocation is not allowed`);
        let ip: bigint | undefined;
        let range: Range | undefined;
        const req = want.find((w) => w.family === fam && set.some((r) => isIn(r, w.n)))?.n;
        if (req !== undefined) {
          range = checkRequested(set, req);
          if (!store.reserve(fmt(req), id, ifname, i))
            throw new IpamConfigError(`requested IP address ${fmt(req)} is not available in range set`);
          ip = req;
        } else {
          const last = store.lastReserved(i);
          let lastN: bigint | undefined;
          try {
            const l = last ? parseIp(last) : undefined;
            if (l?.family === fam) lastN = l.n;
          } catch {}
          // Retry if a file appears between the check and the O_EXCL create (only non-podwire writers can race).
          for (let tries = 0; tries < 3 && ip === undefined; tries++) {
            const cand = nextIp(set, (x) => store.isReserved(fmt(x)), lastN);
            if (cand === undefined) break;
            if (store.reserve(fmt(cand), id, ifname, i)) ip = cand;
            else lastN = cand;
          }
          if (ip === undefined) {
            const desc = set.map((r) => `${fmt(r.start)}-${fmt(r.end)}`).join(",");
            throw new IpamExhaustedError(`no IP addresses available in range set: ${desc}`);
          }
          range = set.find((r) => isIn(r, ip!));
        }
        got.push({ address: `${fmt(ip)}/${range!.subnet.len}`, gateway: fmt(range!.gateway) });
      });
    } catch (e) {
      for (const g of got) store.release(g.address.split("/")[0]!);
      throw e;
    }
    return { ips: got, routes: conf.routes ?? [] };
  });
}

function isIn(r: Range, ip: bigint): boolean {
  return ip >= r.start && ip <= r.end;
}

/** Releases whatever id/ifname holds; missing entries are fine (DEL is idempotent). */
export function release(network: string, conf: Pick<HostLocalConfig, "dataDir">, id: string, ifname: string): string[] {
  const store = storeFor(network, conf);
  return store.withLock(() => store.releaseByOwner(id, ifname));
}

/** IPAM CHECK: every address of the result must be reserved for id/ifname. Returns a problem or undefined. */
export function checkReserved(
  network: string,
  conf: Pick<HostLocalConfig, "dataDir">,
  id: string,
  ifname: string,
  addresses: string[],
): string | undefined {
  const store = storeFor(network, conf);
  const mine = new Set(
    store
      .list()
      .filter((r) => r.id === id && (r.ifname === "" || r.ifname === ifname))
      .map((r) => r.ip),
  );
  for (const a of addresses) {
    const ip = a.split("/")[0]!;
    if (!mine.has(ip)) return `host-local: Failed to find address added by container ${id}`;
  }
  return undefined;
}

/** GC: releases reservations whose (id, ifname) is not among the valid attachments. Returns released IPs. */
export function gc(
  network: string,
  conf: Pick<HostLocalConfig, "dataDir">,
  valid: { containerID: string; ifname: string }[],
): string[] {
  const store = storeFor(network, conf);
  const keep = new Set(valid.map((v) => `${v.containerID}\u0000${v.ifname}`));
  const keepIds = new Set(valid.map((v) => v.containerID));
  return store.withLock(() => {
    const out: string[] = [];
    for (const r of store.list()) {
      const ok = r.ifname === "" ? keepIds.has(r.id) : keep.has(`${r.id}\u0000${r.ifname}`);
      if (!ok) {
        store.release(r.ip);
        out.push(r.ip);
      }
    }
    return out;
  });
}
