/**
 * Scheduler filters (predicates): each says why a pod cannot go to a node, or undefined when it can. Reason
 * strings are Kubernetes' own, so "0/3 nodes are available: …" reads the same as kube-scheduler's.
 */
import type { Node, NodeSelectorRequirement, NodeSelectorTerm, Pod, Taint, Toleration } from "../api/index.js";
import { nodeAllocatable, podRequests, type Resources, requestedOn } from "./resources.js";

export interface NodeInfo {
  node: Node;
  /** Pods bound (or assumed) to the node that still hold resources. */
  pods: Pod[];
  /** Cached requested sum of `pods` (computed when absent). */
  requested?: Resources;
}

export type Filter = (pod: Pod, info: NodeInfo) => string | undefined;

export const TaintUnschedulable = "node.kubernetes.io/unschedulable";

export const nodeUnschedulable: Filter = (pod, { node }) => {
  if (!node.spec?.unschedulable) return undefined;
  const tolerated = (pod.spec.tolerations ?? []).some((t) =>
    tolerates(t, { key: TaintUnschedulable, effect: "NoSchedule" }),
  );
  return tolerated ? undefined : "node(s) were unschedulable";
};

export const nodeReady: Filter = (_pod, { node }) => {
  const ready = node.status?.conditions?.find((c) => c.type === "Ready");
  return ready?.status === "True" ? undefined : "node(s) were not ready";
};

export const nodeResourcesFit: Filter = (pod, info) => {
  const req = podRequests(pod);
  const alloc = nodeAllocatable(info.node);
  const used = info.requested ?? requestedOn(info.pods);
  if ((used.pods ?? 0) + 1 > (alloc.pods ?? 110)) return "Too many pods";
  const short: string[] = [];
  for (const [k, v] of Object.entries(req)) {
    if (v <= 0) continue;
    const a = alloc[k];
    // Resources a node does not list are only a problem for extended resources (cpu/memory absent = unknown).
    if (a === undefined) {
      if (k !== "cpu" && k !== "memory" && k !== "ephemeral-storage") short.push(`Insufficient ${k}`);
      continue;
    }
    if ((used[k] ?? 0) + v > a + 1e-9) short.push(`Insufficient ${k}`);
  }
  return short.length ? short.join(", ") : undefined;
};

function matchRequirement(r: NodeSelectorRequirement, value: string | undefined): boolean {
  switch (r.operator) {
    case "In":
      return value !== undefined && (r.values ?? []).includes(value);
    case "NotIn":
      return value === undefined || !(r.values ?? []).includes(value);
    case "Exists":
      return value !== undefined;
    case "DoesNotExist":
      return value === undefined;
    case "Gt":
    case "Lt": {
      const v = Number(value);
      const bound = Number(r.values?.[0]);
      if (value === undefined || !Number.isInteger(v) || !Number.isInteger(bound)) return false;
      return r.operator === "Gt" ? v > bound : v < bound;
    }
    default:
      return false;
  }
}

/** A node selector term: all its expressions (labels) and fields (only metadata.name) must match; empty matches nothing. */
export function matchTerm(term: NodeSelectorTerm, node: Node): boolean {
  const exprs = term.matchExpressions ?? [];
  const fields = term.matchFields ?? [];
  if (exprs.length === 0 && fields.length === 0) return false;
  const labels = node.metadata.labels ?? {};
  return (
    exprs.every((r) => matchRequirement(r, labels[r.key])) &&
    fields.every((r) => r.key === "metadata.name" && matchRequirement(r, node.metadata.name))
  );
}

export const nodeAffinity: Filter = (pod, { node }) => {
  const labels = node.metadata.labels ?? {};
  const fail = "node(s) didn't match Pod's node affinity/selector";
  for (const [k, v] of Object.entries(pod.spec.nodeSelector ?? {})) if (labels[k] !== v) return fail;
  const required = pod.spec.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution;
  if (required && !required.nodeSelectorTerms.some((t) => matchTerm(t, node))) return fail;
  return undefined;
};

/** Whether a toleration tolerates a taint (Kubernetes' ToleratesTaint). */
export function tolerates(t: Toleration, taint: Pick<Taint, "key" | "value" | "effect">): boolean {
  if (t.effect && t.effect !== taint.effect) return false;
  if (t.key && t.key !== taint.key) return false;
  if (!t.key && t.operator !== "Exists") return false; // an empty key needs Exists (tolerates everything)
  if (t.operator === "Exists") return true;
  return (t.value ?? "") === (taint.value ?? "");
}

export const taintToleration: Filter = (pod, { node }) => {
  for (const taint of node.spec?.taints ?? []) {
    if (taint.effect === "PreferNoSchedule") continue;
    if (!(pod.spec.tolerations ?? []).some((t) => tolerates(t, taint)))
      return `node(s) had untolerated taint {${taint.key}: ${taint.value ?? ""}}`;
  }
  return undefined;
};

export const nodePorts: Filter = (pod, info) => {
  const want = new Set<string>();
  for (const c of pod.spec.containers ?? [])
    for (const p of c.ports ?? []) if (p.hostPort) want.add(`${p.protocol ?? "TCP"}/${p.hostPort}`);
  if (want.size === 0) return undefined;
  for (const other of info.pods)
    for (const c of other.spec.containers ?? [])
      for (const p of c.ports ?? [])
        if (p.hostPort && want.has(`${p.protocol ?? "TCP"}/${p.hostPort}`))
          return "node(s) didn't have free ports for the requested pod ports";
  return undefined;
};

/** The filters in kube-scheduler's order. */
export const defaultFilters: Filter[] = [
  nodeUnschedulable,
  nodeReady,
  nodeAffinity,
  nodePorts,
  taintToleration,
  nodeResourcesFit,
];

/** The first failing filter's reason, or undefined when the pod fits the node. */
export function firstFailure(
  pod: Pod,
  info: NodeInfo,
  filters: readonly Filter[] = defaultFilters,
): string | undefined {
  for (const f of filters) {
    const r = f(pod, info);
    if (r) return r;
  }
  return undefined;
}
