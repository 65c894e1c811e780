/**
 * IP/CIDR normalisation with Go's semantics where they leak into kube-proxy's output: IPv4 octets with leading
 * zeros are decimal (`10.180.00.001` → `10.180.0.1`, netutils.ParseIPSloppy), IPv6 is printed RFC 5952-compressed,
 * CIDRs print their masked network address (`net.IPNet.String()`).
 */
import ipaddr from "ipaddr.js";

export type Family = "IPv4" | "IPv6";

export interface ParsedIP {
  family: Family;
  /** canonical text form */
  text: string;
  /** address as a big integer, for prefix math */
  value: bigint;
}

function parseV4(s: string): ParsedIP | null {
  const parts = s.split(".");
  if (parts.length !== 4) return null;
  let value = 0n;
  const octets: number[] = [];
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p)) return null;
    const n = Number.parseInt(p, 10);
    if (n > 255) return null;
    octets.push(n);
    value = (value << 8n) | BigInt(n);
  }
  return { family: "IPv4", text: octets.join("."), value };
}

/** Parses an IP the way kube-proxy does; null when it is not an IP. */
export function parseIP(s: string): ParsedIP | null {
  s = s.trim();
  if (!s.includes(":")) return parseV4(s);
  if (!ipaddr.IPv6.isValid(s)) return null;
  const a = ipaddr.IPv6.parse(s);
  if (a.isIPv4MappedAddress()) {
    const v4 = a.toIPv4Address();
    return parseV4(v4.toString());
  }
  let value = 0n;
  for (const part of a.parts) value = (value << 16n) | BigInt(part);
  return { family: "IPv6", text: a.toString(), value };
}

/**
 * Canonical text of a dotted-quad IPv4 (1–3 decimal digits per octet, ≤ 255, leading zeros dropped), or null.
 * Returns `s` itself when it is already canonical (the usual case: no allocation).
 */
function v4Text(s: string): string | null {
  let octets = 0;
  let digits = 0;
  let value = 0;
  let canonical = true;
  for (let i = 0; i <= s.length; i++) {
    const c = i < s.length ? s.charCodeAt(i) : 46; /* "." ends the last octet */
    if (c === 46) {
      if (digits === 0 || value > 255) return null;
      octets++;
      digits = 0;
      value = 0;
      continue;
    }
    if (c < 48 || c > 57 || ++digits > 3) return null;
    if (digits === 2 && value === 0) canonical = false; // leading zero
    value = value * 10 + (c - 48);
  }
  if (octets !== 4) return null;
  if (canonical) return s;
  return s
    .split(".")
    .map((x) => String(Number.parseInt(x, 10)))
    .join(".");
}

/** Family and canonical text only (no integer value): the cheap path for the many endpoint addresses. */
export function ipText(s: string): { family: Family; text: string } | null {
  const v4 = v4Text(s);
  if (v4 !== null) return { family: "IPv4", text: v4 };
  const p = parseIP(s);
  return p ? { family: p.family, text: p.text } : null;
}

/** Canonical text of `s` when it is an IP of `family`, else null (no allocation for a canonical IPv4). */
export function ipTextOf(s: string, family: Family): string | null {
  if (family === "IPv4") {
    const v4 = v4Text(s);
    if (v4 !== null) return v4;
    if (!s.includes(":")) return null;
  }
  const p = ipText(s);
  return p && p.family === family ? p.text : null;
}

/** Canonical text of an IP, or null. */
export function normalizeIP(s: string): string | null {
  return parseIP(s)?.text ?? null;
}

export function ipFamilyOf(s: string): Family | null {
  return parseIP(s)?.family ?? null;
}

export interface ParsedCIDR {
  family: Family;
  /** masked network, Go's IPNet.String() form */
  text: string;
  network: bigint;
  prefix: number;
}

function fromValue(family: Family, value: bigint): string {
  if (family === "IPv4") {
    return [24n, 16n, 8n, 0n].map((sh) => Number((value >> sh) & 255n)).join(".");
  }
  const parts: number[] = [];
  for (let i = 7; i >= 0; i--) parts.push(Number((value >> BigInt(i * 16)) & 0xffffn));
  return new ipaddr.IPv6(parts).toString();
}

/** Parses `addr/len`; null when invalid. */
export function parseCIDR(s: string): ParsedCIDR | null {
  s = s.trim();
  const slash = s.indexOf("/");
  if (slash < 0) return null;
  const ip = parseIP(s.slice(0, slash));
  const lenText = s.slice(slash + 1);
  if (!ip || !/^\d{1,3}$/.test(lenText)) return null;
  const prefix = Number(lenText);
  const bits = ip.family === "IPv4" ? 32 : 128;
  if (prefix > bits) return null;
  const mask = prefix === 0 ? 0n : ((1n << BigInt(prefix)) - 1n) << BigInt(bits - prefix);
  const network = ip.value & mask;
  return { family: ip.family, text: `${fromValue(ip.family, network)}/${prefix}`, network, prefix };
}

/** True when the CIDR contains the IP (same family only). */
export function cidrContains(cidr: ParsedCIDR, ip: ParsedIP): boolean {
  if (cidr.family !== ip.family) return false;
  const bits = cidr.family === "IPv4" ? 32 : 128;
  const shift = BigInt(bits - cidr.prefix);
  return ip.value >> shift === cidr.network >> shift;
}

/** `ip:port`, or `[ip]:port` for IPv6 (Go's net.JoinHostPort). */
export function joinHostPort(ip: string, port: number): string {
  // join() yields one flat string (a template literal would keep a cons string per endpoint).
  return ip.includes(":") ? ["[", ip, "]:", port].join("") : [ip, port].join(":");
}
