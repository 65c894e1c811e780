/**
 * In-place edits of large chains for partial syncs.
 *
 * planPartial (partial.ts) decides which chains changed and writes each of them whole (`:CHAIN` flushes it, then
 * every rule again). For the dispatch chains that hold one rule per service port — nat KUBE-SERVICES and
 * KUBE-NODEPORTS, filter KUBE-SERVICES — that is O(services) lines for every added service, and on the nft backend
 * iptables-restore's cost grows with what it writes (one new service at 1,000: ~1,000 lines, 200–500 ms, against
 * 30–80 ms for a `-D` + positioned `-I`). Here a changed chain that already exists in the kernel and holds at least
 * `minRules` rules is edited instead: `-D` of the rules that went away, then `-I CHAIN <pos>` of the new ones in
 * ascending final position, which leaves the chain with exactly the rendered rules in the rendered order (every
 * position below the one being inserted is already final). Chains where that is not possible (duplicate rules,
 * kept rules that changed order) or not cheaper (more edits than half the chain) are written whole as before.
 * A `-D` that finds no rule fails the restore, which turns the next sync into a full one — the same repair path as
 * any other drift.
 *
 * The dispatch chains (DISPATCH_CHAINS) get a cheaper edit still. Their rules nearly always match disjoint packets
 * (one service port's ClusterIP, external IP, LB IP or NodePort each), and among rules that pairwise cannot match
 * the same packet the order is no part of the semantics: a packet matches at most one of them, in any order, and
 * then the fixed trailing rules (nat KUBE-SERVICES' jumps to KUBE-NODEPORTS, kept last). So new rules go to the top
 * (`-I CHAIN 1`), which iptables-nft applies without reading the chain's rules back (a positioned -I or a -D parses
 * the whole chain: ~2× the cost at 1,000 services). The kernel's order then differs from the render's; the plan
 * reports it (`kernelOrder`) and the proxier diffs against it next time. A full sync restores the render's order.
 * Rules that may overlap — same protocol and port, and the same destination address or no single one (two services
 * claiming one external IP and port, an external IP equal to another service's ClusterIP, a NodePort's plain and
 * localhost/nfacct rules, two ports sharing a health-check port) — are where order matters, so an edit adding such
 * a rule is not done this way: the chain is edited at the rendered positions or written whole. Hence every pair of
 * rules that may overlap stays in the render's (kube-proxy's) order in the kernel, and the reordering is exact
 * (checked by test/property/proxier/incremental.property.test.ts: after any sequence of changes, every packet to
 * every service address and NodePort takes the same path as after one full sync).
 */
import type { AppliedState, RestorePlan } from "./partial.js";
import type { RenderResult } from "./render.js";

/** The edits that turn one chain's kernel rules into the rendered ones. */
export interface ChainEdit {
  /** Rule lines (`-A CHAIN …` form) to delete. */
  deletes: string[];
  /** [1-based final position, rule line] to insert, ascending by position. */
  inserts: [number, string][];
}

export interface IncrementalPlan extends RestorePlan {
  /** Chains edited in place (table/chain), a subset of writtenChains. */
  editedChains: string[];
  /** `table/chain` → rules in kernel order after this plan, for dispatch chains whose order differs from the render. */
  kernelOrder: Map<string, string[]>;
}

/** Chains whose rules match disjoint packets, but for the last rule, which stays last (see the header). */
export const DISPATCH_CHAINS = new Set([
  "nat/KUBE-SERVICES",
  "nat/KUBE-NODEPORTS",
  "filter/KUBE-SERVICES",
  "filter/KUBE-NODEPORTS",
  "filter/KUBE-EXTERNAL-SERVICES",
]);

/** What a dispatch-chain rule matches on that can make two rules disjoint; null = any. */
interface MatchKey {
  proto: string | null;
  dport: string | null;
  /** A single destination address (`-d IP`); a CIDR, a negation or no `-d` count as any. */
  dst: string | null;
}

/** The word after ` flag ` in a rule (not negated), or null. Our rules never put these flags inside comments. */
function wordAfter(rule: string, flag: string): string | null {
  const i = rule.indexOf(flag);
  if (i < 0) return null;
  if (rule.startsWith("! ", i - 2)) return null; // `! -d X`
  const from = i + flag.length;
  const end = rule.indexOf(" ", from);
  const w = end < 0 ? rule.slice(from) : rule.slice(from, end);
  return w === "!" ? null : w;
}

export function matchKey(rule: string): MatchKey {
  const dst = wordAfter(rule, " -d ");
  const dport = wordAfter(rule, " --dport ");
  return {
    proto: wordAfter(rule, " -p "),
    dport: dport && /^\d+$/.test(dport) ? dport : null,
    dst: dst && !dst.includes("/") ? dst : null,
  };
}

/** True when some packet could match both rules (conservative: unknown means yes). */
export function mayOverlap(a: MatchKey, b: MatchKey): boolean {
  if (a.proto !== null && b.proto !== null && a.proto !== b.proto) return false;
  if (a.dport !== null && b.dport !== null && a.dport !== b.dport) return false;
  if (a.dst !== null && b.dst !== null && a.dst !== b.dst) return false;
  return true;
}

/**
 * Indices (in `rules`) of rules that may match a packet some other rule of `rules` matches. Rules are grouped by
 * protocol and port; within a group only equal destinations or an any-destination rule overlap, so this is
 * linear in the chain, not quadratic.
 */
export function overlappingRules(rules: string[]): Set<number> {
  const keys = rules.map(matchKey);
  const out = new Set<number>();
  const wild: number[] = []; // no protocol or no port: compared with everything
  const groups = new Map<string, number[]>();
  keys.forEach((k, i) => {
    if (k.proto === null || k.dport === null) wild.push(i);
    else {
      const g = `${k.proto} ${k.dport}`;
      const list = groups.get(g);
      if (list) list.push(i);
      else groups.set(g, [i]);
    }
  });
  for (const w of wild) {
    for (let i = 0; i < keys.length; i++) {
      if (i !== w && mayOverlap(keys[w]!, keys[i]!)) {
        out.add(w);
        out.add(i);
      }
    }
  }
  for (const list of groups.values()) {
    if (list.length < 2) continue;
    const byDst = new Map<string, number[]>();
    const anyDst: number[] = [];
    for (const i of list) {
      const d = keys[i]!.dst;
      if (d === null) anyDst.push(i);
      else {
        const l = byDst.get(d);
        if (l) l.push(i);
        else byDst.set(d, [i]);
      }
    }
    if (anyDst.length > 0) for (const i of list) out.add(i); // an any-destination rule overlaps the whole group
    for (const l of byDst.values()) if (l.length > 1) for (const i of l) out.add(i);
  }
  return out;
}

/** The trailing jumps to KUBE-NODEPORTS (nat KUBE-SERVICES' "must be the last rule"), as a count from the end. */
function tailLength(rules: string[]): number {
  let n = 0;
  while (n < rules.length && rules[rules.length - 1 - n]!.endsWith(" -j KUBE-NODEPORTS")) n++;
  return n;
}

/**
 * Set-style edit of a dispatch chain: -D of rules gone, `-I CHAIN 1` of new ones; the kernel's order afterwards.
 * Null (write or edit the chain in the render's order instead) when the last rule or the trailing KUBE-NODEPORTS
 * jumps differ, on duplicates, when the edit is larger than half the chain, or when a new rule may match a packet
 * another rule matches: then the order between them decides, and it must stay the render's (kube-proxy's) order.
 */
export function dispatchEdit(
  chain: string,
  kernel: string[],
  next: string[],
): { edit: ChainEdit; order: string[] } | null {
  const kernelSet = new Set(kernel);
  const nextSet = new Set(next);
  if (kernelSet.size !== kernel.length || nextSet.size !== next.length) return null;
  // The last rule stays last in every dispatch chain (what test/unit/sandbox/chain-edit checks; only nat
  // KUBE-SERVICES' needs it), and all trailing KUBE-NODEPORTS jumps stay as they are.
  if (next.length === 0 || kernel.at(-1) !== next.at(-1)) return null;
  const tail = tailLength(next);
  if (tailLength(kernel) !== tail) return null;
  for (let i = 1; i <= tail; i++) if (kernel[kernel.length - i] !== next[next.length - i]) return null;
  const head = `-A ${chain} `;
  const deletes: string[] = [];
  const kept: string[] = [];
  for (const l of kernel) {
    if (!l.startsWith(head)) return null;
    if (nextSet.has(l)) kept.push(l);
    else deletes.push(l);
  }
  const adds: number[] = [];
  for (let i = 0; i < next.length; i++) {
    const l = next[i]!;
    if (!l.startsWith(head)) return null;
    if (!kernelSet.has(l)) adds.push(i);
  }
  if ((deletes.length + adds.length) * 2 > next.length) return null;
  if (adds.length > 0) {
    const overlapping = overlappingRules(next.slice(0, next.length - tail));
    if (adds.some((i) => overlapping.has(i))) return null;
  }
  const added = adds.map((i) => next[i]!);
  // Inserting a, b, c each at position 1 leaves c, b, a on top.
  return { edit: { deletes, inserts: added.map((l) => [1, l]) }, order: [...added.reverse(), ...kept] };
}

/**
 * The -D/-I edits turning `prev` into `next` (both in chain order), or null when the chain should be written whole:
 * duplicate rules (a `-D` could hit the wrong copy), kept rules in a different order, rules without arguments, or
 * more edits than half the chain.
 */
export function chainEdit(chain: string, prev: string[], next: string[]): ChainEdit | null {
  const prevSet = new Set(prev);
  const nextSet = new Set(next);
  if (prevSet.size !== prev.length || nextSet.size !== next.length) return null;
  const head = `-A ${chain} `;
  const deletes: string[] = [];
  const keptPrev: string[] = [];
  for (const l of prev) {
    if (!l.startsWith(head)) return null;
    if (nextSet.has(l)) keptPrev.push(l);
    else deletes.push(l);
  }
  const inserts: [number, string][] = [];
  let k = 0;
  for (let i = 0; i < next.length; i++) {
    const l = next[i]!;
    if (!l.startsWith(head)) return null;
    if (prevSet.has(l)) {
      if (keptPrev[k++] !== l) return null; // kept rules moved relative to each other
    } else inserts.push([i + 1, l]);
  }
  if ((deletes.length + inserts.length) * 2 > next.length) return null;
  return { deletes, inserts };
}

/** `-A CHAIN rest` → `-D CHAIN rest`. */
function asDelete(chain: string, line: string): string {
  return `-D ${chain} ${line.slice(chain.length + 4)}`;
}

/** `-A CHAIN rest` → `-I CHAIN pos rest`. */
function asInsert(chain: string, pos: number, line: string): string {
  return `-I ${chain} ${pos} ${line.slice(chain.length + 4)}`;
}

/**
 * Rewrites a partial plan (from planPartial against `prev`) so that large chains already in the kernel are edited
 * in place rather than flushed and rewritten. Same chains touched, same end state.
 */
export function planIncremental(
  prev: AppliedState,
  r: RenderResult,
  base: RestorePlan,
  minRules = 16,
): IncrementalPlan {
  if (base.empty) return { ...base, editedChains: [], kernelOrder: new Map() };
  const parts: string[] = [];
  const edited: string[] = [];
  const kernelOrder = new Map<string, string[]>();
  const written = { filter: [] as string[], nat: [] as string[] };
  let ruleLines = 0;
  const table = (
    name: "filter" | "nat",
    changed: string[],
    before: Map<string, string[]>,
    rules: Map<string, string[]>,
    del: string[],
  ) => {
    const whole: string[] = [];
    const edits: [string, ChainEdit][] = [];
    for (const c of changed) {
      const old = before.get(c);
      const now = rules.get(c) ?? [];
      if (old && now.length >= minRules && DISPATCH_CHAINS.has(`${name}/${c}`)) {
        const d = dispatchEdit(c, old, now);
        if (d) {
          if (!sameList(d.order, now)) kernelOrder.set(`${name}/${c}`, d.order);
          // Only the kernel's order differed from the render: nothing to write.
          if (d.edit.deletes.length + d.edit.inserts.length === 0) continue;
          edits.push([c, d.edit]);
          written[name].push(c);
          continue;
        }
      }
      const e = old && now.length >= minRules ? chainEdit(c, old, now) : null;
      if (e) edits.push([c, e]);
      else whole.push(c);
      written[name].push(c);
    }
    if (whole.length === 0 && edits.length === 0 && del.length === 0) return;
    parts.push(`*${name}`);
    for (const c of whole) parts.push(`:${c} - [0:0]`);
    for (const c of del) parts.push(`:${c} - [0:0]`);
    for (const c of whole) {
      const rs = rules.get(c) ?? [];
      ruleLines += rs.length;
      for (const l of rs) parts.push(l);
    }
    // Deletes first (they may drop the last reference to a chain removed below), then inserts bottom-up by position.
    for (const [c, e] of edits) for (const l of e.deletes) parts.push(asDelete(c, l));
    for (const [c, e] of edits) {
      edited.push(`${name}/${c}`);
      ruleLines += e.inserts.length;
      for (const [pos, l] of e.inserts) parts.push(asInsert(c, pos, l));
    }
    for (const c of del) parts.push(`-X ${c}`);
    parts.push("COMMIT");
  };
  table("filter", base.writtenChains.filter, prev.filter, r.filter.rules, []);
  table("nat", base.writtenChains.nat, prev.nat, r.nat.rules, base.deletedChains);
  if (parts.length === 0) {
    return {
      payload: "",
      ruleLines: 0,
      totalLines: 0,
      writtenChains: written,
      deletedChains: [],
      empty: true,
      editedChains: [],
      kernelOrder,
    };
  }
  return {
    ...base,
    payload: `${parts.join("\n")}\n`,
    ruleLines,
    totalLines: parts.length,
    writtenChains: written,
    editedChains: edited,
    kernelOrder,
  };
}

/** The applied state with the kernel's rule order for the chains a plan left out of the render's order. */
export function withKernelOrder(a: AppliedState, order: Map<string, string[]> | undefined): AppliedState {
  if (!order?.size) return a;
  const out: AppliedState = { filter: new Map(a.filter), nat: new Map(a.nat) };
  for (const [key, rules] of order) {
    const i = key.indexOf("/");
    out[key.slice(0, i) as "filter" | "nat"].set(key.slice(i + 1), rules);
  }
  return out;
}

function sameList(a: string[], b: string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
