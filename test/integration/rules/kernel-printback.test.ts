/**
 * The normaliser against the real kernel: random clusters are rendered, loaded into a throwaway namespace with
 * iptables-restore (nf_tables and legacy backends), read back with iptables-save, and the semantic diff between
 * the payload and the kernel's print-back must be empty. Also drives `podwire rules diff --live FILE --netns NS`.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import fc from "fast-check";
import { runIn } from "../../../src/netlinux/netns.js";
import { clusterArb, diff, render } from "../../../proxier/testing/index.js";
import { NetnsScope } from "../../support/netns.js";
import { runs } from "../../support/runs.js";

const isRoot = process.getuid?.() === 0;

describe("kernel print-back equals the rendered payload", { skip: !isRoot && "needs root" }, () => {
  const scope = new NetnsScope("kp");
  let ns = "";
  before(async () => {
    ns = await scope.add("n");
  });
  after(async () => {
    await scope.cleanup();
  });

  for (const [restore, save] of [
    ["iptables-restore", "iptables-save"],
    ["iptables-legacy-restore", "iptables-legacy-save"],
  ] as const) {
    it(`${restore}: diff(payload, ${save}) is empty for random clusters`, async () => {
      await fc.assert(
        fc.asyncProperty(clusterArb({ maxServices: 5 }), async (cluster) => {
          const payload = render(cluster, { randomFully: true });
          await runIn(ns, restore, [], { input: payload });
          const dumped = (await runIn(ns, save, [])).stdout;
          const d = diff(payload, dumped);
          assert.equal(d.equal, true, `${JSON.stringify(d, null, 1)}\npayload:\n${payload}\nkernel:\n${dumped}`);
        }),
        { numRuns: runs(200, 15) },
      );
      // leave the namespace clean for the other backend
      await runIn(ns, save.replace("-save", "-restore"), [], { input: "*filter\nCOMMIT\n*nat\nCOMMIT\n" });
    });
  }

  it("podwire rules diff --live FILE --netns NS: 0 when the kernel holds FILE, 1 after a change", async () => {
    const dir = mkdtempSync(join(tmpdir(), "pw-live-"));
    const bin = new URL("../../../../bin/podwire", import.meta.url).pathname;
    try {
      const cluster = fc.sample(clusterArb({ maxServices: 4, minEndpoints: 2 }), { numRuns: 1, seed: 7 })[0]!;
      const payload = render(cluster);
      const file = join(dir, "rules");
      writeFileSync(file, payload);
      await runIn(ns, "iptables-restore", [], { input: payload });
      const same = spawnSync(bin, ["rules", "diff", "--live", file, "--netns", ns], { encoding: "utf8" });
      assert.equal(same.status, 0, same.stdout + same.stderr);
      // one rule changed in the kernel: the live diff names the chain
      await runIn(ns, "iptables", ["-t", "nat", "-A", "KUBE-MARK-MASQ", "-j", "RETURN"]);
      const changed = spawnSync(bin, ["rules", "diff", "--live", file, "--netns", ns], { encoding: "utf8" });
      assert.equal(changed.status, 1, changed.stderr);
      assert.match(changed.stdout, /rule changed in chain nat KUBE-MARK-MASQ\n {2}- -A KUBE-MARK-MASQ -j RETURN/);
      // --objects: compare with what `podwire proxy render` writes for the same objects now
      const objects = join(dir, "objects.json");
      writeFileSync(
        objects,
        JSON.stringify({ apiVersion: "v1", kind: "List", items: [...cluster.services, ...cluster.endpointSlices] }),
      );
      const renderArgs = [
        "--node-name",
        cluster.node.name,
        "--node-ip",
        cluster.node.ips[0]!,
        "--cluster-cidr",
        "10.244.0.0/16",
      ];
      const live = (...extra: string[]) =>
        spawnSync(
          bin,
          [
            "rules",
            "diff",
            "--live",
            "--netns",
            ns,
            "--objects",
            objects,
            ...renderArgs.map((a) => `--render-arg=${a}`),
            ...extra,
          ],
          {
            encoding: "utf8",
          },
        );
      const drift = live();
      assert.equal(drift.status, 1, drift.stderr);
      assert.match(drift.stdout, /KUBE-MARK-MASQ/);
      await runIn(ns, "iptables", ["-t", "nat", "-D", "KUBE-MARK-MASQ", "-j", "RETURN"]);
      const inSync = live();
      assert.equal(inSync.status, 0, inSync.stdout + inSync.stderr);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
