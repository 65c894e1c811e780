/**
 * host-local's allocator, pure: which IP comes next. No disk, no locks (see store.ts for those).
 *
 * Semantics copied from containernetworking/plugins `backend/allocator`: a range set is a list of ranges; defaults
 * gateway = network+1, rangeStart = network+1, rangeEnd = broadcast−1; iteration is round-robin starting after the
 * last reserved IP, wrapping across the ranges of the set; the gateway and reserved IPs are skipped.
 */
import { broadcast, type Cidr4, contains, formatIp4, parseCidr4, parseIp4 } from "./ipv4.js";

/** One range as written in the config (`ranges: [[{subnet, rangeStart?, rangeEnd?, gateway?}]]`). */
export interface RangeConfig {
  subnet: string;
  rangeStart?: string;
  rangeEnd?: string;
  gateway?: string;
}

export interface Range {
  subnet: Cidr4;
  start: number;
  end: number;
  gateway: number;
}

export class IpamConfigError extends Error {
  override name = "IpamConfigError";
}

/** Fills defaults and validates a range (host-local `Canonicalize`). */
export function canonicalizeRange(r: RangeConfig): Range {
  let subnet: Cidr4;
  try {
    subnet = parseCidr4(r.subnet, true);
  } catch (e) {
    throw new IpamConfigError((e as Error).message);
  }
  if (subnet.len > 30) throw new IpamConfigError(`network ${r.subnet} too small to allocate from`);
  const bcast = broadcast(subnet);
  const gateway = r.gateway ? parseIp4(r.gateway) : subnet.net + 1;
  const start = r.rangeStart ? parseIp4(r.rangeStart) : subnet.net + 1;
  const end = r.rangeEnd ? parseIp4(r.rangeEnd) : bcast - 1;
  for (const [what, v] of [
    ["rangeStart", start],
    ["rangeEnd", end],
  ] as const) {
    if (!contains(subnet, v) || v === subnet.net || v === bcast)
      throw new IpamConfigError(`${what} ${formatIp4(v)} not in network ${r.subnet}`);
  }
  if (start > end) throw new IpamConfigError(`rangeStart ${formatIp4(start)} is after rangeEnd ${formatIp4(end)}`);
  return { subnet, start, end, gateway };
}

/** Ranges of one set must not overlap (host-local rejects that config). */
export function canonicalizeRangeSet(set: RangeConfig[]): Range[] {
  if (set.length === 0) throw new IpamConfigError("empty range set");
  const ranges = set.map(canonicalizeRange);
  for (let i = 0; i < ranges.length; i++)
    for (let j = i + 1; j < ranges.length; j++)
      if (ranges[i]!.start <= ranges[j]!.end && ranges[j]!.start <= ranges[i]!.end)
        throw new IpamConfigError("ranges in a set overlap");
  return ranges;
}

export function rangeOf(set: Range[], ip: number): Range | undefined {
  return set.find((r) => ip >= r.start && ip <= r.end);
}

/**
 * The next free IP of a set, or undefined when the set is full.
 * `reserved(ip)` tells whether an IP is taken; `last` is `last_reserved_ip.N` (if it is in the set).
 */
export function nextIp(set: Range[], reserved: (ip: number) => boolean, last?: number): number | undefined {
  // Position after `last`, or the very start.
  let ri = 0;
  let ip = set[0]!.start;
  if (last !== undefined) {
    const idx = set.findIndex((r) => last >= r.start && last <= r.end);
    if (idx >= 0) {
      ri = idx;
      ip = last + 1;
      if (ip > set[ri]!.end) {
        ri = (ri + 1) % set.length;
        ip = set[ri]!.start;
      }
    }
  }
  const total = set.reduce((n, r) => n + (r.end - r.start + 1), 0);
  for (let k = 0; k < total; k++) {
    const r = set[ri]!;
    if (ip !== r.gateway && !reserved(ip)) return ip;
    ip++;
    if (ip > r.end) {
      ri = (ri + 1) % set.length;
      ip = set[ri]!.start;
    }
  }
  return undefined;
}

/** A requested IP (CNI_ARGS IP=, args.cni.ips): must lie in the set and must not be the gateway. */
export function checkRequested(set: Range[], ip: number): Range {
  const r = rangeOf(set, ip);
  if (!r) throw new IpamConfigError(`requested IP ${formatIp4(ip)} is not in any range of the set`);
  if (ip === r.gateway) throw new IpamConfigError(`requested ip ${formatIp4(ip)} is subnet's gateway`);
  return r;
}
