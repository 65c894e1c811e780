/**
 * IP address helpers for the cluster zone: canonical text forms (the keys of the reverse index), the dashed
 * forms used in DNS labels (`10-0-0-1`, `fd00--1`), and the reverse-lookup names (`in-addr.arpa`, `ip6.arpa`).
 */
import { isIPv4, isIPv6 } from "node:net";
import ipaddr from "ipaddr.js";
import type { Family } from "../../src/api/ip.js";

/** Canonical text of an IP (`10.0.0.1`, `2001:db8:0:0:0:0:0:1`), or undefined if it is not an IP. */
export function canonicalIp(s: string): string | undefined {
  // Already canonical (the usual case) → the same string, so the zone shares it with the informer cache.
  if (CANONICAL_V4.test(s)) return s;
  if (isIPv4(s)) return s.split(".").map(Number).join(".");
  if (isIPv6(s)) {
    // An IPv4-mapped IPv6 address is still an IPv6 (AAAA) address for DNS purposes.
    const c = ipaddr.IPv6.parse(s).toNormalizedString();
    return c === s ? s : c;
  }
  return undefined;
}

const OCTET = "(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)";
const CANONICAL_V4 = new RegExp(`^${OCTET}(?:\\.${OCTET}){3}$`);

export function familyOf(ip: string): Family {
  return ip.includes(":") ? 6 : 4;
}

/** The endpoint label CoreDNS derives from an address without a hostname (`endpointHostname()` in kubernetes.go). */
export function dashedIp(ip: string): string {
  if (familyOf(ip) === 4) return ip.replaceAll(".", "-");
  let s = ipaddr.IPv6.parse(ip).toString().replaceAll(":", "-");
  if (s.startsWith("-")) s = `0${s}`;
  if (s.endsWith("-")) s = `${s}0`;
  return s.toLowerCase();
}

/** Parses a dashed pod label (`10-244-1-5`, `fd00--1`) back into a canonical IP. */
export function ipFromDashed(label: string): string | undefined {
  if (/^\d{1,3}-\d{1,3}-\d{1,3}-\d{1,3}$/.test(label)) {
    const parts = label.split("-").map(Number);
    if (parts.some((p) => p > 255)) return undefined;
    return parts.join(".");
  }
  if (/^[0-9a-f-]+$/.test(label) && label.includes("-")) return canonicalIp(label.replaceAll("-", ":"));
  return undefined;
}

/**
 * The IP named by a full reverse name (labels in query order, lower case, zone labels included), or undefined
 * when the name is not a complete address (e.g. `3.10.in-addr.arpa`).
 */
export function ipFromReverseLabels(labels: readonly string[]): string | undefined {
  const n = labels.length;
  if (n === 6 && labels[4] === "in-addr" && labels[5] === "arpa") {
    const octets = labels.slice(0, 4).reverse();
    if (!octets.every((o) => /^\d{1,3}$/.test(o) && Number(o) <= 255 && (o === "0" || !o.startsWith("0"))))
      return undefined;
    return octets.map(Number).join(".");
  }
  if (n === 34 && labels[32] === "ip6" && labels[33] === "arpa") {
    const nibbles = labels.slice(0, 32);
    if (!nibbles.every((x) => /^[0-9a-f]$/.test(x))) return undefined;
    const hex = nibbles.reverse().join("");
    const groups: string[] = [];
    for (let i = 0; i < 32; i += 4) groups.push(hex.slice(i, i + 4));
    return canonicalIp(groups.join(":"));
  }
  return undefined;
}
