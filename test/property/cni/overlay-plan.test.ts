import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { FakeKernel } from "../../../cni/overlay/kernel.js";
import type { Peer } from "../../../cni/overlay/peers.js";
import { type PlanContext, plan } from "../../../cni/overlay/reconcile.js";
import { runs } from "../../support/runs.js";

const ctx: PlanContext = {
  vtepIndex: 5,
  underlayIndex: 2,
  underlayCidrs: ["198.18.0.1/24"],
  clusterCidr: "10.244.0.0/16",
  directRouting: false,
};

const peerArb = fc
  .record({
    i: fc.integer({ min: 2, max: 30 }),
    mac: fc.integer({ min: 1, max: 250 }),
    ip: fc.integer({ min: 2, max: 250 }),
    far: fc.boolean(),
  })
  .map(
    ({ i, mac, ip, far }): Peer => ({
      name: `n${i}`,
      subnet: `10.244.${i}.0/24`,
      vtepIp: `10.244.${i}.0`,
      mac: `0a:00:00:00:00:${mac.toString(16).padStart(2, "0")}`,
      publicIp: far ? `198.19.0.${ip}` : `198.18.0.${ip}`,
    }),
  );
const peersArb = fc.uniqueArray(peerArb, { selector: (p) => p.name, maxLength: 8 }).map((ps) => {
  // VTEP MACs are unique per node (as flannel's are).
  const seen = new Set<string>();
  return ps.filter((p) => {
    if (seen.has(p.mac)) return false;
    seen.add(p.mac);
    return true;
  });
});

async function converge(k: FakeKernel, peers: Peer[], c: PlanContext): Promise<void> {
  for (const a of plan(peers, await k.read(), c)) await k.apply(a);
}

test("overlay plan: from any earlier peer set, one pass converges exactly and a second pass is empty", async () => {
  await fc.assert(
    fc.asyncProperty(peersArb, peersArb, fc.boolean(), async (before, afterPeers, direct) => {
      const c = { ...ctx, directRouting: direct };
      const k = new FakeKernel();
      // Foreign state the agent must never touch: a connected route, a default route, the all-zeros FDB entry.
      k.state.routes.push({ dst: "198.18.0.0/24", ifindex: 2, onlink: false, kernel: true });
      k.state.routes.push({ dst: "0.0.0.0/0", gw: "198.18.0.254", ifindex: 2, onlink: false, kernel: false });
      k.state.fdb.push({ mac: "00:00:00:00:00:00", dst: "198.18.0.9", permanent: true });
      await converge(k, before, c);
      await converge(k, afterPeers, c);
      assert.deepEqual(plan(afterPeers, await k.read(), c), []);
      const s = await k.read();
      for (const p of afterPeers) {
        const directHere = direct && p.publicIp.startsWith("198.18.0.");
        const r = s.routes.find((x) => x.dst === p.subnet);
        if (directHere) {
          assert.deepEqual([r?.gw, r?.ifindex], [p.publicIp, 2]);
          assert.ok(!s.neigh.some((n) => n.ip === p.vtepIp));
        } else {
          assert.deepEqual([r?.gw, r?.ifindex, r?.onlink], [p.vtepIp, 5, true]);
          assert.equal(s.neigh.find((n) => n.ip === p.vtepIp)?.mac, p.mac);
          assert.deepEqual(
            s.fdb.filter((f) => f.mac === p.mac).map((f) => f.dst),
            [p.publicIp],
          );
        }
      }
      // Nothing left over from removed peers; foreign entries intact.
      const subnets = new Set(afterPeers.map((p) => p.subnet));
      assert.ok(s.routes.filter((r) => r.dst.startsWith("10.244.")).every((r) => subnets.has(r.dst)));
      assert.equal(s.neigh.length, afterPeers.filter((p) => !(direct && p.publicIp.startsWith("198.18.0."))).length);
      assert.ok(s.routes.some((r) => r.dst === "0.0.0.0/0"));
      assert.ok(s.routes.some((r) => r.dst === "198.18.0.0/24"));
      assert.ok(s.fdb.some((f) => f.mac === "00:00:00:00:00:00"));
    }),
    { numRuns: runs(2000, 300) },
  );
});
