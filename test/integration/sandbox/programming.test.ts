/**
 * The sandbox's service-programming path on the real kernel: the iptables proxier with in-place chain edits
 * (-D / -I on partial syncs, proxier/iptables/incremental.ts) must leave every node namespace as one full sync of the
 * same objects would — same chains, same rules, same order (dispatch chains: same rules, same last rule) — on the
 * nft and legacy backends, also after several syncs that each start from the kernel order the previous one left.
 */
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { type Backend, IptablesRunner } from "../../../src/netlinux/iptables.js";
import { DISPATCH_CHAINS } from "../../../proxier/iptables/incremental.js";
import { IptablesProxier } from "../../../proxier/iptables/proxier.js";
import { NetnsScope } from "../../support/netns.js";
import { numberedService, numberedSlice } from "../../support/service-fixtures.js";

const svc = (i: number) => numberedService(i, 4);
const slice = (i: number, eps: number) => numberedSlice(i, eps, 1);

function newProxier(ns: string, backend: Backend, incrementalEdits: boolean): IptablesProxier {
  const p = new IptablesProxier({
    iptables: new IptablesRunner({ backend, netns: ns }),
    nodeName: "node1",
    nodeIPs: ["198.18.0.1"],
    render: { clusterCIDRs: ["10.244.0.0/16"] },
    incrementalEdits,
    minSyncPeriodMs: 3_600_000,
    syncPeriodMs: 3_600_000,
  });
  p.onServicesSynced();
  p.onEndpointSlicesSynced();
  return p;
}

/** KUBE-* chains of nat and filter as the kernel lists them (chain → rules in order). */
async function kernelChains(ipt: IptablesRunner): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {};
  for (const table of ["nat", "filter"] as const) {
    for (const line of (await ipt.save(table)).split("\n")) {
      const m = line.match(/^(?::(\S+)|-A (\S+) )/);
      const chain = m?.[1] ?? m?.[2];
      if (!chain?.startsWith("KUBE-")) continue;
      const key = `${table}/${chain}`;
      out[key] ??= [];
      if (line.startsWith("-A")) out[key].push(line);
    }
  }
  // Dispatch chains hold disjoint matches in any order, the last rule last (incremental.ts): compare them as sets.
  for (const [k, rules] of Object.entries(out))
    if (DISPATCH_CHAINS.has(k)) out[k] = [...[...rules].sort(), `last: ${rules.at(-1) ?? ""}`];
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => (a < b ? -1 : 1)));
}

describe("service programming with in-place chain edits (real kernel)", () => {
  const scope = new NetnsScope("pg");
  after(() => scope.cleanup());

  for (const backend of ["nft", "legacy"] as const) {
    it(`${backend}: after every partial sync the kernel equals one full sync of the same objects`, async () => {
      const ns = await scope.add(`${backend[0]}i`);
      const ref = await scope.add(`${backend[0]}r`);
      const ipt = new IptablesRunner({ backend, netns: ns });
      const p = newProxier(ns, backend, true);
      for (let i = 1; i <= 40; i++) {
        p.onServiceAdd(svc(i));
        p.onEndpointSliceAdd(slice(i, 1));
      }
      assert.ok((await p.syncProxyRules()).ok, "first (full) sync");
      // Steps like the bench's: services added without endpoints, then their slices; endpoints change; deletions.
      const steps: [string, () => void][] = [
        [
          "add 3 services without endpoints",
          () => {
            for (const i of [41, 42, 43]) p.onServiceAdd(svc(i));
          },
        ],
        [
          "their slices arrive",
          () => {
            for (const i of [41, 42, 43]) p.onEndpointSliceAdd(slice(i, 1));
          },
        ],
        [
          "one service's endpoints go 1 → 2, another's 1 → 0",
          () => {
            p.onEndpointSliceUpdate(slice(7, 2));
            p.onEndpointSliceUpdate(slice(9, 0));
          },
        ],
        [
          "delete a ClusterIP and a NodePort service",
          () => {
            p.onServiceDelete(svc(5));
            p.onEndpointSliceDelete(slice(5, 1));
            p.onServiceDelete(svc(8));
            p.onEndpointSliceDelete(slice(8, 1));
          },
        ],
        [
          "add a NodePort service at the front and one at the end",
          () => {
            p.onServiceAdd(svc(44));
            p.onEndpointSliceAdd(slice(44, 1));
            p.onServiceAdd(svc(2));
            p.onEndpointSliceAdd(slice(2, 2));
          },
        ],
      ];
      let edited = 0;
      for (const [what, step] of steps) {
        step();
        const r = await p.syncProxyRules();
        assert.ok(r.ok, `${what}: sync failed: ${r.error?.message}`);
        assert.equal(r.full, false, `${what}: partial sync`);
        if (r.plan && "editedChains" in r.plan) edited += r.plan.editedChains.length;
        const q = newProxier(ref, backend, false);
        for (const s of p.tracker.services.values()) q.onServiceAdd(s);
        for (const s of p.tracker.slices.values()) q.onEndpointSliceAdd(s);
        await new IptablesRunner({ backend, netns: ref }).restore("*nat\n-F\n-X\nCOMMIT\n*filter\n-F\n-X\nCOMMIT\n");
        assert.ok((await q.syncProxyRules()).ok, `${what}: reference full sync`);
        assert.deepEqual(
          await kernelChains(ipt),
          await kernelChains(new IptablesRunner({ backend, netns: ref })),
          `${what}: kernel differs from a full sync`,
        );
      }
      // Every step but the first (it only adds REJECT rules to the small filter KUBE-SERVICES) edits nat KUBE-SERVICES.
      assert.ok(edited >= steps.length - 1, `shared chains were edited in place (${edited} edits)`);
    });
  }
});
