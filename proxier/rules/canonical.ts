/**
 * Canonical form of a rule set: tables by name, chains in a stable order, each chain's rules in their order
 * (the order inside a chain is the only order that matters to the kernel). Empty built-in chains with an ACCEPT
 * policy are left out, so a restore payload and the kernel's dump of it (which lists every built-in chain)
 * compare equal. Two modes:
 *  - `sorted` (default): built-in chains in hook order, then user chains by name; rules in normalised text.
 *  - `kube-proxy`: kube-proxy's `sortIPTablesRules` (proxier_test.go): KUBE-NODEPORTS, KUBE-SERVICES, other KUBE-*
 *    by name, then the rest by name; rules of KUBE-NODEPORTS/KUBE-SERVICES stable-sorted by the service named in
 *    their comment, the nat "must be the last rule" rule last. With `raw`, rules keep their written text, so the
 *    output equals kube-proxy's expected strings.
 */
import { BUILTIN_CHAINS, type Chain, type Dump, getOpt, type Rule, type Table } from "./model.js";

export type CanonicalMode = "sorted" | "kube-proxy";

export interface CanonicalOptions {
  mode?: CanonicalMode;
  /** Only this table. */
  table?: string;
  /** Print rules as written instead of normalised (useful with mode kube-proxy). */
  raw?: boolean;
}

/** Chains that carry meaning: user chains, and built-in chains with rules or a non-ACCEPT policy. */
export function meaningfulChains(t: Table): Chain[] {
  const out: Chain[] = [];
  for (const c of t.chains.values()) if (!c.builtin || c.policy !== "ACCEPT" || c.rules.length > 0) out.push(c);
  return out;
}

export function sortedTables(d: Dump, table?: string): Table[] {
  return [...d.tables.values()]
    .filter((t) => (table ? t.name === table : true))
    .filter((t) => meaningfulChains(t).length > 0)
    .sort((a, b) => cmp(a.name, b.name));
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export function sortChains(t: Table, mode: CanonicalMode): Chain[] {
  const chains = meaningfulChains(t);
  if (mode === "kube-proxy") {
    const rank = (c: Chain) =>
      c.name === "KUBE-NODEPORTS" ? 0 : c.name === "KUBE-SERVICES" ? 1 : c.name.startsWith("KUBE-") ? 2 : 3;
    return chains.sort((a, b) => rank(a) - rank(b) || cmp(a.name, b.name));
  }
  const hooks = BUILTIN_CHAINS[t.name] ?? [];
  const rank = (c: Chain) => (c.builtin ? hooks.indexOf(c.name) : hooks.length);
  return chains.sort((a, b) => rank(a) - rank(b) || cmp(a.name, b.name));
}

/** The service a kube-proxy rule is about: its comment up to the first space or `:`. */
export function commentService(r: Rule): string {
  const c = r.matches.find((m) => m.name === "comment");
  const v = c ? (getOpt(c.opts, "comment")?.values[0] ?? "") : "";
  return v.split(/[ :]/)[0] ?? "";
}

export function isNodePortsLastRule(r: Rule): boolean {
  return r.table === "nat" && r.chain === "KUBE-SERVICES" && r.target?.name === "KUBE-NODEPORTS";
}

/** Rules of a chain in canonical order (only KUBE-SERVICES / KUBE-NODEPORTS move, and only in kube-proxy mode). */
export function sortRules(c: Chain, mode: CanonicalMode): Rule[] {
  if (mode !== "kube-proxy" || (c.name !== "KUBE-SERVICES" && c.name !== "KUBE-NODEPORTS")) return c.rules;
  const keyed = c.rules.map((r, i) => ({ r, i, k: isNodePortsLastRule(r) ? "\uffff" : commentService(r) }));
  keyed.sort((a, b) => cmp(a.k, b.k) || a.i - b.i);
  return keyed.map((x) => x.r);
}

export function ruleText(r: Rule, raw = false): string {
  return raw ? r.raw : r.key ? `-A ${r.chain} ${r.key}` : `-A ${r.chain}`;
}

/** Prints the canonical form (iptables-restore syntax). */
export function canonical(d: Dump, opts: CanonicalOptions = {}): string {
  const mode = opts.mode ?? "sorted";
  const out: string[] = [];
  for (const t of sortedTables(d, opts.table)) {
    out.push(`*${t.name}`);
    const chains = sortChains(t, mode);
    for (const c of chains) out.push(`:${c.name} ${mode === "kube-proxy" ? "-" : c.policy} [0:0]`);
    for (const c of chains) for (const r of sortRules(c, mode)) out.push(ruleText(r, opts.raw));
    out.push("COMMIT");
  }
  return out.length ? `${out.join("\n")}\n` : "";
}
