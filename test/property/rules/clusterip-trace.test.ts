/**
 * The runnable example of docs/property-testing.md: for any cluster, a pod's packet to a ClusterIP reaches
 * exactly the endpoints Kubernetes says it should (ready ones; else serving+terminating ones; only this node's for
 * internalTrafficPolicy Local), is rejected/dropped when there are none, and is masqueraded only on hairpin.
 * Users import the same things from "podwire/testing".
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { type Cluster, clusterArb, render, trace } from "../../../proxier/testing/index.js";
import { runs } from "../../support/runs.js";

const POD = "10.244.0.5";

/** The oracle, written from the Kubernetes docs rather than from the renderer. */
function expectedTargets(c: Cluster, svcIndex: number, portIndex: number): { targets: string[]; verdict: string } {
  const svc = c.services[svcIndex]!;
  const port = svc.spec.ports![portIndex]!;
  const slice = c.endpointSlices[svcIndex]!;
  const sp = slice.ports!.find((p) => (p.name ?? "") === (port.name ?? "") && p.protocol === port.protocol)!;
  const eps = slice.endpoints ?? [];
  const ready = (e: (typeof eps)[number]) => e.conditions?.ready !== false;
  const servingTerminating = (e: (typeof eps)[number]) =>
    e.conditions?.serving !== false && e.conditions?.terminating === true;
  const pick = (list: typeof eps) => {
    const r = list.filter(ready);
    return r.length ? r : list.filter(servingTerminating);
  };
  const local = svc.spec.internalTrafficPolicy === "Local";
  const chosen = local ? pick(eps.filter((e) => e.nodeName === c.node.name)) : pick(eps);
  const anyAtAll = pick(eps).length > 0;
  const targets = [...new Set(chosen.map((e) => `${e.addresses[0]}:${sp.port}`))].sort();
  if (targets.length) return { targets, verdict: "DNAT" };
  return { targets: [], verdict: anyAtAll ? "DROP" : "REJECT" };
}

describe("property: ClusterIP traffic from a pod", () => {
  it("reaches exactly the usable endpoints, in rule order, masqueraded only on hairpin", () => {
    type Case = { cluster: Cluster; pick: readonly [number, number] | null };
    const arb = clusterArb({ conditions: true }).chain((cluster): fc.Arbitrary<Case> => {
      const withIP = cluster.services.map((s, i) => [s, i] as const).filter(([s]) => s.spec.clusterIP);
      if (withIP.length === 0) return fc.constant<Case>({ cluster, pick: null });
      return fc
        .constantFrom(...withIP)
        .chain(([s, i]) => fc.nat(s.spec.ports!.length - 1).map((j) => ({ cluster, pick: [i, j] as const })));
    });
    fc.assert(
      fc.property(arb, ({ cluster, pick }) => {
        if (!pick) return;
        const [i, j] = pick;
        const svc = cluster.services[i]!;
        const port = svc.spec.ports![j]!;
        const payload = render(cluster);
        const r = trace(
          payload,
          { src: POD, dst: svc.spec.clusterIP!, dport: port.port, proto: port.protocol!.toLowerCase() as "tcp" },
          { nodeIPs: cluster.node.ips },
        );
        const want = expectedTargets(cluster, i, j);
        assert.deepEqual([...r.targets].sort(), want.targets, `targets\n${payload}`);
        if (want.verdict === "DNAT") assert.notEqual(r.verdict, "DROP");
        else assert.equal(r.verdict, want.verdict, payload);
        // kube-proxy orders endpoints by their "ip:port" string; the trace lists them in rule order
        if (!svc.spec.sessionAffinity || svc.spec.sessionAffinity === "None") assert.deepEqual(r.targets, want.targets);
        for (const o of r.outcomes)
          assert.equal(o.masquerade, o.target?.split(":")[0] === POD, "masquerade only on hairpin");
      }),
      { numRuns: runs(2000, 300) },
    );
  });
});
