import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { canonical } from "../../../proxier/rules/canonical.js";
import { normaliseProbability } from "../../../proxier/rules/normalize.js";
import { parseRules, RulesParseError } from "../../../proxier/rules/parse.js";
import { KERNEL_SAVE_LEGACY, KERNEL_SAVE_NFT } from "./kernel-dumps.js";
import { KUBE_PROXY_OVERALL } from "./kube-proxy-fixtures.js";

const key = (text: string, table = "nat") => {
  const d = parseRules(text, { table });
  const t = d.tables.get(table)!;
  return [...t.chains.values()].flatMap((c) => c.rules.map((r) => r.key));
};

describe("rules parser and normaliser", () => {
  it("a kube-proxy payload and the kernel's print-back of it (nft and legacy) have the same canonical form", () => {
    const payload = parseRules(KUBE_PROXY_OVERALL.replace(/ -m nfacct --nfacct-name \S+/g, ""));
    const want = canonical(payload);
    assert.ok(want.includes("KUBE-SVC-4SW47YFZTEDKD3PK"));
    assert.equal(canonical(parseRules(KERNEL_SAVE_NFT)), want);
    assert.equal(canonical(parseRules(KERNEL_SAVE_LEGACY)), want);
  });

  it("kube-proxy canonical mode with raw rules reproduces kube-proxy's sorted expectation byte for byte", () => {
    const shuffled = KUBE_PROXY_OVERALL.split("\n");
    // move the filter table after nat and reverse the services in KUBE-SERVICES: the sort must undo both
    const filterEnd = shuffled.indexOf("COMMIT") + 1;
    const filter = shuffled.slice(0, filterEnd);
    const nat = shuffled.slice(filterEnd).filter((l) => l !== "");
    const svc = nat.filter((l) => l.startsWith("-A KUBE-SERVICES"));
    const rest = nat.filter((l) => !l.startsWith("-A KUBE-SERVICES"));
    // reverse the order of services, keeping each service's own rules in order (the sort is stable)
    const groups = new Map<string, string[]>();
    for (const l of svc) {
      const k = /--comment "?([^ :"]+)/.exec(l)![1]!;
      groups.set(k, [...(groups.get(k) ?? []), l]);
    }
    const natShuffled = [...rest.slice(0, -1), ...[...groups.values()].reverse().flat(), "COMMIT"];
    const text = `${[...natShuffled, ...filter].join("\n")}\n`;
    assert.equal(canonical(parseRules(text), { mode: "kube-proxy", raw: true }), KUBE_PROXY_OVERALL);
  });

  it("normalises written vs printed forms", () => {
    const pairs: [string, string][] = [
      ["-A X -d 10.0.0.1 -j ACCEPT", "-A X -d 10.0.0.1/32 -j ACCEPT"],
      ["-A X -s 10.1.2.3/8 -j ACCEPT", "-A X -s 10.0.0.0/255.0.0.0 -j ACCEPT"],
      [
        '-A X -m comment --comment "a b" -m tcp -p tcp --dport 80 -j ACCEPT',
        '-A X -p tcp -m comment --comment "a b" -m tcp --dport 80 -j ACCEPT',
      ],
      ["-A X -p tcp --dport 80 -j ACCEPT", "-A X -p 6 -m tcp --destination-port 80 -j ACCEPT"],
      ["-A X -m tcp -p tcp -j DNAT --to-destination 10.0.0.1:80", "-A X -p tcp -j DNAT --to-destination 10.0.0.1:80"],
      ["-A X -m comment --comment abc -j ACCEPT", '-A X -m comment --comment "abc" -j ACCEPT'],
      [
        "-A X -m statistic --mode random --probability 0.3333333333 -j Y",
        "-A X -m statistic --mode random --probability 0.33333333349 -j Y",
      ],
      ["-A X -j MARK --or-mark 0x4000", "-A X -j MARK --set-xmark 0x4000/0x4000"],
      ["-A X -j MARK --xor-mark 0x00004000", "-A X -j MARK --set-xmark 0x4000/0x0"],
      ["-A X -j MARK --set-mark 0x1", "-A X -j MARK --set-xmark 0x1/0xffffffff"],
      ["-A X -m mark --mark 0x4000/0x4000 -j ACCEPT", "-A X -m mark --mark 16384/0x00004000 -j ACCEPT"],
      ["-A X -m mark --mark 0x1 -j ACCEPT", "-A X -m mark --mark 0x1/0xffffffff -j ACCEPT"],
      [
        "-A X -m recent --name S --rcheck --seconds 10800 --reap -j S",
        "-A X -m recent --rcheck --seconds 10800 --reap --name S --mask 255.255.255.255 --rsource -j S",
      ],
      [
        "-A X -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT",
        "-A X -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
      ],
      ["-A X -p tcp -j REJECT", "-A X -p tcp -j REJECT --reject-with icmp-port-unreachable"],
      ["[12:3400] -A X -j ACCEPT", "-A X -j ACCEPT -c 1 2"],
    ];
    for (const [a, b] of pairs) {
      const text = (r: string) => `*nat\n:X - [0:0]\n:Y - [0:0]\n:S - [0:0]\n${r}\nCOMMIT\n`;
      assert.deepEqual(key(text(a)), key(text(b)), `${a}  vs  ${b}`);
    }
  });

  it("keeps differences that matter", () => {
    const distinct = [
      "-A X -d 10.0.0.1 -j ACCEPT",
      "-A X -d 10.0.0.2 -j ACCEPT",
      "! -A X -d 10.0.0.1 -j ACCEPT".replace("! -A X", "-A X !"),
      "-A X -p udp -m udp --dport 80 -j ACCEPT",
      "-A X -p tcp -m tcp --dport 81 -j ACCEPT",
      "-A X -m statistic --mode random --probability 0.25 -j ACCEPT",
      "-A X -m statistic --mode random --probability 0.5 -j ACCEPT",
      "-A X -j MARK --set-xmark 0x4000/0x4000",
      "-A X -j MARK --set-xmark 0x4000/0xffffffff",
    ];
    const keys = distinct.map((r) => key(`*nat\n:X - [0:0]\n${r}\nCOMMIT\n`)[0]);
    assert.equal(new Set(keys).size, distinct.length, keys.join("\n"));
  });

  it("keeps unknown matches and targets verbatim", () => {
    const [k] = key(
      '*filter\n:X - [0:0]\n-A X -m u32 --u32 "0>>22&0x3C@ 12>>26&0x3F=0" -m physdev --physdev-in veth1 -j FROB --frob-level 3\nCOMMIT\n',
      "filter",
    );
    assert.match(k!, /-m u32 --u32 "0>>22&0x3C@ 12>>26&0x3F=0"/);
    assert.match(k!, /-j FROB --frob-level 3/);
    assert.match(k!, /-m physdev --physdev-in veth1/);
  });

  it("reads iptables -S output (headerless, -P/-N/-A) into the given table", () => {
    const d = parseRules(
      "-P INPUT ACCEPT\n-P FORWARD DROP\n-N KUBE-X\n-A FORWARD -j KUBE-X\n-A KUBE-X -d 1.2.3.4/32 -j ACCEPT\n",
      { table: "filter" },
    );
    const t = d.tables.get("filter")!;
    assert.equal(t.chains.get("FORWARD")!.policy, "DROP");
    assert.equal(t.chains.get("KUBE-X")!.rules[0]!.key, "-d 1.2.3.4/32 -j ACCEPT");
  });

  it("applies a restore payload: -X deletes, -I inserts, chain lines flush", () => {
    const d = parseRules(
      "*nat\n:A - [0:0]\n:B - [0:0]\n-A A -j RETURN\n-A B -j RETURN\n:A - [0:0]\n-A A -j ACCEPT\n-I A -j DROP\n-X B\nCOMMIT\n",
    );
    const t = d.tables.get("nat")!;
    assert.equal(t.chains.has("B"), false);
    assert.deepEqual(
      t.chains.get("A")!.rules.map((r) => r.key),
      ["-j DROP", "-j ACCEPT"],
    );
  });

  it("reports malformed input with its line number", () => {
    const bad: [string, number, RegExp][] = [
      ['*nat\n:A - [0:0]\n-A A -m comment --comment "open\n', 3, /unterminated quote/],
      ["*nat\n-A NOPE -j ACCEPT\nCOMMIT\n", 2, /chain NOPE does not exist/],
      ["*nat\n:A - [0:0]\n-A A -s\nCOMMIT\n", 3, /-s needs a value/],
      ["*nat\n:A - [0:0]\n-A A -j ACCEPT\n", 3, /COMMIT expected/],
      ["*nat\n:A - [0:0]\n-Q A\nCOMMIT\n", 3, /unknown command -Q/],
      ["*nat\n:A - [0:0]\n-A A --dport 80 -j ACCEPT\nCOMMIT\n", 3, /outside any match/],
      ["COMMIT\n", 1, /COMMIT without a table/],
    ];
    for (const [text, line, re] of bad) {
      assert.throws(
        () => parseRules(text, { source: "f.rules" }),
        (e: unknown) =>
          e instanceof RulesParseError &&
          e.line === line &&
          re.test(e.message) &&
          e.message.startsWith(`f.rules:${line}:`),
        text,
      );
    }
  });

  it("rounds probabilities like libxt_statistic", () => {
    const want: Record<string, string> = {
      "0.5000000000": "0.50000000000",
      "0.3333333333": "0.33333333349",
      "0.2000000000": "0.20000000019",
      "0.1666666667": "0.16666666651",
      "0.1428571429": "0.14285714272",
      "0.1000000000": "0.10000000009",
    };
    for (const [a, b] of Object.entries(want)) assert.equal(normaliseProbability(a), b);
  });
});
