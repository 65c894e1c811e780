/** What a pod asks for and what a node offers, as numbers per resource name. */
import type { Node, Pod, ResourceList } from "../api/index.js";
import { parseQuantity } from "./quantity.js";

export type Resources = Record<string, number>;

function toNumbers(rl: ResourceList | undefined): Resources {
  const out: Resources = {};
  for (const [k, v] of Object.entries(rl ?? {})) {
    const n = parseQuantity(v);
    if (n !== undefined) out[k] = n;
  }
  return out;
}

/**
 * A pod's effective requests: the sum over containers, or the largest init container's if larger (init
 * containers run one at a time before the others), per resource.
 */
const requestsMemo = new WeakMap<Pod, Resources>();

export function podRequests(pod: Pod): Resources {
  // Pods are immutable snapshots from the informer cache: their requests can be computed once.
  const memo = requestsMemo.get(pod);
  if (memo) return memo;
  const sum: Resources = {};
  for (const c of pod.spec.containers ?? [])
    for (const [k, v] of Object.entries(toNumbers(c.resources?.requests))) sum[k] = (sum[k] ?? 0) + v;
  for (const c of pod.spec.initContainers ?? [])
    for (const [k, v] of Object.entries(toNumbers(c.resources?.requests))) sum[k] = Math.max(sum[k] ?? 0, v);
  requestsMemo.set(pod, sum);
  return sum;
}

/** Allocatable (or capacity when allocatable is absent). A node that reports nothing allows 110 pods. */
export function nodeAllocatable(node: Node): Resources {
  const a = toNumbers(node.status?.allocatable ?? node.status?.capacity);
  if (a.pods === undefined) a.pods = 110;
  return a;
}

/** Sum of requests of the pods on a node, plus their count under `pods`. */
export function requestedOn(pods: readonly Pod[]): Resources {
  const sum: Resources = { pods: 0 };
  for (const p of pods) {
    for (const [k, v] of Object.entries(podRequests(p))) sum[k] = (sum[k] ?? 0) + v;
    sum.pods = (sum.pods ?? 0) + 1;
  }
  return sum;
}
