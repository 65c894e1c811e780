/**
 * The overlay agent's masquerade/forward chains against the real kernel (in a namespace of our own): a resync that
 * finds them as desired writes nothing, so their counters keep counting; one that finds them flushed, edited or
 * unhooked rewrites just that table.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { ensureRules, FWD_CHAIN, MASQ_CHAIN, type MasqOptions } from "../../../cni/overlay/masq.js";
import { ip, runIn } from "../../../src/netlinux/netns.js";
import { NetnsScope } from "../../support/netns.js";

const opts: MasqOptions = { clusterCidr: "10.244.0.0/16", podCidr: "10.244.1.0/24", ipMasq: true, forwardRules: true };

describe("masquerade/forward chains: write only what differs", () => {
  const scope = new NetnsScope("mq");
  let ns = "";
  const ipt = (table: string, ...args: string[]) => runIn(ns, "iptables", ["-w", "-t", table, ...args]);
  /** `[packets:bytes] rule` lines of a chain, from iptables-save -c. */
  const counted = async (table: string, chain: string) =>
    (await runIn(ns, "iptables-save", ["-c", "-t", table])).stdout
      .split("\n")
      .filter((l) => l.includes(`-A ${chain} `))
      .map((l) => {
        const m = /^\[(\d+):(\d+)\] (.*)$/.exec(l);
        assert.ok(m, l);
        return { packets: Number(m[1]), rule: m[3] as string };
      });
  const ruleCount = async (table: string, chain: string) => (await counted(table, chain)).length;
  const jumps = async (table: string, parent: string, chain: string) =>
    (await ipt(table, "-S", parent)).stdout.split("\n").filter((l) => l.endsWith(`-j ${chain}`)).length;
  /** New connections (pings with fresh ids) from a pod address to itself: nat POSTROUTING and filter OUTPUT see them. */
  const traffic = async (n: number) => {
    for (let i = 0; i < n; i++) await runIn(ns, "ping", ["-c1", "-W1", "-I", "10.244.1.1", "10.244.1.1"]);
  };

  before(async () => {
    await scope.cleanup();
    ns = await scope.add("n");
    await ip(ns, "link", "set", "lo", "up");
    await ip(ns, "addr", "add", "10.244.1.1/32", "dev", "lo");
  });
  after(() => scope.cleanup());

  it("first sync writes both tables; a steady-state resync writes nothing and the counters survive", async () => {
    assert.deepEqual((await ensureRules(opts, ns)).written, ["nat", "filter"]);
    // FORWARD sees no traffic in a lone namespace; a jump from OUTPUT (this test's own) makes the filter chain count.
    await ipt("filter", "-A", "OUTPUT", "-j", FWD_CHAIN);
    await traffic(3);
    const nat = await counted("nat", MASQ_CHAIN);
    const filter = await counted("filter", FWD_CHAIN);
    const natHits = nat.reduce((a, r) => a + r.packets, 0);
    const filterHits = filter.reduce((a, r) => a + r.packets, 0);
    assert.ok(natHits >= 3, `nat chain counted the new connections (${JSON.stringify(nat)})`);
    assert.ok(filterHits >= 3, `filter chain counted the packets (${JSON.stringify(filter)})`);
    for (let i = 0; i < 3; i++) assert.deepEqual((await ensureRules(opts, ns)).written, [], `resync ${i} is a no-op`);
    assert.deepEqual(await counted("nat", MASQ_CHAIN), nat, "nat counters kept");
    assert.deepEqual(await counted("filter", FWD_CHAIN), filter, "filter counters kept");
    assert.equal(await jumps("nat", "POSTROUTING", MASQ_CHAIN), 1);
    assert.equal(await jumps("filter", "FORWARD", FWD_CHAIN), 1);
  });

  it("a pod CIDR given with host bits compares equal to what iptables prints back (no write)", async () => {
    assert.deepEqual((await ensureRules({ ...opts, podCidr: "10.244.1.7/24" }, ns)).written, []);
  });

  it("a deleted nat rule is restored; the untouched filter chain keeps its counters", async () => {
    const filter = await counted("filter", FWD_CHAIN);
    const want = (await counted("nat", MASQ_CHAIN)).map((r) => r.rule);
    await ipt("nat", "-D", MASQ_CHAIN, "2");
    assert.equal(await ruleCount("nat", MASQ_CHAIN), want.length - 1);
    assert.deepEqual((await ensureRules(opts, ns)).written, ["nat"]);
    assert.deepEqual(
      (await counted("nat", MASQ_CHAIN)).map((r) => r.rule),
      want,
      "the nat chain is whole again, in order",
    );
    assert.deepEqual(await counted("filter", FWD_CHAIN), filter, "filter chain not rewritten");
    assert.deepEqual((await ensureRules(opts, ns)).written, [], "and the next resync is a no-op again");
  });

  it("a flushed chain, an edited rule, an extra rule and a removed jump are each repaired", async () => {
    const natWant = (await counted("nat", MASQ_CHAIN)).map((r) => r.rule);
    const fwdWant = (await counted("filter", FWD_CHAIN)).map((r) => r.rule);
    const damage: [string, () => Promise<unknown>, string][] = [
      ["flush filter chain", () => ipt("filter", "-F", FWD_CHAIN), "filter"],
      ["edit a nat rule", () => ipt("nat", "-R", MASQ_CHAIN, "5", "-s", "10.244.0.0/16", "-j", "MASQUERADE"), "nat"],
      ["extra rule appended", () => ipt("filter", "-A", FWD_CHAIN, "-s", "192.0.2.0/24", "-j", "ACCEPT"), "filter"],
      ["jump removed", () => ipt("nat", "-D", "POSTROUTING", "1"), "nat"],
      ["chain deleted", () => ipt("filter", "-D", "FORWARD", "1").then(() => ipt("filter", "-F", FWD_CHAIN)), "filter"],
    ];
    for (const [what, hurt, table] of damage) {
      await hurt();
      assert.deepEqual((await ensureRules(opts, ns)).written, [table], what);
      assert.deepEqual(
        (await counted("nat", MASQ_CHAIN)).map((r) => r.rule),
        natWant,
        `${what}: nat chain as desired`,
      );
      assert.deepEqual(
        (await counted("filter", FWD_CHAIN)).map((r) => r.rule),
        fwdWant,
        `${what}: filter chain as desired`,
      );
      assert.equal(await jumps("nat", "POSTROUTING", MASQ_CHAIN), 1, `${what}: one nat jump`);
      assert.equal(await jumps("filter", "FORWARD", FWD_CHAIN), 1, `${what}: one filter jump`);
      assert.deepEqual((await ensureRules(opts, ns)).written, [], `${what}: then steady again`);
    }
  });
});
