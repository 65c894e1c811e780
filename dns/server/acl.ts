/**
 * Who may use us as a recursive resolver (the forward chain). Answers for the cluster zone are served to
 * everyone; names we would have to forward are REFUSED to clients outside the allowed networks, so the server
 * is not an open resolver (CoreDNS `acl` semantics).
 */
import ipaddr from "ipaddr.js";

/** Loopback, RFC 1918, RFC 6598 (shared, used by some pod networks), IPv6 ULA and link-local. */
export const DEFAULT_ALLOW = [
  "127.0.0.0/8",
  "10.0.0.0/8",
  "172.16.0.0/12",
  "192.168.0.0/16",
  "100.64.0.0/10",
  "::1/128",
  "fc00::/7",
  "fe80::/10",
];

export class CidrSet {
  private readonly ranges: [ipaddr.IPv4 | ipaddr.IPv6, number][];
  constructor(cidrs: readonly string[]) {
    this.ranges = cidrs.map((c) => {
      if (!c.includes("/")) {
        const a = ipaddr.parse(c);
        return [a, a.kind() === "ipv4" ? 32 : 128];
      }
      return ipaddr.parseCIDR(c);
    });
  }

  /** Throws on a malformed CIDR (for flag validation). */
  static validate(cidr: string): void {
    if (cidr.includes("/")) ipaddr.parseCIDR(cidr);
    else ipaddr.parse(cidr);
  }

  contains(address: string): boolean {
    let a: ipaddr.IPv4 | ipaddr.IPv6;
    try {
      a = ipaddr.process(address.replace(/%.*$/, ""));
    } catch {
      return false;
    }
    for (const [net, bits] of this.ranges) {
      if (a.kind() === net.kind() && a.match(net, bits)) return true;
    }
    return false;
  }
}
