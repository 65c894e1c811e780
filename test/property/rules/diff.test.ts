import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { type Cluster, canonical, clusterArb, diff, parseRules, render } from "../../../proxier/testing/index.js";
import { runs } from "../../support/runs.js";

/** The cluster without endpoint `k` of service `i`. */
function withoutEndpoint(c: Cluster, i: number, k: number): Cluster {
  return {
    ...c,
    endpointSlices: c.endpointSlices.map((s, n) =>
      n === i ? { ...s, endpoints: (s.endpoints ?? []).filter((_, m) => m !== k) } : s,
    ),
  };
}

describe("property: canonical form and diff over rendered rules", () => {
  it("canonical form is idempotent and a rule set equals itself", () => {
    fc.assert(
      fc.property(clusterArb(), (c) => {
        const payload = render(c);
        const once = canonical(payload);
        assert.equal(canonical(once), once);
        assert.equal(diff(payload, once).equal, true);
      }),
      { numRuns: runs(1000, 150) },
    );
  });

  it("removing one endpoint: the diff names only that Service, and only that endpoint as removed", () => {
    const arb = clusterArb({ maxEndpoints: 4 }).chain((c) => {
      const withEps = c.endpointSlices.map((s, i) => [s, i] as const).filter(([s]) => (s.endpoints ?? []).length > 0);
      if (!withEps.length) return fc.constant(null);
      return fc
        .constantFrom(...withEps)
        .chain(([s, i]) => fc.nat((s.endpoints ?? []).length - 1).map((k) => ({ c, i, k })));
    });
    fc.assert(
      fc.property(arb, (x) => {
        if (!x) return;
        const { c, i, k } = x;
        const svc = c.services[i]!;
        const ip = c.endpointSlices[i]!.endpoints![k]!.addresses[0]!;
        const before = render(c);
        const after = render(withoutEndpoint(c, i, k));
        const d = diff(before, after);
        const key = `${svc.metadata.namespace}/${svc.metadata.name}`;
        assert.equal(d.equal, canonical(before) === canonical(after));
        assert.deepEqual(d.chains, [], JSON.stringify(d));
        for (const s of d.services) {
          assert.ok(s.service === key || s.service.startsWith(`${key}:`), `${s.service} is a port of ${key}`);
          for (const e of s.endpointsRemoved) assert.equal(e.endpoint.split(":")[0], ip);
        }
        // When the endpoint was in use (a SEP chain for it existed), the diff says so by name.
        const sepBefore = parseRules(before).tables.get("nat")!;
        const used = [...sepBefore.chains.values()].some(
          (ch) => ch.name.startsWith("KUBE-SEP-") && ch.rules.some((r) => r.key.includes(`--to-destination ${ip}:`)),
        );
        const named = d.services.some((s) => s.endpointsRemoved.some((e) => e.endpoint.startsWith(`${ip}:`)));
        assert.equal(named, used, JSON.stringify(d));
      }),
      { numRuns: runs(1000, 150) },
    );
  });
});
