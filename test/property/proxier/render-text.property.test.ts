/**
 * The renderer writes rule text into reused byte buffers (latin1, one byte per character) and falls back to
 * joined string pieces when a character does not fit in a byte. These properties pin the text that path produces:
 * on random clusters (every service type and policy, render options at random, service and port names with
 * latin1 and wider characters, endpoint ports that are strings with such characters), the byte-buffer text equals
 * the pieces text, each table's text agrees with the per-chain rule lists,
 * and renders that reuse earlier renders' fragments (some objects replaced, results read in any order, also after
 * later renders) give the same text and rules as a cold render of the same objects, also after a render that threw
 * part-way. The byte-buffer text is written both ways: the per-endpoint lines by the native line writer (when
 * built) and as strings copied in.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import type { EndpointSlice, Service } from "../../../src/api/index.js";
import { nativeLineWriter, useNativeLineWriter } from "../../../proxier/iptables/linewriter.js";
import { type RenderOptions, type RenderResult, render, renderAsPieces } from "../../../proxier/iptables/render.js";
import { type Cluster, clusterArb } from "../../../proxier/testing/index.js";
import { runs } from "../../support/runs.js";

const optsArb: fc.Arbitrary<RenderOptions> = fc.record({
  ipFamily: fc.constantFrom<"IPv4" | "IPv6">("IPv4", "IPv4", "IPv6"),
  clusterCIDRs: fc.constantFrom([], ["10.244.0.0/16"], ["fd00::/64", "10.244.0.0/16"]),
  masqueradeAll: fc.boolean(),
  masqueradeBit: fc.constantFrom(14, 0, 31),
  localhostNodePorts: fc.boolean(),
  nodePortAddresses: fc.constantFrom([], ["127.0.0.0/8"], ["primary"], ["192.168.0.0/16", "127.0.0.1/32"]),
  randomFully: fc.boolean(),
  nfacct: fc.record({ ctStateInvalidDropped: fc.boolean(), localhostNodePortsAccepted: fc.boolean() }),
  conntrackTCPLiberal: fc.boolean(),
  largeClusterEndpointsThreshold: fc.constantFrom(1000, 3, 0),
  existingNatChains: fc.constantFrom(undefined, ["KUBE-SVC-AAAAAAAAAAAAAAAA", "KUBE-SEP-BBBBBBBBBBBBBBBB"]),
});

/** Suffixes for one Service's name: none, latin1 (fits a byte), and wider characters (the pieces path). */
const SUFFIXES = ["", "", "-caf\u00e9", "-\u0101", "-\u4e2d"];

/** Where a suffix goes: the Service's name, its first port's name, or its slices' port number (made a string). */
type Where = "name" | "portName" | "endpointPort";

/**
 * The cluster with service `i`'s name (and its slice's service-name label), its first port's name (and the slice
 * ports of that name), or its slices' port numbers suffixed. A port number that is a string with wider characters
 * is what a hand-written objects file may hold; it reaches the per-endpoint lines the renderer copies natively.
 */
function renamed(c: Cluster, i: number, suffix: string, where: Where = "name"): Cluster {
  const out = structuredClone(c);
  const svc = out.services[i % Math.max(1, out.services.length)];
  if (!svc || suffix === "") return out;
  const name = svc.metadata.name;
  const slices = out.endpointSlices.filter(
    (s) =>
      s.metadata.namespace === svc.metadata.namespace && s.metadata.labels?.["kubernetes.io/service-name"] === name,
  );
  if (where === "name") {
    svc.metadata.name = `${name}${suffix}`;
    for (const s of slices) s.metadata.labels!["kubernetes.io/service-name"] = svc.metadata.name;
  } else if (where === "portName") {
    const port = svc.spec?.ports?.[0];
    if (!port) return out;
    const old = port.name ?? "";
    port.name = `${old}${suffix}`;
    for (const s of slices) for (const p of s.ports ?? []) if ((p.name ?? "") === old) p.name = port.name;
  } else {
    for (const s of slices)
      for (const p of s.ports ?? []) if (p.port) p.port = `${p.port}${suffix}` as unknown as number;
  }
  return out;
}

/** Everything a caller reads from a render, in the order given. */
function view(r: RenderResult, order: readonly ("payload" | "rules" | "meta")[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of order) {
    if (k === "payload") out[k] = r.payload;
    else if (k === "rules")
      out[k] = JSON.stringify([r.filter.chains, [...r.filter.rules], r.nat.chains, [...r.nat.rules]]);
    else
      out[k] = JSON.stringify([
        r.staleChains,
        [...r.serviceChains],
        [...r.activeNatChains].sort(),
        r.stats,
        r.masqueradeMark,
      ]);
  }
  return out;
}

/** Each table's `-A` lines in the payload, grouped by chain in order, against the per-chain rule lists. */
function assertTextMatchesLists(r: RenderResult): void {
  const tables = r.payload.split("COMMIT\n");
  for (const [t, rules] of [
    [tables[0]!, r.filter.rules],
    [tables[1]!, r.nat.rules],
  ] as const) {
    const byChain = new Map<string, string[]>();
    for (const line of t.split("\n")) {
      if (!line.startsWith("-A ")) continue;
      const chain = line.slice(3, line.indexOf(" ", 3));
      const list = byChain.get(chain) ?? [];
      list.push(line);
      byChain.set(chain, list);
    }
    for (const [chain, lines] of byChain) assert.deepEqual(rules.get(chain), lines, chain);
    for (const [chain, lines] of rules) if (lines.length > 0) assert.ok(byChain.has(chain), chain);
  }
}

/** Replaces the objects at the given indexes by (fresh copies of) another cluster's. */
function mixed(base: Cluster, other: Cluster, at: number[]): Cluster {
  const services: Service[] = [...base.services];
  const endpointSlices: EndpointSlice[] = [...base.endpointSlices];
  for (const k of at) {
    if (k < services.length && other.services.length)
      services[k] = structuredClone(other.services[k % other.services.length]!);
    if (k < endpointSlices.length && other.endpointSlices.length)
      endpointSlices[k] = structuredClone(other.endpointSlices[k % other.endpointSlices.length]!);
  }
  return { ...base, services, endpointSlices };
}

const clusters = clusterArb({
  maxServices: 6,
  maxEndpoints: 5,
  externalIPs: ["203.0.113.1", "203.0.113.2"],
  loadBalancerIPs: ["198.51.100.1", "198.51.100.2"],
  sourceRanges: ["192.168.0.0/16", "10.0.0.0/8"],
});
const whereArb = fc.constantFrom<Where>("name", "name", "portName", "endpointPort");
const orderArb = fc.shuffledSubarray(["payload", "rules", "meta"] as const, { minLength: 3, maxLength: 3 });

describe("render text (byte buffers, pieces fallback, reused fragments)", () => {
  it("byte-buffer text equals the pieces text and agrees with the per-chain lists", () => {
    // CI builds the native line writer (gcc and Node's headers are installed).
    if (process.env.CI) assert.ok(nativeLineWriter, "native line writer not built");
    let wide = 0;
    let latin1 = 0;
    fc.assert(
      fc.property(
        clusters,
        optsArb,
        fc.nat(10),
        fc.constantFrom(...SUFFIXES),
        whereArb,
        (c0, opts, i, suffix, where) => {
          const c = renamed(c0, i, suffix, where);
          const bytes = render(structuredClone(c), opts);
          let strings: RenderResult;
          try {
            useNativeLineWriter(false);
            strings = render(structuredClone(c), opts);
          } finally {
            useNativeLineWriter(true);
          }
          const pieces = renderAsPieces(structuredClone(c), opts);
          const want = view(pieces, ["payload", "rules", "meta"]);
          assert.deepEqual(view(bytes, ["payload", "rules", "meta"]), want);
          assert.deepEqual(view(strings, ["meta", "rules", "payload"]), pick(want, ["meta", "rules", "payload"]));
          assertTextMatchesLists(bytes);
          if (/[^\u0000-\u00ff]/.test(bytes.payload)) wide++;
          else if (/[\u0080-\u00ff]/.test(bytes.payload)) latin1++;
        },
      ),
      { numRuns: runs(500, 120) },
    );
    // Both kinds of non-ASCII text were rendered (else the fallback went untested).
    assert.ok(wide > 0 && latin1 > 0, `wide ${wide}, latin1 ${latin1}`);
  });

  it("renders reusing fragments give the text of a cold render of the same objects", () => {
    fc.assert(
      fc.property(
        clusters,
        clusters,
        optsArb,
        fc.array(fc.nat(8), { maxLength: 5 }),
        fc.constantFrom(...SUFFIXES),
        orderArb,
        orderArb,
        (c1, c2, opts, replace, suffix, order1, order2) => {
          const first = renamed(c1, 0, suffix);
          const second = mixed(first, c2, replace);
          const r1 = render(first, opts);
          const v1 = view(r1, order1);
          const r2 = render(second, opts); // reuses r1's fragments for the objects kept
          const v2 = view(r2, order2);
          const r3 = render(first, opts); // back: r1's fragments, some re-pointed by r2
          const v3 = view(r3, ["rules", "payload", "meta"]);
          const cold = (c: Cluster) => view(renderAsPieces(structuredClone(c), opts), ["payload", "rules", "meta"]);
          const cold1 = cold(first);
          assert.deepEqual(v1, pick(cold1, order1));
          assert.deepEqual(v2, pick(cold(second), order2));
          assert.deepEqual(v3, cold1);
          // Earlier results read again after later renders.
          assert.equal(r1.payload, cold1.payload);
          assert.equal(r2.payload, cold(second).payload);
        },
      ),
      { numRuns: runs(500, 120) },
    );
  });

  it("a render that throws part-way leaves nothing a later render reuses", () => {
    // existingNatChains is read after every port was rendered and before the text is read out of the buffers.
    const throwing: Iterable<string> = {
      [Symbol.iterator]() {
        throw new Error("kernel chains unreadable");
      },
    };
    fc.assert(
      fc.property(clusters, optsArb, fc.constantFrom(...SUFFIXES), (c0, opts, suffix) => {
        const c = renamed(c0, 0, suffix);
        assert.throws(() => render(c, { ...opts, existingNatChains: throwing }), /kernel chains unreadable/);
        const again = render(c, opts); // same objects: the failed render's ports would be reused
        assert.deepEqual(
          view(again, ["payload", "rules", "meta"]),
          view(renderAsPieces(structuredClone(c), opts), ["payload", "rules", "meta"]),
        );
      }),
      { numRuns: runs(200, 60) },
    );
  });
});

function pick(v: Record<string, string>, keys: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of keys) out[k] = v[k]!;
  return out;
}
