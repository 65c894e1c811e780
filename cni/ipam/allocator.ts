/**
 * host-local's allocator, pure: which IP comes next. No disk, no locks (see store.ts for those).
 *
 * Semantics copied from containernetworking/plugins `backend/allocator`: a range set is a list of ranges; defaults
 * gateway = network+1, rangeStart = network+1, rangeEnd = broadcast−1; iteration is round-robin starting after the
 * last reserved IP, wrapping across the ranges of the set; the gateway and reserved IPs are skipped.
 */
import { type Cidr, type Family, formatIp, lastAddr, parseCidr, parseIp } from "./ip.js";

/** One range as written in the config (`ranges: [[{subnet, rangeStart?, rangeEnd?, gateway?}]]`). */
export interface RangeConfig {
  subnet: string;
  rangeStart?: string;
  rangeEnd?: string;
  gateway?: string;
}

export interface Range {
  family: Family;
  subnet: Cidr;
  start: bigint;
  end: bigint;
  gateway: bigint;
}

export class IpamConfigError extends Error {
  override name = "IpamConfigError";
}

function addrIn(what: string, s: string, family: Family): bigint {
  let a: ReturnType<typeof parseIp>;
  try {
    a = parseIp(s);
  } catch (e) {
    throw new IpamConfigError(`${what}: ${(e as Error).message}`);
  }
  if (a.family !== family) throw new IpamConfigError(`${what} ${s} is not of the subnet's address family`);
  return a.n;
}

/**
 * Fills defaults and validates a range (host-local `Canonicalize`): gateway and rangeStart default to network+1,
 * rangeEnd to the last address (IPv4: the one before broadcast).
 */
export function canonicalizeRange(r: RangeConfig): Range {
  let subnet: Cidr;
  try {
    subnet = parseCidr(r.subnet, true);
  } catch (e) {
    throw new IpamConfigError((e as Error).message);
  }
  const family = subnet.family;
  if (subnet.len > (family === 4 ? 30 : 126))
    throw new IpamConfigError(`network ${r.subnet} too small to allocate from`);
  const last = lastAddr(subnet);
  const gateway = r.gateway ? addrIn("gateway", r.gateway, family) : subnet.net + 1n;
  const start = r.rangeStart ? addrIn("rangeStart", r.rangeStart, family) : subnet.net + 1n;
  const end = r.rangeEnd ? addrIn("rangeEnd", r.rangeEnd, family) : family === 4 ? last - 1n : last;
  for (const [what, v] of [
    ["rangeStart", start],
    ["rangeEnd", end],
  ] as const) {
    const inNet = (v & ~(last ^ subnet.net)) === subnet.net;
    if (!inNet || v === subnet.net || (family === 4 && v === last))
      throw new IpamConfigError(`${what} ${formatIp(family, v)} not in network ${r.subnet}`);
  }
  if (start > end)
    throw new IpamConfigError(`rangeStart ${formatIp(family, start)} is after rangeEnd ${formatIp(family, end)}`);
  return { family, subnet, start, end, gateway };
}

/** Ranges of one set must share a family and must not overlap (host-local rejects both). */
export function canonicalizeRangeSet(set: RangeConfig[]): Range[] {
  if (set.length === 0) throw new IpamConfigError("empty range set");
  const ranges = set.map(canonicalizeRange);
  if (ranges.some((r) => r.family !== ranges[0]!.family))
    throw new IpamConfigError("mixed address families in a range set");
  for (let i = 0; i < ranges.length; i++)
    for (let j = i + 1; j < ranges.length; j++)
      if (ranges[i]!.start <= ranges[j]!.end && ranges[j]!.start <= ranges[i]!.end)
        throw new IpamConfigError("ranges in a set overlap");
  return ranges;
}

export function rangeOf(set: Range[], ip: bigint): Range | undefined {
  return set.find((r) => ip >= r.start && ip <= r.end);
}

/** Candidates examined before a set counts as full (an IPv6 /64 has 2^64; the store holds far fewer). */
const MAX_SCAN = 1n << 20n;

/**
 * The next free IP of a set, or undefined when the set is full.
 * `reserved(ip)` tells whether an IP is taken; `last` is `last_reserved_ip.N` (if it is in the set).
 */
export function nextIp(set: Range[], reserved: (ip: bigint) => boolean, last?: bigint): bigint | undefined {
  // Position after `last`, or the very start.
  let ri = 0;
  let ip = set[0]!.start;
  if (last !== undefined) {
    const idx = set.findIndex((r) => last >= r.start && last <= r.end);
    if (idx >= 0) {
      ri = idx;
      ip = last + 1n;
      if (ip > set[ri]!.end) {
        ri = (ri + 1) % set.length;
        ip = set[ri]!.start;
      }
    }
  }
  let total = set.reduce((n, r) => n + (r.end - r.start + 1n), 0n);
  if (total > MAX_SCAN) total = MAX_SCAN;
  for (let k = 0n; k < total; k++) {
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
export function checkRequested(set: Range[], ip: bigint): Range {
  const family = set[0]!.family;
  const r = rangeOf(set, ip);
  if (!r) throw new IpamConfigError(`requested IP ${formatIp(family, ip)} is not in any range of the set`);
  if (ip === r.gateway) throw new IpamConfigError(`requested ip ${formatIp(family, ip)} is subnet's gateway`);
  return r;
}
