/**
 * kube-proxy's jump rules from the built-in chains (`iptablesJumpChains` in proxier.go). kube-proxy installs them
 * with `iptables -I`, not in its restore payload, so a payload alone has no way in; `withKubeProxyHooks` adds them
 * (for the KUBE-* chains the dump has) so such a payload can be traced like a live node.
 */
import type { Dump } from "./model.js";
import { parseRules } from "./parse.js";

const JUMPS: [table: string, from: string, extra: string, comment: string, to: string][] = [
  [
    "filter",
    "INPUT",
    "-m conntrack --ctstate NEW",
    "kubernetes externally-visible service portals",
    "KUBE-EXTERNAL-SERVICES",
  ],
  [
    "filter",
    "FORWARD",
    "-m conntrack --ctstate NEW",
    "kubernetes externally-visible service portals",
    "KUBE-EXTERNAL-SERVICES",
  ],
  ["filter", "INPUT", "", "kubernetes health check service ports", "KUBE-NODEPORTS"],
  ["filter", "FORWARD", "-m conntrack --ctstate NEW", "kubernetes service portals", "KUBE-SERVICES"],
  ["filter", "OUTPUT", "-m conntrack --ctstate NEW", "kubernetes service portals", "KUBE-SERVICES"],
  ["filter", "FORWARD", "", "kubernetes forwarding rules", "KUBE-FORWARD"],
  ["filter", "INPUT", "-m conntrack --ctstate NEW", "kubernetes load balancer firewall", "KUBE-PROXY-FIREWALL"],
  ["filter", "OUTPUT", "-m conntrack --ctstate NEW", "kubernetes load balancer firewall", "KUBE-PROXY-FIREWALL"],
  ["filter", "FORWARD", "-m conntrack --ctstate NEW", "kubernetes load balancer firewall", "KUBE-PROXY-FIREWALL"],
  ["nat", "OUTPUT", "", "kubernetes service portals", "KUBE-SERVICES"],
  ["nat", "PREROUTING", "", "kubernetes service portals", "KUBE-SERVICES"],
  ["nat", "POSTROUTING", "", "kubernetes postrouting rules", "KUBE-POSTROUTING"],
];

/** A copy of the dump with kube-proxy's hook rules prepended where missing (each `-I` puts it first, as kube-proxy). */
export function withKubeProxyHooks(d: Dump): Dump {
  const lines: string[] = [];
  for (const [table, from, extra, comment, to] of JUMPS) {
    const t = d.tables.get(table);
    if (!t?.chains.has(to)) continue;
    const rule = `-I ${from} ${extra ? `${extra} ` : ""}-m comment --comment "${comment}" -j ${to}`;
    lines.push(`${table}\t${rule}`);
  }
  const byTable = new Map<string, string[]>();
  for (const l of lines) {
    const [table, rule] = l.split("\t");
    byTable.set(table!, [...(byTable.get(table!) ?? []), rule!]);
  }
  const out: Dump = { tables: new Map() };
  for (const [name, t] of d.tables) {
    const copy = { name, chains: new Map([...t.chains].map(([k, c]) => [k, { ...c, rules: [...c.rules] }])) };
    out.tables.set(name, copy);
    const add = byTable.get(name);
    if (!add) continue;
    const hooks = parseRules(`*${name}\n${add.join("\n")}\nCOMMIT\n`);
    for (const c of hooks.tables.get(name)!.chains.values()) {
      const existing = copy.chains.get(c.name);
      const target = existing ?? { ...c, rules: [] };
      const have = new Set(target.rules.map((r) => r.key));
      target.rules = [...c.rules.filter((r) => !have.has(r.key)), ...target.rules];
      copy.chains.set(c.name, target);
    }
  }
  return out;
}
