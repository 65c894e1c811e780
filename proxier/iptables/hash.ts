/**
 * kube-proxy's chain-name hashing (pkg/proxy/iptables/proxier.go `portProtoHash`, `servicePortEndpointChainName`).
 *
 * suffix = first 16 chars of base32(sha256(servicePortName + lower-case protocol [+ endpoint])), RFC 4648 alphabet.
 * servicePortName is `ns/name:portName` (or `ns/name` for an unnamed port); endpoint is `ip:port` (`[ip]:port` for IPv6).
 *
 * @example servicePortChainName("ns1/svc1:p80", "tcp") === "KUBE-SVC-XPGD46QRK7WJZT7O"
 */
import { hash } from "node:crypto";

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/** RFC 4648 base32 (Go's base32.StdEncoding) without padding; callers only ever take a prefix. */
export function base32(bytes: Uint8Array): string {
  let out = "";
  let bits = 0;
  let value = 0;
  for (const b of bytes) {
    value = (value << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out += ALPHABET[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
    value &= (1 << bits) - 1;
  }
  if (bits > 0) out += ALPHABET[(value << (5 - bits)) & 31];
  return out;
}

const CODES = Array.from(ALPHABET, (c) => c.charCodeAt(0));
const buf: number[] = [];

/**
 * `prefix` + the first 16 base32 characters of sha256(s): 80 bits = the first 20 hex digits, taken 5 hex digits
 * (20 bits, 4 base32 characters) at a time. One-shot `crypto.hash` to hex avoids a Hash object and a Buffer per
 * name (a cold 10k-service render hashes ~110k names), and String.fromCharCode makes one flat string instead of
 * a tree of concatenations (the names are kept for as long as the rules).
 */
function hashed(prefix: string, s: string): string {
  const hex = hash("sha256", s, "hex");
  buf.length = 0;
  for (let i = 0; i < prefix.length; i++) buf.push(prefix.charCodeAt(i));
  for (let i = 0; i < 20; i += 5) {
    const v = Number.parseInt(hex.slice(i, i + 5), 16);
    buf.push(CODES[(v >>> 15) & 31]!, CODES[(v >>> 10) & 31]!, CODES[(v >>> 5) & 31]!, CODES[v & 31]!);
  }
  return String.fromCharCode.apply(null, buf);
}

function hash16(s: string): string {
  return hashed("", s);
}

/** The 16-character hash shared by a service port's SVC/SVL/EXT/FW chains. */
export function portProtoHash(servicePortName: string, protocol: string): string {
  return hash16(servicePortName + protocol.toLowerCase());
}

export const ChainPrefix = {
  cluster: "KUBE-SVC-",
  local: "KUBE-SVL-",
  external: "KUBE-EXT-",
  firewall: "KUBE-FW-",
  endpoint: "KUBE-SEP-",
} as const;

/** KUBE-SVC-<hash>: the "Cluster" traffic-policy dispatcher of a service port. */
export function servicePortChainName(servicePortName: string, protocol: string): string {
  return ChainPrefix.cluster + portProtoHash(servicePortName, protocol);
}

/** KUBE-SVL-<hash>: the "Local" traffic-policy dispatcher of a service port. */
export function serviceLocalChainName(servicePortName: string, protocol: string): string {
  return ChainPrefix.local + portProtoHash(servicePortName, protocol);
}

/** KUBE-EXT-<hash>: entry for external traffic (NodePort, externalIPs, LB IPs). */
export function externalChainName(servicePortName: string, protocol: string): string {
  return ChainPrefix.external + portProtoHash(servicePortName, protocol);
}

/** KUBE-FW-<hash>: loadBalancerSourceRanges filter. */
export function firewallChainName(servicePortName: string, protocol: string): string {
  return ChainPrefix.firewall + portProtoHash(servicePortName, protocol);
}

/** KUBE-SEP-<hash>: one endpoint of a service port (endpoint = `ip:port`, `[ip6]:port`). */
export function endpointChainName(servicePortName: string, protocol: string, endpoint: string): string {
  return hashed(ChainPrefix.endpoint, servicePortName + protocol.toLowerCase() + endpoint);
}

/** The SVC/SVL/EXT/FW chain names of one service port (one hash, flat strings). */
export function portChainNames(
  servicePortName: string,
  protocol: string,
): { cluster: string; local: string; external: string; firewall: string } {
  const h = portProtoHash(servicePortName, protocol);
  return {
    cluster: [ChainPrefix.cluster, h].join(""),
    local: [ChainPrefix.local, h].join(""),
    external: [ChainPrefix.external, h].join(""),
    firewall: [ChainPrefix.firewall, h].join(""),
  };
}

/** True for the per-service chains kube-proxy owns in the nat table (SVC, SVL, EXT, FW, SEP). */
export function isServiceChainName(chain: string): boolean {
  return (
    chain.startsWith(ChainPrefix.cluster) ||
    chain.startsWith(ChainPrefix.local) ||
    chain.startsWith(ChainPrefix.external) ||
    chain.startsWith(ChainPrefix.firewall) ||
    chain.startsWith(ChainPrefix.endpoint)
  );
}
