/**
 * kube-proxy's chain-name hashing (pkg/proxy/iptables/proxier.go `portProtoHash`, `servicePortEndpointChainName`).
 *
 * suffix = first 16 chars of base32(sha256(servicePortName + lower-case protocol [+ endpoint])), RFC 4648 alphabet.
 * servicePortName is `ns/name:portName` (or `ns/name` for an unnamed port); endpoint is `ip:port` (`[ip]:port` for IPv6).
 *
 * @example servicePortChainName("ns1/svc1:p80", "tcp") === "KUBE-SVC-XPGD46QRK7WJZT7O"
 */
import { hash } from "node:crypto";
import { createRequire } from "node:module";

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
const SEP = Array.from("KUBE-SEP-", (c) => c.charCodeAt(0));

/**
 * The 16 base32 character codes of sha256(s)'s first 80 bits. The digest comes back as a 32-character "binary"
 * (latin1) string: one char per byte, half the length of hex, no Buffer. 5 bytes at a time make 8 characters.
 */
function hashCodes(s: string, out: number[], at: number): void {
  const d = hash("sha256", s, "binary");
  for (let i = 0; i < 10; i += 5) {
    const b2 = d.charCodeAt(i + 2);
    const hi = (d.charCodeAt(i) << 12) | (d.charCodeAt(i + 1) << 4) | (b2 >>> 4);
    const lo = ((b2 & 15) << 16) | (d.charCodeAt(i + 3) << 8) | d.charCodeAt(i + 4);
    out[at++] = CODES[(hi >>> 15) & 31]!;
    out[at++] = CODES[(hi >>> 10) & 31]!;
    out[at++] = CODES[(hi >>> 5) & 31]!;
    out[at++] = CODES[hi & 31]!;
    out[at++] = CODES[(lo >>> 15) & 31]!;
    out[at++] = CODES[(lo >>> 10) & 31]!;
    out[at++] = CODES[(lo >>> 5) & 31]!;
    out[at++] = CODES[lo & 31]!;
  }
}

const buf: number[] = [];
const sepBuf: number[] = [...SEP, ...new Array<number>(16).fill(65)];

/**
 * `prefix` + the first 16 base32 characters of sha256(s). One-shot `crypto.hash` (latin1) avoids a Hash object and
 * a Buffer per name (a cold 10k-service render hashes ~110k names), and String.fromCharCode makes one flat string
 * instead of a tree of concatenations (the names are kept for as long as the rules).
 */
function hashed(prefix: string, s: string): string {
  buf.length = prefix.length + 16;
  for (let i = 0; i < prefix.length; i++) buf[i] = prefix.charCodeAt(i);
  hashCodes(s, buf, prefix.length);
  return String.fromCharCode.apply(null, buf);
}

/** KUBE-SEP-<hash>: the hot path (one per endpoint), fixed arity. */
function cryptoSepName(s: string): string {
  const b = sepBuf;
  hashCodes(s, b, 9);
  return String.fromCharCode(
    b[0]!,
    b[1]!,
    b[2]!,
    b[3]!,
    b[4]!,
    b[5]!,
    b[6]!,
    b[7]!,
    b[8]!,
    b[9]!,
    b[10]!,
    b[11]!,
    b[12]!,
    b[13]!,
    b[14]!,
    b[15]!,
    b[16]!,
    b[17]!,
    b[18]!,
    b[19]!,
    b[20]!,
    b[21]!,
    b[22]!,
    b[23]!,
    b[24]!,
  );
}

/** Names chains: `prefix` + the 16-character hash of a + b; `sepName` is hash16 with prefix KUBE-SEP-. */
interface ChainHashEngine {
  hash16(prefix: string, a: string, b: string): string;
  sepName(a: string, b: string): string;
}

/** The JavaScript engine: crypto.hash of the concatenation. */
const cryptoEngine: ChainHashEngine = {
  hash16: (prefix, a, b) => hashed(prefix, a + b),
  sepName: (a, b) => cryptoSepName(a + b),
};

/**
 * The native engine (native/chainhash.c, built by `npm run build` when a C compiler and Node's headers are there):
 * the whole name in one call, ~3× faster per name than crypto.hash (a 1k-service render hashes ~11k names).
 * `PODWIRE_CHAINHASH=crypto` picks the JavaScript engine (for comparisons); the names are the same.
 */
function loadNative(): ChainHashEngine | null {
  if (process.env.PODWIRE_CHAINHASH === "crypto") return null;
  const require = createRequire(import.meta.url);
  // Beside this module in dist/proxier/iptables/, or from a bundle at the top of dist/ (podwire-rules-diff.mjs).
  for (const path of ["./native/podwire_chainhash.node", "./proxier/iptables/native/podwire_chainhash.node"]) {
    try {
      const m = require(path) as Partial<ChainHashEngine>;
      if (typeof m.hash16 === "function" && typeof m.sepName === "function")
        return { hash16: m.hash16, sepName: m.sepName };
    } catch {
      // not there (not built: no C compiler at build time), or not loadable here
    }
  }
  return null;
}
const nativeEngine = loadNative();
const { hash16, sepName } = nativeEngine ?? cryptoEngine;

/** Which engine names chains in this process; every engine here, for tests that compare them. */
export const chainHashEngine: "native" | "crypto" = nativeEngine ? "native" : "crypto";
export const chainHashEngines: Readonly<Record<string, ChainHashEngine>> = nativeEngine
  ? { native: nativeEngine, crypto: cryptoEngine }
  : { crypto: cryptoEngine };

/** The 16-character hash shared by a service port's SVC/SVL/EXT/FW chains. */
export function portProtoHash(servicePortName: string, protocol: string): string {
  return hash16("", servicePortName, protocol.toLowerCase());
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
  return sepName(servicePortName + protocol.toLowerCase(), endpoint);
}

/** endpointChainName with `servicePortName + lower-case protocol` given (computed once per slice port). */
export function endpointChainNameWithPrefix(portProto: string, endpoint: string): string {
  return sepName(portProto, endpoint);
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
