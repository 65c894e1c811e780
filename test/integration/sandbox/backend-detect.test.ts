/**
 * iptables backend detection (src/netlinux/iptables.ts detectBackend) in fresh namespaces: it must not create
 * legacy tables (which made every later `iptables-nft-save` in a sandbox node warn "iptables-legacy tables
 * present"), and must still pick legacy where legacy rules or kubelet's hint chain exist.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { detectBackend, parseTableNames } from "../../../src/netlinux/iptables.js";
import { runIn } from "../../../src/netlinux/netns.js";
import { NetnsScope } from "../../support/netns.js";

const legacyTables = async (ns: string) =>
  parseTableNames((await runIn(ns, "cat", ["/proc/net/ip_tables_names"], { check: false })).stdout);

describe("detectBackend leaves no legacy tables behind", () => {
  const scope = new NetnsScope("bd");
  before(() => scope.cleanup());
  after(() => scope.cleanup());

  it("fresh namespace: nft, no legacy table created, iptables-nft-save prints no warning", async () => {
    const ns = await scope.add("a");
    assert.equal(await detectBackend(ns), "nft", "a fresh namespace is detected as nft");
    assert.deepEqual([...(await legacyTables(ns))], [], "no legacy table instantiated by detection");
    await runIn(ns, "iptables-nft", ["-t", "nat", "-N", "X"]);
    const save = await runIn(ns, "iptables-nft-save", [], { check: false });
    assert.doesNotMatch(save.stdout + save.stderr, /legacy tables present/, "iptables-nft-save has no legacy warning");
  });

  it("legacy rules win over an empty nft side, and only the existing legacy table is read", async () => {
    const ns = await scope.add("b");
    await runIn(ns, "iptables-legacy", ["-t", "nat", "-N", "KUBE-X"]);
    await runIn(ns, "iptables-legacy", ["-t", "nat", "-A", "KUBE-X", "-j", "RETURN"]);
    assert.equal(await detectBackend(ns), "legacy", "legacy holds more rules");
    assert.deepEqual([...(await legacyTables(ns))], ["nat"], "detection created no legacy mangle/filter table");
  });

  it("kubelet's hint chain in legacy mangle decides even with more nft rules", async () => {
    const ns = await scope.add("c");
    await runIn(ns, "iptables-legacy", ["-t", "mangle", "-N", "KUBE-IPTABLES-HINT"]);
    for (const c of ["A", "B"]) await runIn(ns, "iptables-nft", ["-t", "filter", "-N", c]);
    await runIn(ns, "iptables-nft", ["-t", "filter", "-A", "A", "-j", "B"]);
    assert.equal(await detectBackend(ns), "legacy", "the legacy hint chain picks legacy");
  });
});
