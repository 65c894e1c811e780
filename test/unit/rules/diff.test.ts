import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { diffDumps, formatDiff } from "../../../proxier/rules/diff.js";
import { resolveChainNames } from "../../../proxier/rules/names.js";
import { parseRules } from "../../../proxier/rules/parse.js";
import { KERNEL_SAVE_LEGACY } from "./kernel-dumps.js";
import { KUBE_PROXY_OVERALL } from "./kube-proxy-fixtures.js";

/** KUBE_PROXY_OVERALL as kube-proxy writes it after ns4/svc4 loses endpoint 10.180.0.4:80. */
const WITHOUT_ENDPOINT = KUBE_PROXY_OVERALL.replace(/^.*KUBE-SEP-UKSFD7AGPMPPLUHC.*\n/gm, "").replace(
  '-A KUBE-SVC-4SW47YFZTEDKD3PK -m comment --comment "ns4/svc4:p80 -> 10.180.0.5:80" -j KUBE-SEP-C6EBXVWJJZMIWKLZ',
  '-A KUBE-SVC-4SW47YFZTEDKD3PK -m comment --comment "ns4/svc4:p80 -> 10.180.0.5:80" -j KUBE-SEP-C6EBXVWJJZMIWKLZ',
);

/** Large-cluster mode: kube-proxy drops the comments of SEP and SVC→SEP rules. */
function stripEndpointComments(text: string): string {
  return text
    .split("\n")
    .map((l) =>
      /^-A KUBE-SEP-/.test(l) || / -> \d/.test(l) ? l.replace(/ -m comment --comment ("[^"]*"|\S+)/, "") : l,
    )
    .join("\n");
}

describe("semantic diff", () => {
  const base = parseRules(KUBE_PROXY_OVERALL);

  it("a kube-proxy dump against itself with one endpoint removed names exactly that service and endpoint", () => {
    assert.ok(!WITHOUT_ENDPOINT.includes("10.180.0.4"), "fixture edit removed the endpoint");
    const d = diffDumps(base, parseRules(WITHOUT_ENDPOINT));
    assert.equal(d.equal, false);
    assert.deepEqual(d.chains, []);
    assert.equal(d.services.length, 1);
    const s = d.services[0]!;
    assert.equal(s.service, "ns4/svc4:p80");
    assert.equal(s.change, "changed");
    assert.deepEqual(s.endpointsRemoved, [{ endpoint: "10.180.0.4:80", chain: "KUBE-SEP-UKSFD7AGPMPPLUHC" }]);
    assert.deepEqual(s.endpointsAdded, []);
    assert.deepEqual(s.rules, [], "the SVC chain's re-balanced jumps are explained by the endpoint change");
    assert.equal(
      formatDiff(d),
      "service ns4/svc4:p80:\n  endpoint removed: 10.180.0.4:80 (KUBE-SEP-UKSFD7AGPMPPLUHC)\n",
    );
    const back = diffDumps(parseRules(WITHOUT_ENDPOINT), base);
    assert.deepEqual(back.services[0]!.endpointsAdded, [
      { endpoint: "10.180.0.4:80", chain: "KUBE-SEP-UKSFD7AGPMPPLUHC" },
    ]);
  });

  it("names services and endpoints from the hash alone when comments are gone (large-cluster mode)", () => {
    const names = resolveChainNames([parseRules(stripEndpointComments(KUBE_PROXY_OVERALL))]);
    assert.deepEqual(names.get("KUBE-SEP-UKSFD7AGPMPPLUHC"), {
      chain: "KUBE-SEP-UKSFD7AGPMPPLUHC",
      kind: "SEP",
      service: "ns4/svc4:p80",
      protocol: "tcp",
      endpoint: "10.180.0.4:80",
      via: "hash",
    });
    assert.equal(names.get("KUBE-FW-NUKIZ6OKUXPJNT4C")?.service, "ns5/svc5:p80");
    const d = diffDumps(
      parseRules(stripEndpointComments(KUBE_PROXY_OVERALL)),
      parseRules(stripEndpointComments(WITHOUT_ENDPOINT)),
    );
    assert.equal(d.services.length, 1);
    assert.equal(d.services[0]!.service, "ns4/svc4:p80");
    assert.deepEqual(
      d.services[0]!.endpointsRemoved.map((e) => e.endpoint),
      ["10.180.0.4:80"],
    );
  });

  it("reports a removed service with its endpoints, and nothing else", () => {
    const without1 = KUBE_PROXY_OVERALL.split("\n")
      .filter((l) => !/ns1\/svc1|XPGD46QRK7WJZT7O|SXIVWICOYRO3J4NJ/.test(l))
      .join("\n");
    const d = diffDumps(base, parseRules(without1));
    assert.deepEqual(
      d.services.map((s) => [s.service, s.change, s.endpointsRemoved.map((e) => e.endpoint)]),
      [["ns1/svc1:p80", "removed", ["10.180.0.1:80"]]],
    );
    assert.deepEqual(d.chains, []);
    assert.match(formatDiff(d), /^service removed: ns1\/svc1:p80\n/);
  });

  it("a payload and the kernel's dump of it are equal; a policy or fixed-rule change is reported by chain", () => {
    const payload = parseRules(KUBE_PROXY_OVERALL.replace(/ -m nfacct --nfacct-name \S+/g, ""));
    assert.equal(diffDumps(payload, parseRules(KERNEL_SAVE_LEGACY)).equal, true);
    const changed = parseRules(
      KERNEL_SAVE_LEGACY.replace(":FORWARD ACCEPT [0:0]", ":FORWARD DROP [0:0]").replace(
        "--ctstate INVALID -j DROP",
        "--ctstate INVALID -j ACCEPT",
      ),
    );
    const d = diffDumps(payload, changed);
    assert.deepEqual(d.services, []);
    assert.deepEqual(
      d.chains.map((c) => [c.table, c.chain, c.change]),
      [
        ["filter", "FORWARD", "policy"],
        ["filter", "KUBE-FORWARD", "changed"],
      ],
    );
    assert.match(
      formatDiff(d),
      /rule changed in chain filter KUBE-FORWARD\n {2}- -A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP\n {2}\+ -A KUBE-FORWARD -m conntrack --ctstate INVALID -j ACCEPT/,
    );
  });

  it("--table limits the comparison", () => {
    const changed = parseRules(KUBE_PROXY_OVERALL.replace("--ctstate INVALID", "--ctstate INVALID,UNTRACKED"));
    assert.equal(diffDumps(base, changed, { table: "nat" }).equal, true);
    assert.equal(diffDumps(base, changed, { table: "filter" }).equal, false);
  });

  it("podwire rules diff: exit 0 equal, 1 different (text and json), 2 on error", () => {
    const dir = mkdtempSync(join(tmpdir(), "pw-rules-"));
    const bin = new URL("../../../../bin/podwire", import.meta.url).pathname;
    try {
      const a = join(dir, "a.rules");
      const b = join(dir, "b.rules");
      const k = join(dir, "kernel.rules");
      const bad = join(dir, "bad.rules");
      writeFileSync(a, KUBE_PROXY_OVERALL.replace(/ -m nfacct --nfacct-name \S+/g, ""));
      writeFileSync(b, WITHOUT_ENDPOINT.replace(/ -m nfacct --nfacct-name \S+/g, ""));
      writeFileSync(k, KERNEL_SAVE_LEGACY);
      writeFileSync(bad, "*nat\n:A - [0:0]\n-A A -j\nCOMMIT\n");
      const run = (...args: string[]) => spawnSync(bin, ["rules", "diff", ...args], { encoding: "utf8" });
      assert.equal(run(a, k).status, 0);
      const t = run(a, b);
      assert.equal(t.status, 1);
      assert.match(t.stdout, /endpoint removed: 10\.180\.0\.4:80/);
      assert.doesNotMatch(t.stdout, /\x1b\[/, "no colour when piped");
      const j = run(a, b, "--format", "json");
      assert.equal(j.status, 1);
      const parsed = JSON.parse(j.stdout) as { equal: boolean; services: { service: string }[] };
      assert.equal(parsed.equal, false);
      assert.equal(parsed.services[0]!.service, "ns4/svc4:p80");
      const e = run(a, bad);
      assert.equal(e.status, 2);
      assert.match(e.stderr, /bad\.rules:3: option -j needs a value/);
      assert.equal(run(a, join(dir, "missing")).status, 2);
      assert.equal(run(a, b, "--format", "yaml").status, 2);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("podwire rules trace --json prints exactly targets, verdict, masquerade, path", () => {
    const dir = mkdtempSync(join(tmpdir(), "pw-rules-"));
    const bin = new URL("../../../../bin/podwire", import.meta.url).pathname;
    try {
      const f = join(dir, "kp.rules");
      writeFileSync(f, KUBE_PROXY_OVERALL);
      const r = spawnSync(
        bin,
        [
          "rules",
          "trace",
          "--rules",
          f,
          "--src",
          "10.0.0.2",
          "--dst",
          "172.30.0.44",
          "--dport",
          "80",
          "--node-ip",
          "192.168.0.2",
          "--kube-hooks",
          "--json",
        ],
        { encoding: "utf8" },
      );
      assert.equal(r.status, 0, r.stderr);
      const j = JSON.parse(r.stdout) as Record<string, unknown>;
      assert.deepEqual(Object.keys(j), ["targets", "verdict", "masquerade", "path"]);
      assert.deepEqual(j.targets, ["10.180.0.4:80", "10.180.0.5:80"]);
      assert.equal(j.verdict, "DNAT");
      assert.equal(j.masquerade, false);
      assert.ok(Array.isArray(j.path) && j.path.length > 3);
      const bare = spawnSync(
        bin,
        ["rules", "trace", "--rules", f, "--src", "10.0.0.2", "--dst", "172.30.0.44", "--dport", "80"],
        { encoding: "utf8" },
      );
      assert.equal(bare.status, 0);
      assert.match(bare.stdout, /note: .*traced as written/);
      const badProto = spawnSync(
        bin,
        ["rules", "trace", "--rules", f, "--src", "1.1.1.1", "--dst", "2.2.2.2", "--dport", "1", "--proto", "icmp"],
        { encoding: "utf8" },
      );
      assert.equal(badProto.status, 2);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
