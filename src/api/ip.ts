/** IP and CIDR helpers over ipaddr.js, in the forms Kubernetes objects carry them (strings). */
import ipaddr from "ipaddr.js";

export type Family = 4 | 6;

export interface CIDR {
  /** The network address (host bits zeroed), as a string. */
  network: string;
  prefix: number;
  family: Family;
  text: string;
}

/** True for a plain IPv4 dotted quad or an IPv6 address (no zone, no leading zeros in v4 octets). */
export function isIP(s: string): boolean {
  if (ipaddr.IPv4.isValidFourPartDecimal(s)) return !/(^|\.)0\d/.test(s);
  return !s.includes("%") && s.includes(":") && ipaddr.IPv6.isValid(s); // zones are not addresses
}

/** 4 or 6 for a valid IP, else null. */
export function ipFamily(s: string): Family | null {
  if (!isIP(s)) return null;
  return ipaddr.parse(s).kind() === "ipv4" ? 4 : 6;
}

/** Parses `a.b.c.d/n` or `x::/n`; returns null when invalid. Host bits may be set (like net.ParseCIDR). */
export function parseCIDR(s: string): CIDR | null {
  const slash = s.indexOf("/");
  if (slash < 0) return null;
  const addr = s.slice(0, slash);
  const bits = s.slice(slash + 1);
  if (!isIP(addr) || !/^\d{1,3}$/.test(bits)) return null;
  const ip = ipaddr.parse(addr);
  const prefix = Number(bits);
  const family: Family = ip.kind() === "ipv4" ? 4 : 6;
  if (prefix > (family === 4 ? 32 : 128)) return null;
  const bytes = ip.toByteArray();
  for (let i = 0; i < bytes.length; i++) {
    const keep = Math.max(0, Math.min(8, prefix - i * 8));
    bytes[i] = bytes[i]! & ((0xff << (8 - keep)) & 0xff);
  }
  const network = ipaddr.fromByteArray(bytes).toString();
  return { network, prefix, family, text: `${network}/${prefix}` };
}

/** Whether the CIDR contains the IP (false across families). */
export function cidrContains(cidr: CIDR | string, ip: string): boolean {
  const c = typeof cidr === "string" ? parseCIDR(cidr) : cidr;
  if (!c || ipFamily(ip) !== c.family) return false;
  return ipaddr.parse(ip).match(ipaddr.parse(c.network), c.prefix);
}

/** Number of addresses in the CIDR as a bigint. */
export function cidrSize(cidr: CIDR): bigint {
  return 1n << BigInt((cidr.family === 4 ? 32 : 128) - cidr.prefix);
}

function toBig(ip: string): bigint {
  return ipaddr
    .parse(ip)
    .toByteArray()
    .reduce((acc, b) => (acc << 8n) | BigInt(b), 0n);
}

function fromBig(n: bigint, family: Family): string {
  const len = family === 4 ? 4 : 16;
  const bytes: number[] = [];
  for (let i = 0; i < len; i++) {
    bytes.unshift(Number(n & 0xffn));
    n >>= 8n;
  }
  return ipaddr.fromByteArray(bytes).toString();
}

/** The n-th address of a CIDR (0 = network address); `nthAddress("10.96.0.0/12", 10) === "10.96.0.10"`. */
export function nthAddress(cidr: CIDR | string, n: number | bigint): string {
  const c = typeof cidr === "string" ? parseCIDR(cidr) : cidr;
  if (!c) throw new Error(`invalid CIDR: ${String(cidr)}`);
  const off = BigInt(n);
  if (off < 0n || off >= cidrSize(c)) throw new Error(`address ${off} is outside ${c.text}`);
  return fromBig(toBig(c.network) + off, c.family);
}

/** Offset of an IP inside a CIDR (inverse of nthAddress), or null when outside. */
export function addressOffset(cidr: CIDR | string, ip: string): bigint | null {
  const c = typeof cidr === "string" ? parseCIDR(cidr) : cidr;
  if (!c || !cidrContains(c, ip)) return null;
  return toBig(ip) - toBig(c.network);
}

/** Canonical text of an IP (IPv6 compressed, lower case) so equal addresses compare equal as strings. */
export function canonicalIP(ip: string): string {
  return ipaddr.parse(ip).toString();
}
