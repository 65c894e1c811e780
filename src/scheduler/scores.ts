/** Scheduler scores (priorities), each 0–100 per node; higher is better. */
import type { Pod } from "../api/index.js";
import type { NodeInfo } from "./filters.js";
import { matchTerm, tolerates } from "./filters.js";
import { nodeAllocatable, podRequests, requestedOn } from "./resources.js";

export type Score = (pod: Pod, info: NodeInfo, all: readonly NodeInfo[]) => number;

/** Defaults kube-scheduler assumes for scoring when a pod requests nothing (0.1 CPU, 200 MiB). */
const defaultCPU = 0.1;
const defaultMemory = 200 * 2 ** 20;

/** LeastAllocated: prefer nodes with the most free cpu and memory after placing the pod. */
export const leastAllocated: Score = (pod, info) => {
  const req = podRequests(pod);
  const alloc = nodeAllocatable(info.node);
  const used = info.requested ?? requestedOn(info.pods);
  let total = 0;
  let n = 0;
  for (const [res, dflt] of [
    ["cpu", defaultCPU],
    ["memory", defaultMemory],
  ] as const) {
    const cap = alloc[res];
    if (!cap) continue;
    const after = (used[res] ?? 0) + (req[res] || dflt);
    total += Math.max(0, ((cap - after) / cap) * 100);
    n++;
  }
  return n ? total / n : 50;
};

/** The uid of the pod's controller (ReplicaSet, …): pods sharing it should spread over nodes. */
function ownerUID(pod: Pod): string | undefined {
  return pod.metadata.ownerReferences?.find((r) => r.controller)?.uid;
}

// Per-decision memo: the node list of one decision is a fresh array, so it keys the counts of that decision.
const spreadMemo = new WeakMap<readonly NodeInfo[], { uid: string; counts: Map<NodeInfo, number>; max: number }>();

/** SelectorSpread: fewer pods of the same owner on a node is better. */
export const ownerSpread: Score = (pod, info, all) => {
  const uid = ownerUID(pod);
  if (!uid) return 100;
  let m = spreadMemo.get(all);
  if (!m || m.uid !== uid) {
    const counts = new Map<NodeInfo, number>();
    let max = 0;
    for (const i of all) {
      let n = 0;
      for (const p of i.pods) if (ownerUID(p) === uid) n++;
      counts.set(i, n);
      if (n > max) max = n;
    }
    m = { uid, counts, max };
    spreadMemo.set(all, m);
  }
  if (m.max === 0) return 100;
  return (100 * (m.max - (m.counts.get(info) ?? 0))) / m.max;
};

/** Preferred node affinity: sum of the weights of matching preferred terms, scaled to 0–100 over all nodes. */
export const preferredAffinity: Score = (pod, info, all) => {
  const prefs = pod.spec.affinity?.nodeAffinity?.preferredDuringSchedulingIgnoredDuringExecution ?? [];
  if (prefs.length === 0) return 0;
  const raw = (i: NodeInfo) => prefs.reduce((s, p) => s + (matchTerm(p.preference, i.node) ? p.weight : 0), 0);
  const max = Math.max(0, ...all.map(raw));
  return max === 0 ? 0 : (100 * raw(info)) / max;
};

/** PreferNoSchedule taints the pod does not tolerate count against a node. */
export const preferNoScheduleTaints: Score = (pod, info, all) => {
  const bad = (i: NodeInfo) =>
    (i.node.spec?.taints ?? []).filter(
      (t) => t.effect === "PreferNoSchedule" && !(pod.spec.tolerations ?? []).some((x) => tolerates(x, t)),
    ).length;
  const max = Math.max(0, ...all.map(bad));
  return max === 0 ? 100 : (100 * (max - bad(info))) / max;
};

export interface WeightedScore {
  name: string;
  score: Score;
  weight: number;
}

export const defaultScores: WeightedScore[] = [
  { name: "LeastAllocated", score: leastAllocated, weight: 1 },
  { name: "SelectorSpread", score: ownerSpread, weight: 2 },
  { name: "NodeAffinity", score: preferredAffinity, weight: 2 },
  { name: "TaintToleration", score: preferNoScheduleTaints, weight: 3 },
];
