/**
 * IPv4 + IPv6 arithmetic for host-local's allocator (dual-stack ranges). Addresses are bigints with a family;
 * formatting follows Go's net.IP.String() (RFC 5952: lowercase, longest zero run compressed, dotted tail only for
 * IPv4-mapped addresses), because host-local names its files with it.
 */
import type { Family } from "../../src/api/ip.js";
import { formatIp4, parseIp4 } from "./ipv4.js";

export type { Family };

export interface Cidr {
  family: Family;
  net: bigint;
  len: number;
}

export const bitsOf = (f: Family): number => (f === 4 ? 32 : 128);

export function familyOf(s: string): Family {
  return s.includes(":") ? 6 : 4;
}

function parseIp6(s: string): bigint {
  const bad = () => new Error(`invalid IPv6 address: ${s}`);
  let text = s.trim();
  if (!/^[0-9a-fA-F:.]+$/.test(text)) throw bad();
  // A dotted IPv4 tail counts as two groups.
  const lastColon = text.lastIndexOf(":");
  if (text.slice(lastColon + 1).includes(".")) {
    const v4 = parseIp4(text.slice(lastColon + 1));
    text = `${text.slice(0, lastColon + 1)}${(v4 >>> 16).toString(16)}:${(v4 & 0xffff).toString(16)}`;
  }
  const halves = text.split("::");
  if (halves.length > 2) throw bad();
  const groups = (h: string) => (h === "" ? [] : h.split(":"));
  const head = groups(halves[0]!);
  const tail = halves.length === 2 ? groups(halves[1]!) : [];
  const fill = 8 - head.length - tail.length;
  if ((halves.length === 2 && fill < 1) || (halves.length === 1 && fill !== 0)) throw bad();
  const all = [...head, ...Array<string>(halves.length === 2 ? fill : 0).fill("0"), ...tail];
  let n = 0n;
  for (const g of all) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(g)) throw bad();
    n = (n << 16n) | BigInt(Number.parseInt(g, 16));
  }
  return n;
}

function formatIp6(n: bigint): string {
  const g: number[] = [];
  for (let i = 7; i >= 0; i--) g.push(Number((n >> BigInt(i * 16)) & 0xffffn));
  if (g.slice(0, 5).every((x) => x === 0) && g[5] === 0xffff)
    return `::ffff:${formatIp4(((g[6]! << 16) | g[7]!) >>> 0)}`;
  // Longest run of ≥ 2 zero groups, first one on ties.
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (xs: number[]) => xs.map((x) => x.toString(16)).join(":");
  if (best < 0) return hex(g);
  return `${hex(g.slice(0, best))}::${hex(g.slice(best + bestLen))}`;
}

export function parseIp(s: string): { family: Family; n: bigint } {
  const family = familyOf(s);
  return { family, n: family === 4 ? BigInt(parseIp4(s)) : parseIp6(s) };
}

export function formatIp(family: Family, n: bigint): string {
  return family === 4 ? formatIp4(Number(n)) : formatIp6(n);
}

/** Canonical text of an address (Go's form), e.g. for host-local's file names. */
export function canonicalIp(s: string): string {
  const a = parseIp(s);
  return formatIp(a.family, a.n);
}

export function maskOf(family: Family, len: number): bigint {
  const bits = BigInt(bitsOf(family));
  return ((1n << BigInt(len)) - 1n) << (bits - BigInt(len));
}

/** Parses `addr/len`; `strict` rejects host bits (host-local rejects such subnets). Returns the address too. */
export function parseCidr(s: string, strict = false): Cidr & { ip: bigint } {
  const [a, l] = s.split("/");
  const { family, n } = parseIp(a ?? "");
  const bits = bitsOf(family);
  const len = l === undefined ? bits : Number(l);
  if (!Number.isInteger(len) || len < 0 || len > bits || (l !== undefined && !/^\d+$/.test(l)))
    throw new Error(`invalid CIDR: ${s}`);
  const net = n & maskOf(family, len);
  if (strict && net !== n) throw new Error(`network has host bits set: ${s}`);
  return { family, net, len, ip: n };
}

export function formatCidr(c: Cidr): string {
  return `${formatIp(c.family, c.net)}/${c.len}`;
}

export function contains(c: Cidr, family: Family, n: bigint): boolean {
  return family === c.family && (n & maskOf(c.family, c.len)) === c.net;
}

/** The subnet's last address (the broadcast address for IPv4). */
export function lastAddr(c: Cidr): bigint {
  const all = (1n << BigInt(bitsOf(c.family))) - 1n;
  return c.net | (all ^ maskOf(c.family, c.len));
}
