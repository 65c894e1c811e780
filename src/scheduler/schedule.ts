/** One scheduling decision, pure: filter the nodes, score the feasible ones, pick the best (ties at random). */
import type { Pod } from "../api/index.js";
import { defaultFilters, type Filter, firstFailure, type NodeInfo } from "./filters.js";
import { defaultScores, type WeightedScore } from "./scores.js";

export type ScheduleResult =
  | { node: string; score: number }
  | { unschedulable: string; reasons: Record<string, number> };

/** `0/3 nodes are available: 1 Insufficient cpu, 2 node(s) were not ready.` (kube-scheduler's wording). */
export function unschedulableMessage(total: number, reasons: Record<string, number>): string {
  if (total === 0) return "0/0 nodes are available: no nodes available to schedule pods.";
  const parts = Object.entries(reasons)
    .map(([r, n]) => `${n} ${r}`)
    .sort();
  return `0/${total} nodes are available: ${parts.join(", ")}.`;
}

export function schedulePod(
  pod: Pod,
  nodes: readonly NodeInfo[],
  opts: { filters?: readonly Filter[]; scores?: readonly WeightedScore[]; random?: () => number } = {},
): ScheduleResult {
  const reasons: Record<string, number> = {};
  const feasible: NodeInfo[] = [];
  for (const info of nodes) {
    const why = firstFailure(pod, info, opts.filters ?? defaultFilters);
    if (why) for (const r of why.split(", ")) reasons[r] = (reasons[r] ?? 0) + 1;
    else feasible.push(info);
  }
  if (feasible.length === 0) return { unschedulable: unschedulableMessage(nodes.length, reasons), reasons };
  const scores = opts.scores ?? defaultScores;
  let best: NodeInfo[] = [];
  let bestScore = Number.NEGATIVE_INFINITY;
  for (const info of feasible) {
    const s = scores.reduce((sum, w) => sum + w.weight * w.score(pod, info, feasible), 0);
    if (s > bestScore + 1e-9) {
      best = [info];
      bestScore = s;
    } else if (Math.abs(s - bestScore) <= 1e-9) best.push(info);
  }
  const pick = best[Math.floor((opts.random ?? Math.random)() * best.length)] ?? best[0]!;
  return { node: pick.node.metadata.name ?? "", score: bestScore };
}
