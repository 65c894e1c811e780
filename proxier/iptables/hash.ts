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

const CODES = new Uint8Array(Array.from(ALPHABET, (c) => c.charCodeAt(0)));

// SHA-256 (FIPS 180-4) in JS for the short names kube-proxy hashes. A name's input (`ns/svc:port` + protocol
// [+ `ip:port`]) is almost always one block (≤ 55 bytes): compressing that block here, with the input's pieces
// copied straight into a reused buffer, costs about half of `crypto.hash` plus the concatenated input string, its
// flattening and the digest string (a cold 1k-service render hashes ~11k names; measured in the commit). Longer or
// non-ASCII input (UTF-8 needed) goes to crypto.hash. Only the first 80 bits of the digest are used.
const K = new Int32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98,
  0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
  0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8,
  0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
  0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819,
  0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
  0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
  0xc67178f2,
]);
const W = new Int32Array(64);
const B = new Uint8Array(64);
/** The digest's first three words (of which 80 bits are used), set by compress() or digestFallback(). */
const D = new Int32Array(3);
/** Bytes at most in one padded block. */
const ONE_BLOCK = 55;

/** Copies `s` into B at `at` when it fits one block and is ASCII; returns the new end, or -1. */
function put(s: string, at: number): number {
  const end = at + s.length;
  if (end > ONE_BLOCK) return -1;
  let or = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    or |= c;
    B[at + i] = c;
  }
  return or < 128 ? end : -1;
}

/** SHA-256 of the n bytes in B (n ≤ 55: pads them into one block); the first three digest words into D. */
function compress(n: number): void {
  B[n] = 0x80;
  B.fill(0, n + 1, 62);
  B[62] = n >>> 5; // bit length, big-endian (n * 8 < 2^16)
  B[63] = (n << 3) & 255;
  const w = W;
  for (let i = 0; i < 16; i++) {
    const j = i << 2;
    w[i] = (B[j]! << 24) | (B[j + 1]! << 16) | (B[j + 2]! << 8) | B[j + 3]!;
  }
  for (let t = 16; t < 64; t++) {
    const x = w[t - 15]!;
    const y = w[t - 2]!;
    const s0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3);
    const s1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10);
    w[t] = (w[t - 16]! + s0 + w[t - 7]! + s1) | 0;
  }
  let a = 0x6a09e667 | 0;
  let b = 0xbb67ae85 | 0;
  let c = 0x3c6ef372 | 0;
  let d = 0xa54ff53a | 0;
  let e = 0x510e527f | 0;
  let f = 0x9b05688c | 0;
  let g = 0x1f83d9ab | 0;
  let h = 0x5be0cd19 | 0;
  for (let t = 0; t < 64; t++) {
    const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
    const t1 = (h + S1 + ((e & f) ^ (~e & g)) + K[t]! + w[t]!) | 0;
    const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
    const t2 = (S0 + ((a & b) ^ (a & c) ^ (b & c))) | 0;
    h = g;
    g = f;
    f = e;
    e = (d + t1) | 0;
    d = c;
    c = b;
    b = a;
    a = (t1 + t2) | 0;
  }
  D[0] = (a + 0x6a09e667) | 0;
  D[1] = (b + 0xbb67ae85) | 0;
  D[2] = (c + 0x3c6ef372) | 0;
}

/** crypto.hash for input the one-block path does not take (UTF-8 encoded, as Go hashes the string's bytes). */
function digestFallback(s: string): void {
  const d = hash("sha256", s, "buffer");
  D[0] = d.readInt32BE(0);
  D[1] = d.readInt32BE(4);
  D[2] = d.readInt32BE(8);
}

/** sha256(a + b + c + d) into D, without building the concatenation when it fits one block. */
function digest(a: string, b: string, c: string, d: string): void {
  let n = put(a, 0);
  if (n >= 0) n = put(b, n);
  if (n >= 0) n = put(c, n);
  if (n >= 0) n = put(d, n);
  if (n >= 0) compress(n);
  else digestFallback(a + b + c + d);
}

/** base32 of D's first 80 bits: 16 characters, one flat string. */
function nameOfDigest(): string {
  const h0 = D[0]!;
  const h1 = D[1]!;
  const h2 = D[2]!;
  const c = CODES;
  return String.fromCharCode(
    c[h0 >>> 27]!,
    c[(h0 >>> 22) & 31]!,
    c[(h0 >>> 17) & 31]!,
    c[(h0 >>> 12) & 31]!,
    c[(h0 >>> 7) & 31]!,
    c[(h0 >>> 2) & 31]!,
    c[((h0 & 3) << 3) | (h1 >>> 29)]!,
    c[(h1 >>> 24) & 31]!,
    c[(h1 >>> 19) & 31]!,
    c[(h1 >>> 14) & 31]!,
    c[(h1 >>> 9) & 31]!,
    c[(h1 >>> 4) & 31]!,
    c[((h1 & 15) << 1) | (h2 >>> 31)]!,
    c[(h2 >>> 26) & 31]!,
    c[(h2 >>> 21) & 31]!,
    c[(h2 >>> 16) & 31]!,
  );
}

/** KUBE-SEP-<hash> as one flat string (the names live as long as the rules; a cons pair would be 2 objects). */
function sepName(): string {
  const h0 = D[0]!;
  const h1 = D[1]!;
  const h2 = D[2]!;
  const c = CODES;
  return String.fromCharCode(
    75, // K
    85, // U
    66, // B
    69, // E
    45, // -
    83, // S
    69, // E
    80, // P
    45, // -
    c[h0 >>> 27]!,
    c[(h0 >>> 22) & 31]!,
    c[(h0 >>> 17) & 31]!,
    c[(h0 >>> 12) & 31]!,
    c[(h0 >>> 7) & 31]!,
    c[(h0 >>> 2) & 31]!,
    c[((h0 & 3) << 3) | (h1 >>> 29)]!,
    c[(h1 >>> 24) & 31]!,
    c[(h1 >>> 19) & 31]!,
    c[(h1 >>> 14) & 31]!,
    c[(h1 >>> 9) & 31]!,
    c[(h1 >>> 4) & 31]!,
    c[((h1 & 15) << 1) | (h2 >>> 31)]!,
    c[(h2 >>> 26) & 31]!,
    c[(h2 >>> 21) & 31]!,
    c[(h2 >>> 16) & 31]!,
  );
}

/** The 16-character hash shared by a service port's SVC/SVL/EXT/FW chains. */
export function portProtoHash(servicePortName: string, protocol: string): string {
  digest(servicePortName, protocol.toLowerCase(), "", "");
  return nameOfDigest();
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
  digest(servicePortName, protocol.toLowerCase(), endpoint, "");
  return sepName();
}

/** endpointChainName with `servicePortName + lower-case protocol` given (computed once per slice port). */
export function endpointChainNameWithPrefix(portProto: string, endpoint: string): string {
  digest(portProto, endpoint, "", "");
  return sepName();
}

/**
 * endpointChainNameWithPrefix(portProto, ip + ":" + portText) without building that endpoint string (IPv4; IPv6
 * endpoints are `[ip]:port`, use endpointChainNameWithPrefix).
 */
export function endpointChainNameV4(portProto: string, ip: string, portText: string): string {
  digest(portProto, ip, ":", portText);
  return sepName();
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
