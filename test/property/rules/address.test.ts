/**
 * normaliseAddress's IPv4 fast path (no ipaddr.js) must give what ipaddr.js gives, for addresses with and without
 * a prefix length, and leave every other form (leading zeros, masks, IPv6, out-of-range octets) to ipaddr.js.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { normaliseAddress, viaIpaddr } from "../../../proxier/rules/normalize.js";
import { runs } from "../../support/runs.js";

const octet = fc.oneof(fc.integer({ min: 0, max: 255 }).map(String), fc.constantFrom("00", "010", "256", "999", "1a"));
const v4 = fc.tuple(octet, octet, octet, octet).map((o) => o.join("."));
const suffix = fc.oneof(
  fc.constant(""),
  fc.integer({ min: 0, max: 32 }).map((n) => `/${n}`),
  fc.constantFrom("/33", "/08", "/255.255.0.0", "/", "/x"),
);
const addr = fc.oneof(
  fc.tuple(v4, suffix).map(([a, s]) => a + s),
  fc.constantFrom("::1", "fd00::1/64", "10.0.0", "host.example", "10.0.0.1/24/3"),
);

describe("property: IPv4 addresses normalised without ipaddr.js", () => {
  it("equal ipaddr.js's normalisation", () => {
    fc.assert(
      fc.property(addr, (s) => assert.equal(normaliseAddress(s), viaIpaddr(s), s)),
      { numRuns: runs(20000, 3000) },
    );
  });
});
