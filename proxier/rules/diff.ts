/**
 * Semantic diff of two rule sets. Chains are compared rule by rule in canonical (normalised) form, so a payload
 * and the kernel's print-back of it are equal. Differences are reported in Kubernetes terms where possible:
 * services added/removed, endpoints added/removed (from KUBE-SEP chains, named via names.ts), then the remaining
 * "rule changed in chain X" entries. Changes fully explained by an endpoint change (the SEP chain itself, the
 * dispatch rules jumping to it, re-computed probabilities) are not repeated unless `verbose` is set.
 */
import { commentService, ruleText } from "./canonical.js";
import { sameRulesAll } from "./chain-index.js";
import type { Chain, Dump, Rule } from "./model.js";
import { lineHunks } from "./line-diff.js";
import { ChainNamer, SERVICE_NAME_RE, SHARED_CHAINS } from "./names.js";
import {
  chainIndexOf,
  type IndexedChains,
  PendingTables,
  PlainChains,
  parseRuleLine,
  plainDumpOf,
  rawTextOf,
} from "./parse.js";
import { withSyncOsr } from "./jit.js";
import { derivePlain } from "./plain-derive.js";
import { touchedChains } from "./plain-scan.js";

export interface DiffOptions {
  /** Compare only this table. */
  table?: string;
  /** Also list rule changes that endpoint/service changes already explain. */
  verbose?: boolean;
}

export interface ChainChange {
  table: string;
  chain: string;
  change: "added" | "removed" | "changed" | "reordered" | "policy";
  /** Service the chain (or the changed rules) belongs to, if known. */
  service?: string;
  removed: string[];
  added: string[];
  policy?: { old: string; new: string };
}

export interface EndpointChange {
  endpoint: string;
  chain: string;
}

export interface ServiceChange {
  service: string;
  change: "added" | "removed" | "changed";
  endpointsAdded: EndpointChange[];
  endpointsRemoved: EndpointChange[];
  /** Rule changes belonging to this service that the endpoint changes do not explain. */
  rules: ChainChange[];
}

export interface RulesDiff {
  equal: boolean;
  services: ServiceChange[];
  /** Changes not attributable to one service. */
  chains: ChainChange[];
}

interface ChainView {
  table: string;
  chain: Chain;
}

type Delta = { removed: Rule[]; added: Rule[]; reordered: boolean };

/** A chain that carries meaning: user chains, built-in chains with rules or a non-ACCEPT policy. */
function isMeaningful(c: Chain | undefined): c is Chain {
  return !!c && (!c.builtin || c.policy !== "ACCEPT" || c.rules.length > 0);
}

/**
 * The same-named chains of the two dumps that differ, with their rule delta. Chains whose text is identical are
 * skipped without being normalised; for the others, the common text prefix and suffix are trimmed first and only
 * the lines in between are normalised, so a changed 10k-rule chain costs a few rules. A built-in chain missing on
 * one side is an empty chain with policy ACCEPT there.
 */
function changedChains(a: Dump, b: Dump, table?: string): { va?: ChainView; vb?: ChainView; delta: Delta }[] {
  const out: { va?: ChainView; vb?: ChainView; delta: Delta }[] = [];
  // first: it may give the second dump its scan (reading its tables now would scan it)
  const touched = touchedOnly(a, b);
  const tables = new Set([...a.tables.keys(), ...b.tables.keys()]);
  const none: Delta = { removed: [], added: [], reordered: false };
  const virtual = (c: Chain): Chain => ({ name: c.name, builtin: true, policy: "ACCEPT", rules: [], line: 0 });
  for (const t of tables) {
    if (table && t !== table) continue;
    const ta = a.tables.get(t);
    const tb = b.tables.get(t);
    const visit = (ca: Chain | undefined, cb: Chain | undefined) => {
      let x = isMeaningful(ca) ? ca : undefined;
      let y = isMeaningful(cb) ? cb : undefined;
      if (!x && !y) return;
      if (!x && y?.builtin) x = virtual(y);
      if (!y && x?.builtin) y = virtual(x);
      if (x && y) {
        const delta = chainDelta(t, x, y);
        if (!delta && x.policy === y.policy) return;
        out.push({ va: { table: t, chain: x }, vb: { table: t, chain: y }, delta: delta ?? none });
      } else if (x) out.push({ va: { table: t, chain: x }, delta: { removed: x.rules, added: [], reordered: false } });
      else if (y) out.push({ vb: { table: t, chain: y }, delta: { removed: [], added: y.rules, reordered: false } });
    };
    const names = touched?.get(t);
    if (touched) {
      for (const n of names ?? []) visit(ta?.chains.get(n), tb?.chains.get(n));
      continue;
    }
    const xa = ta && chainIndexOf(ta.chains);
    const xb = tb && chainIndexOf(tb.chains);
    if (xa && xb) {
      visitIndexed(xa, xb, visit);
      continue;
    }
    for (const ca of ta?.chains.values() ?? []) visit(ca, tb?.chains.get(ca.name));
    for (const cb of tb?.chains.values() ?? []) if (!ta?.chains.has(cb.name)) visit(undefined, cb);
  }
  return out;
}

/**
 * For two scanned plain dumps (plain-scan.ts): per table, the chains that have a line in the edit script between
 * the files (every other chain is identical on both sides), in the order the full loop would visit them — the
 * first dump's declaration order, then the second's new chains. Their chain objects, and the shared chains names
 * are resolved from, are made in one pass over each table's runs. Null when the whole tables are needed (no
 * usable edit script, a changed table line, or a touched chain the scan cannot make exactly).
 */
export function touchedOnly(a: Dump, b: Dump): Map<string, string[]> | null {
  // a big dump's scan, the derived scan and the chain lookups each run once: see jit.ts
  return withSyncOsr(() => touchedOnlyNow(a, b));
}

function touchedOnlyNow(a: Dump, b: Dump): Map<string, string[]> | null {
  const pa = plainDumpOf(a);
  if (!pa) return null;
  // The second dump, not read yet: its scan is derived from the first's and the edit script when possible.
  const pending = b.tables instanceof PendingTables && b.tables.pending() ? b.tables : null;
  let hunks: number[] | null = null;
  if (pending) {
    const bb = pending.bytes;
    // (the edit script needs whole lines: a dump without its last newline is not plain anyway)
    if (bb.length === 0 || bb[bb.length - 1] === 10) hunks = lineHunks(pa.bytes, bb);
    pending.settle(hunks && derivePlain(pa, bb, hunks));
  }
  const pb = plainDumpOf(b);
  if (!pb) return null;
  if (!pending) hunks = lineHunks(pa.bytes, pb.bytes);
  const touched = touchedChains(pa, pb, hunks);
  if (!touched) return null;
  const out = new Map<string, string[]>();
  for (const [t, set] of touched) {
    const ca = a.tables.get(t)?.chains;
    const cb = b.tables.get(t)?.chains;
    if (!(ca instanceof PlainChains) || !(cb instanceof PlainChains)) return null;
    const want = [...set, ...SHARED_CHAINS];
    if (!ca.prefetch(want) || !cb.prefetch(want)) return null;
    const order = (n: string) => {
      const i = ca.declIndex(n);
      return i >= 0 ? i : ca.pt.nDecl + cb.declIndex(n);
    };
    out.set(
      t,
      [...set]
        .map((n) => [order(n), n] as const)
        .sort((x, y) => x[0] - y[0])
        .map((x) => x[1]),
    );
  }
  return out;
}

/**
 * The loop above over two indexed tables (lazy parse of plain dumps), in the same order, without making the
 * chain objects of identical user chains: their rule text is compared in place. Built-in chains and chains whose
 * object already exists take the ordinary path.
 */
function visitIndexed(a: IndexedChains, b: IndexedChains, visit: (x: Chain | undefined, y: Chain | undefined) => void) {
  const ia = a.index()!;
  const ib = b.index()!;
  const seen = new Uint8Array(ib.n);
  const match = new Int32Array(ia.n);
  let guess = 0; // the dumps mostly declare chains in the same order
  for (let id = 0; id < ia.n; id++) {
    const oid = ib.findOf(ia, id, guess);
    match[id] = oid;
    if (oid >= 0) {
      seen[oid] = 1;
      guess = oid + 1;
    }
  }
  const same = sameRulesAll(ia, ib, match);
  for (let id = 0; id < ia.n; id++) {
    const oid = match[id]!;
    if (oid >= 0 && same[id] && !ia.isBuiltin(id) && !a.isMade(id) && !b.isMade(oid)) continue;
    visit(a.at(id), oid >= 0 ? b.at(oid) : undefined);
  }
  for (let id = 0; id < ib.n; id++) if (!seen[id]) visit(undefined, b.at(id));
}

/** null when the chains hold the same rules in the same order. */
function chainDelta(table: string, a: Chain, b: Chain): Delta | null {
  const ta = rawTextOf(a);
  const tb = rawTextOf(b);
  if (ta !== null && tb !== null) {
    if (ta === tb) return null;
    const la = ta === "" ? [] : ta.split("\n");
    const lb = tb === "" ? [] : tb.split("\n");
    let s = 0;
    while (s < la.length && s < lb.length && la[s] === lb[s]) s++;
    let ea = la.length;
    let eb = lb.length;
    while (ea > s && eb > s && la[ea - 1] === lb[eb - 1]) {
      ea--;
      eb--;
    }
    const ra = la.slice(s, ea).map((l) => parseRuleLine(table, a.name, l, 0));
    const rb = lb.slice(s, eb).map((l) => parseRuleLine(table, b.name, l, 0));
    return sameKeys(ra, rb) ? null : ruleDelta(ra, rb);
  }
  return sameKeys(a.rules, b.rules) ? null : ruleDelta(a.rules, b.rules);
}

function sameKeys(a: Rule[], b: Rule[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i]!.key !== b[i]!.key) return false;
  return true;
}

/** Removed/added rules of one chain: common prefix and suffix trimmed, then a multiset difference of the middle. */
function ruleDelta(a: Rule[], b: Rule[]): { removed: Rule[]; added: Rule[]; reordered: boolean } {
  let s = 0;
  while (s < a.length && s < b.length && a[s]!.key === b[s]!.key) s++;
  let ea = a.length;
  let eb = b.length;
  while (ea > s && eb > s && a[ea - 1]!.key === b[eb - 1]!.key) {
    ea--;
    eb--;
  }
  const count = new Map<string, number>();
  for (let i = s; i < eb; i++) count.set(b[i]!.key, (count.get(b[i]!.key) ?? 0) + 1);
  const removed: Rule[] = [];
  for (let i = s; i < ea; i++) {
    const n = count.get(a[i]!.key) ?? 0;
    if (n > 0) count.set(a[i]!.key, n - 1);
    else removed.push(a[i]!);
  }
  const count2 = new Map<string, number>();
  for (let i = s; i < ea; i++) count2.set(a[i]!.key, (count2.get(a[i]!.key) ?? 0) + 1);
  const added: Rule[] = [];
  for (let i = s; i < eb; i++) {
    const n = count2.get(b[i]!.key) ?? 0;
    if (n > 0) count2.set(b[i]!.key, n - 1);
    else added.push(b[i]!);
  }
  return { removed, added, reordered: removed.length === 0 && added.length === 0 };
}

/** The service a rule is about: its jump target's service, else the service named in its comment. */
function ruleService(r: Rule, names: ChainNamer): string {
  const t = r.target ? names.meaning(r.target.name) : undefined;
  if (t?.service) return t.service;
  const c = r.matches.find((m) => m.name === "comment")?.opts.find((o) => o.name === "comment")?.values[0] ?? "";
  const m = SERVICE_NAME_RE.exec(c);
  return m?.[0] ?? (commentService(r).includes("/") ? commentService(r) : "");
}

/** Drops what endpoint changes explain: statistic matches and jumps to added/removed SEP chains. */
function explainedKeys(rules: Rule[], sepChanged: Set<string>): string[] {
  return rules
    .filter((r) => !(r.target && sepChanged.has(r.target.name)))
    .map((r) => r.key.replace(/(^| )-m statistic --mode random --probability \S+/, ""));
}

export function diffDumps(oldDump: Dump, newDump: Dump, opts: DiffOptions = {}): RulesDiff {
  const names = new ChainNamer([oldDump, newDump]);
  const services = new Map<string, ServiceChange>();
  const general: ChainChange[] = [];
  const present = (i: number, s: string) => names.hasServiceChains(i, s) || names.isNamedIn(i, s);
  const svc = (name: string): ServiceChange => {
    let s = services.get(name);
    if (!s) {
      const inA = present(0, name);
      const inB = present(1, name);
      const change = inA && !inB ? "removed" : !inA && inB ? "added" : "changed";
      s = { service: name, change, endpointsAdded: [], endpointsRemoved: [], rules: [] };
      services.set(name, s);
    }
    return s;
  };
  const sepChanged = new Set<string>();
  const changed = changedChains(oldDump, newDump, opts.table);
  // Dispatch chains among the changes tell which service each changed endpoint chain belongs to.
  names.noteParents(changed.flatMap(({ va, vb }) => [va?.chain, vb?.chain].filter((c): c is Chain => !!c)));
  for (const { va, vb } of changed) {
    const name = (va ?? vb)!.chain.name;
    const meaning = names.meaning(name);
    if (meaning?.kind === "SEP" && (!va || !vb)) {
      sepChanged.add(name);
      const ep = { endpoint: meaning.endpoint ?? "?", chain: name };
      if (meaning.service) {
        if (va) svc(meaning.service).endpointsRemoved.push(ep);
        else svc(meaning.service).endpointsAdded.push(ep);
      }
    }
  }
  for (const { va, vb, delta } of changed) {
    const view = (va ?? vb)!;
    const table = view.table;
    const name = view.chain.name;
    const meaning = names.meaning(name);
    const owner = meaning?.service ?? "";
    const text = (r: Rule) => ruleText(r);
    if (va && vb && va.chain.policy !== vb.chain.policy) {
      general.push({
        table,
        chain: name,
        change: "policy",
        removed: [],
        added: [],
        policy: { old: va.chain.policy, new: vb.chain.policy },
      });
      if (!delta.removed.length && !delta.added.length && !delta.reordered) continue;
    }
    if (!va || !vb) {
      const change: ChainChange = {
        table,
        chain: name,
        change: va ? "removed" : "added",
        removed: va ? va.chain.rules.map(text) : [],
        added: vb ? vb.chain.rules.map(text) : [],
      };
      if (owner) {
        change.service = owner;
        const s = svc(owner);
        const explained = meaning?.kind === "SEP" || s.change !== "changed";
        if (!explained || opts.verbose) s.rules.push(change);
      } else general.push(change);
      continue;
    }
    if (owner && !opts.verbose && (meaning?.kind === "SVC" || meaning?.kind === "SVL")) {
      const ka = explainedKeys(va.chain.rules, sepChanged);
      const kb = explainedKeys(vb.chain.rules, sepChanged);
      if (ka.length === kb.length && ka.every((k, i) => k === kb[i])) continue;
    }
    const d = delta;
    if (d.reordered) {
      const c: ChainChange = { table, chain: name, change: "reordered", removed: [], added: [] };
      if (owner) svc(owner).rules.push({ ...c, service: owner });
      else general.push(c);
      continue;
    }
    if (owner) {
      svc(owner).rules.push({
        table,
        chain: name,
        change: "changed",
        service: owner,
        removed: d.removed.map(text),
        added: d.added.map(text),
      });
      continue;
    }
    // A shared chain (KUBE-SERVICES, KUBE-NODEPORTS, …): attribute each rule to the service it is about.
    const per = new Map<string, { removed: string[]; added: string[] }>();
    const bucket = (s: string) => {
      let x = per.get(s);
      if (!x) per.set(s, (x = { removed: [], added: [] }));
      return x;
    };
    for (const r of d.removed) bucket(ruleService(r, names)).removed.push(text(r));
    for (const r of d.added) bucket(ruleService(r, names)).added.push(text(r));
    for (const [s, x] of per) {
      const c: ChainChange = { table, chain: name, change: "changed", removed: x.removed, added: x.added };
      if (s) {
        c.service = s;
        const sc = svc(s);
        if (sc.change === "changed" || opts.verbose) sc.rules.push(c);
      } else general.push(c);
    }
  }
  // A service whose only difference was explained away still counts as changed if its endpoints changed.
  const list = [...services.values()].filter(
    (s) => s.change !== "changed" || s.endpointsAdded.length || s.endpointsRemoved.length || s.rules.length,
  );
  const byName = (x: { service: string }, y: { service: string }) =>
    x.service < y.service ? -1 : x.service > y.service ? 1 : 0;
  list.sort(byName);
  for (const s of list) {
    s.endpointsAdded.sort((x, y) => (x.endpoint < y.endpoint ? -1 : 1));
    s.endpointsRemoved.sort((x, y) => (x.endpoint < y.endpoint ? -1 : 1));
  }
  general.sort((x, y) => (x.table + x.chain < y.table + y.chain ? -1 : 1));
  return { equal: changed.length === 0, services: list, chains: general };
}

export interface FormatOptions {
  color?: boolean;
}

/** Human-readable diff; empty string when equal. */
export function formatDiff(d: RulesDiff, opts: FormatOptions = {}): string {
  const c = (code: string, s: string) => (opts.color ? `\x1b[${code}m${s}\x1b[0m` : s);
  const out: string[] = [];
  const rules = (ch: ChainChange, indent: string) => {
    if (ch.change === "reordered") out.push(`${indent}rules reordered in chain ${ch.table} ${ch.chain}`);
    else if (ch.change === "policy")
      out.push(`${indent}policy of ${ch.table} ${ch.chain}: ${ch.policy!.old} -> ${ch.policy!.new}`);
    else {
      const verb = ch.change === "changed" ? "rule changed in chain" : `chain ${ch.change}:`;
      out.push(`${indent}${verb} ${ch.table} ${ch.chain}`);
      for (const r of ch.removed) out.push(c("31", `${indent}  - ${r}`));
      for (const r of ch.added) out.push(c("32", `${indent}  + ${r}`));
    }
  };
  for (const s of d.services) {
    const head =
      s.change === "added"
        ? `service added: ${s.service}`
        : s.change === "removed"
          ? `service removed: ${s.service}`
          : `service ${s.service}:`;
    out.push(c("1", head));
    for (const e of s.endpointsRemoved) out.push(c("31", `  endpoint removed: ${e.endpoint} (${e.chain})`));
    for (const e of s.endpointsAdded) out.push(c("32", `  endpoint added: ${e.endpoint} (${e.chain})`));
    for (const r of s.rules) rules(r, "  ");
  }
  for (const ch of d.chains) rules(ch, "");
  return out.length ? `${out.join("\n")}\n` : "";
}
