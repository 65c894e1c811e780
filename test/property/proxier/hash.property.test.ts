/**
 * Chain-name hashing: the native engine (native/chainhash.c, when built) and the JavaScript one (one-shot
 * crypto.hash read as latin1, base32 codes written straight into the name). These properties pin every entry point
 * and each engine against a reference written the plain way (createHash over the concatenated UTF-8 string, RFC 4648
 * base32 of the digest, first 16 characters), on ASCII, latin1 and wider characters and lengths across SHA-256's
 * one-block padding boundary (55/56 bytes) and the native engine's 512-byte stack buffer.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { describe, it } from "node:test";
import fc from "fast-check";
import {
  base32,
  chainHashEngine,
  chainHashEngines,
  endpointChainName,
  endpointChainNameWithPrefix,
  portChainNames,
  portProtoHash,
} from "../../../proxier/iptables/hash.js";
import { runs } from "../../support/runs.js";

function ref(s: string): string {
  return base32(createHash("sha256").update(s, "utf8").digest()).slice(0, 16);
}

// Strings around SHA-256's one-block limit: ASCII mostly, sometimes latin1 / BMP / astral characters.
const text = fc.oneof(
  { weight: 6, arbitrary: fc.string({ maxLength: 70 }) },
  { weight: 2, arbitrary: fc.string({ minLength: 40, maxLength: 60 }) },
  { weight: 1, arbitrary: fc.string({ unit: "binary", maxLength: 40 }) },
  {
    weight: 1,
    arbitrary: fc.string({ unit: fc.constantFrom("a", "é", "ÿ", "\u0100", "\u{1F600}", "/", ":"), maxLength: 30 }),
  },
);
const proto = fc.constantFrom("TCP", "UDP", "SCTP", "tcp");
const ipv4 = fc.ipV4();
const port = fc.integer({ min: 1, max: 65535 }).map(String);

describe("chain-name hashing", () => {
  it("every entry point = sha256 → base32 → 16 chars of the concatenated input", () => {
    fc.assert(
      fc.property(text, proto, text, (name, p, ep) => {
        const h = ref(name + p.toLowerCase());
        assert.equal(portProtoHash(name, p), h);
        assert.deepEqual(portChainNames(name, p), {
          cluster: `KUBE-SVC-${h}`,
          local: `KUBE-SVL-${h}`,
          external: `KUBE-EXT-${h}`,
          firewall: `KUBE-FW-${h}`,
        });
        const sep = `KUBE-SEP-${ref(name + p.toLowerCase() + ep)}`;
        assert.equal(endpointChainName(name, p, ep), sep);
        assert.equal(endpointChainNameWithPrefix(name + p.toLowerCase(), ep), sep);
      }),
      { numRuns: runs(20_000, 3_000) },
    );
  });

  it("an IPv4 endpoint's SEP name = the hash of portProto + ip:port", () => {
    fc.assert(
      fc.property(text, ipv4, port, (portProto, ip, pt) => {
        const want = `KUBE-SEP-${ref(`${portProto}${ip}:${pt}`)}`;
        assert.equal(endpointChainNameWithPrefix(portProto, `${ip}:${pt}`), want);
      }),
      { numRuns: runs(20_000, 3_000) },
    );
  });

  it("each engine = the reference, also past 512 UTF-8 bytes and with characters cut at that edge", () => {
    // CI builds the native engine (gcc and Node's headers are installed); without it only crypto is compared.
    if (process.env.CI) assert.equal(chainHashEngine, "native");
    const long = fc.oneof(
      text,
      fc.string({ minLength: 480, maxLength: 1200 }),
      fc
        .tuple(fc.integer({ min: 500, max: 515 }), fc.constantFrom("é", "\u0800", "\u{1F600}"))
        .map(([n, c]) => "a".repeat(n) + c.repeat(3)),
    );
    for (const [name, engine] of Object.entries(chainHashEngines)) {
      fc.assert(
        fc.property(fc.constantFrom("", "KUBE-SEP-", "KUBE-SVC-"), long, long, (prefix, a, b) => {
          assert.equal(engine.hash16(prefix, a, b), prefix + ref(a + b), name);
          assert.equal(engine.sepName(a, b), `KUBE-SEP-${ref(a + b)}`, name);
        }),
        { numRuns: runs(5_000, 1_000) },
      );
    }
  });

  it("kube-proxy's own examples", () => {
    assert.equal(portChainNames("ns1/svc1:p80", "TCP").cluster, "KUBE-SVC-XPGD46QRK7WJZT7O");
    // every length 0..80 of one character, across the 55/56-byte padding boundary
    for (let n = 0; n <= 80; n++) {
      const s = "x".repeat(n);
      assert.equal(portProtoHash(s, ""), ref(s), `length ${n}`);
    }
  });
});
