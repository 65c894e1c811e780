import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { diffDumps, formatDiff } from "../../../proxier/rules/diff.js";
import { render } from "../../../proxier/iptables/render.js";
import type { EndpointSlice, Service } from "../../../src/api/index.js";
import { ChainNamer, chainKind, resolveChainNames } from "../../../proxier/rules/names.js";
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

/**
 * A payload of `n` services × `eps` endpoints; `skip(i)` leaves service i out, `first(i)` its first endpoint;
 * `large`: large-cluster mode and no cluster CIDR (no comments on endpoint rules, no masquerade rule in a SVC chain:
 * it is named only from the jumps to it).
 */
function payload(
  n: number,
  eps: number,
  skip: (i: number) => boolean,
  first: (i: number) => number,
  large = false,
): string {
  const services: Service[] = [];
  const endpointSlices: EndpointSlice[] = [];
  for (let i = 0; i < n; i++) {
    if (skip(i)) continue;
    const meta = { namespace: `ns${i % 7}`, name: `svc${i}` };
    services.push({
      apiVersion: "v1",
      kind: "Service",
      metadata: meta,
      spec: { clusterIP: `10.96.0.${i + 1}`, ports: [{ name: "p80", protocol: "TCP" as const, port: 80 }] },
    });
    endpointSlices.push({
      apiVersion: "discovery.k8s.io/v1",
      kind: "EndpointSlice",
      metadata: { ...meta, name: `svc${i}-x`, labels: { "kubernetes.io/service-name": meta.name } },
      addressType: "IPv4" as const,
      endpoints: Array.from({ length: eps - first(i) }, (_, k) => ({ addresses: [`10.180.${i}.${first(i) + k + 1}`] })),
      ports: [{ name: "p80", protocol: "TCP" as const, port: 80 }],
    });
  }
  return render(
    { services, endpointSlices, node: { name: "n1", ips: ["192.168.0.2"] } },
    { clusterCIDRs: large ? [] : ["10.0.0.0/8"], largeClusterEndpointsThreshold: large ? 1 : 1000 },
  ).payload;
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

  it("a diff where most services changed names every one (past the namer's switch from searches to an index)", () => {
    // 60 services; in the new dump every one lost its first endpoint and every fifth is gone: ~70 lookups each of
    // jumps and service names, past ChainNamer's default of 32 searches.
    const n = 60;
    const removed = (i: number) => i % 5 === 0;
    const d = diffDumps(
      parseRules(
        payload(
          n,
          3,
          () => false,
          () => 0,
        ),
      ),
      parseRules(payload(n, 3, removed, () => 1)),
    );
    const got = new Map(d.services.map((s) => [s.service, s]));
    assert.equal(got.size, n);
    for (let i = 0; i < n; i++) {
      const s = got.get(`ns${i % 7}/svc${i}:p80`);
      assert.ok(s, `svc${i} reported`);
      assert.equal(s.change, removed(i) ? "removed" : "changed");
      const gone = removed(i) ? [1, 2, 3] : [1];
      assert.deepEqual(
        s.endpointsRemoved.map((e) => e.endpoint),
        gone.map((k) => `10.180.${i}.${k}:80`),
      );
      assert.deepEqual(s.endpointsAdded, []);
    }
    assert.deepEqual(d.chains, []);
  });

  for (const large of [false, true]) {
    it(`the namer gives the same meanings searching the text or indexing it${large ? " (large-cluster mode)" : ""}`, () => {
      const dumps = [
        parseRules(
          payload(
            40,
            2,
            () => false,
            () => 0,
            large,
          ),
        ),
        parseRules(
          payload(
            40,
            2,
            (i) => i % 3 === 0,
            () => 1,
            large,
          ),
        ),
      ];
      const chains = new Set<string>();
      for (const d of dumps) for (const c of d.tables.get("nat")!.chains.keys()) if (chainKind(c)) chains.add(c);
      assert.ok(chains.size > 100);
      const searching = new ChainNamer(dumps, Number.POSITIVE_INFINITY);
      const indexed = new ChainNamer(dumps, 0);
      for (const c of chains) assert.deepEqual(indexed.meaning(c), searching.meaning(c), c);
      for (let i = 0; i < 40; i++)
        for (const k of [0, 1]) {
          const svc = `ns${i % 7}/svc${i}:p80`;
          assert.equal(indexed.isNamedIn(k, svc), searching.isNamedIn(k, svc), `${svc} in dump ${k}`);
        }
    });
  }

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
