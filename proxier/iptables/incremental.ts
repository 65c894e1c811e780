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
  if (base.empty) return { ...base, editedChains: [] };
  const parts: string[] = [];
  const edited: string[] = [];
  let ruleLines = 0;
  const table = (
    name: "filter" | "nat",
    written: string[],
    before: Map<string, string[]>,
    rules: Map<string, string[]>,
    del: string[],
  ) => {
    if (written.length === 0 && del.length === 0) return;
    const whole: string[] = [];
    const edits: [string, ChainEdit][] = [];
    for (const c of written) {
      const old = before.get(c);
      const now = rules.get(c) ?? [];
      const e = old && now.length >= minRules ? chainEdit(c, old, now) : null;
      if (e) edits.push([c, e]);
      else whole.push(c);
    }
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
  return {
    ...base,
    payload: `${parts.join("\n")}\n`,
    ruleLines,
    totalLines: parts.length,
    editedChains: edited,
  };
}
