/**
 * Minimal IPv4 arithmetic for the CNI plugin (kept dependency-free so the bundled plugin starts fast).
 * Addresses are unsigned 32-bit numbers; CIDRs are `{ net, len }` with host bits cleared.
 */
export interface Cidr4 {
  net: number;
  len: number;
}

export function parseIp4(s: string): number {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s.trim());
  if (!m) throw new Error(`invalid IPv4 address: ${s}`);
  const parts = m.slice(1).map(Number);
  if (parts.some((p) => p > 255)) throw new Error(`invalid IPv4 address: ${s}`);
  return ((parts[0]! << 24) | (parts[1]! << 16) | (parts[2]! << 8) | parts[3]!) >>> 0;
}

export function formatIp4(n: number): string {
  return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

export function maskOf(len: number): number {
  return len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
}

/** Parses `a.b.c.d/len`; `strict` rejects host bits (host-local rejects such subnets). Returns the address too. */
export function parseCidr4(s: string, strict = false): Cidr4 & { ip: number } {
  const [a, l] = s.split("/");
  const len = l === undefined ? 32 : Number(l);
  if (!Number.isInteger(len) || len < 0 || len > 32 || (l !== undefined && !/^\d+$/.test(l)))
    throw new Error(`invalid CIDR: ${s}`);
  const ip = parseIp4(a ?? "");
  const net = (ip & maskOf(len)) >>> 0;
  if (strict && net !== ip) throw new Error(`network has host bits set: ${s}`);
  return { net, len, ip };
}

export function formatCidr4(c: Cidr4): string {
  return `${formatIp4(c.net)}/${c.len}`;
}

export function contains(c: Cidr4, ip: number): boolean {
  return (ip & maskOf(c.len)) >>> 0 === c.net;
}

export function broadcast(c: Cidr4): number {
  return (c.net | (~maskOf(c.len) >>> 0)) >>> 0;
}

export function isIp4(s: string): boolean {
  try {
    parseIp4(s);
    return true;
  } catch {
    return false;
  }
}
