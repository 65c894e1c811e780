/**
 * Restore planning: what to hand iptables-restore --noflush for a full or a partial sync.
 *
 * A full sync writes the whole render (`RenderResult.payload`). A partial sync writes only chains whose rules
 * differ from what the last successful restore left in the kernel, and deletes service chains that are gone.
 * That goes beyond kube-proxy (which rewrites every shared chain — KUBE-SERVICES, KUBE-NODEPORTS, all of filter —
 * on every sync): unchanged shared chains are left alone, and a sync that changes nothing writes nothing.
 * Correct as long as the kernel holds what we last wrote; drift is caught by the canary and the periodic full sync.
 */
import { isServiceChainName } from "./hash.js";
import type { RenderResult, TableRules } from "./render.js";

/** What the last successful restore left in the kernel: chain → rule lines, per table. */
export interface AppliedState {
  filter: Map<string, string[]>;
  nat: Map<string, string[]>;
}

export interface RestorePlan {
  payload: string;
  /** `-A` lines in the payload. */
  ruleLines: number;
  /** Every line of the payload. */
  totalLines: number;
  writtenChains: { filter: string[]; nat: string[] };
  deletedChains: string[];
  /** Nothing to write (partial sync without changes). */
  empty: boolean;
}

/** The state a render leaves once restored; its per-chain lists are built only when a later plan reads them. */
export function appliedStateOf(r: RenderResult): AppliedState {
  return {
    get filter() {
      return r.filter.rules;
    },
    get nat() {
      return r.nat.rules;
    },
  };
}

function countLines(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) === 10) n++;
  return n;
}

/** The full-sync plan: the render's payload as is. */
export function planFull(r: RenderResult): RestorePlan {
  return {
    payload: r.payload,
    ruleLines: r.stats.filterRules + r.stats.natRules,
    totalLines: countLines(r.payload),
    writtenChains: { filter: [...r.filter.chains], nat: [...r.nat.chains] },
    deletedChains: [...r.staleChains],
    empty: false,
  };
}

function sameRules(a: string[] | undefined, b: string[]): boolean {
  if (a === b) return true; // a chain of a reused fragment: the same frozen list
  if (!a || a.length !== b.length) return false;
  for (let i = 0; i < b.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function changedChains(prev: Map<string, string[]>, next: TableRules): string[] {
  const out: string[] = [];
  for (const c of next.chains) if (!sameRules(prev.get(c), next.rules.get(c) ?? [])) out.push(c);
  return out;
}

/** The partial-sync plan against the state the kernel holds. */
export function planPartial(prev: AppliedState, r: RenderResult): RestorePlan {
  const filterChains = changedChains(prev.filter, r.filter);
  const natChains = changedChains(prev.nat, r.nat);
  const deleted: string[] = [];
  for (const c of prev.nat.keys()) if (!r.nat.rules.has(c) && isServiceChainName(c)) deleted.push(c);
  deleted.sort();
  if (filterChains.length === 0 && natChains.length === 0 && deleted.length === 0) {
    return {
      payload: "",
      ruleLines: 0,
      totalLines: 0,
      writtenChains: { filter: [], nat: [] },
      deletedChains: [],
      empty: true,
    };
  }
  const parts: string[] = [];
  let ruleLines = 0;
  const table = (name: string, chains: string[], rules: Map<string, string[]>, del: string[]) => {
    if (chains.length === 0 && del.length === 0) return;
    parts.push(`*${name}`);
    for (const c of chains) parts.push(`:${c} - [0:0]`);
    for (const c of del) parts.push(`:${c} - [0:0]`);
    for (const c of chains) {
      const rs = rules.get(c) ?? [];
      ruleLines += rs.length;
      for (const l of rs) parts.push(l);
    }
    for (const c of del) parts.push(`-X ${c}`);
    parts.push("COMMIT");
  };
  table("filter", filterChains, r.filter.rules, []);
  table("nat", natChains, r.nat.rules, deleted);
  return {
    payload: `${parts.join("\n")}\n`,
    ruleLines,
    totalLines: parts.length,
    writtenChains: { filter: filterChains, nat: natChains },
    deletedChains: deleted,
    empty: false,
  };
}
