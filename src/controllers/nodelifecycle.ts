/**
 * Pure decision logic of the node lifecycle controller: a node whose kubelet stopped posting status for longer
 * than the grace period gets Unknown conditions and the unreachable taint; pods on a node that is not Ready get
 * their Ready condition set to False (so the EndpointSlice controller marks their endpoints not ready).
 */
import type { Condition, Node, Pod, Taint } from "../api/index.js";
import { podCondition, timestamp } from "./pods.js";

export const TaintUnreachable = "node.kubernetes.io/unreachable";
export const TaintNotReady = "node.kubernetes.io/not-ready";
const monitoredConditions = ["Ready", "MemoryPressure", "DiskPressure", "PIDPressure"];

export interface NodeDecision {
  /** New status.conditions when the node must be marked Unknown. */
  conditions?: Condition[];
  /** New spec.taints when they must change. */
  taints?: Taint[];
  /** Whether the node counts as not Ready (after this decision). */
  notReady: boolean;
}

export function lastHeartbeat(node: Node): number {
  const ready = node.status?.conditions?.find((c) => c.type === "Ready");
  const t = Date.parse(ready?.lastHeartbeatTime ?? node.metadata.creationTimestamp ?? "");
  return Number.isFinite(t) ? t : 0;
}

export function decideNode(node: Node, now: Date, graceMs: number): NodeDecision {
  const conds = node.status?.conditions ?? [];
  const ready = conds.find((c) => c.type === "Ready");
  let readyStatus = ready?.status ?? "Unknown";
  const out: NodeDecision = { notReady: false };
  const stale = now.getTime() - lastHeartbeat(node) > graceMs;
  if (stale && (ready?.status !== "Unknown" || !ready)) {
    const ts = timestamp(now);
    const unknown = (c: Condition | undefined, type: string): Condition => ({
      type,
      status: "Unknown",
      reason: "NodeStatusUnknown",
      message: "Kubelet stopped posting node status.",
      lastTransitionTime: ts,
      ...(c?.lastHeartbeatTime ? { lastHeartbeatTime: c.lastHeartbeatTime } : {}),
    });
    const next = conds.map((c) => (monitoredConditions.includes(c.type) ? unknown(c, c.type) : c));
    if (!ready) next.push(unknown(undefined, "Ready"));
    out.conditions = next;
    readyStatus = "Unknown";
  } else if (!ready && !stale) {
    // A node that has not reported yet is within its grace period: not Ready, but not marked either.
    readyStatus = "Unknown";
  }
  out.notReady = readyStatus !== "True";
  const want = readyStatus === "Unknown" ? TaintUnreachable : readyStatus === "False" ? TaintNotReady : undefined;
  const taints = node.spec?.taints ?? [];
  const kept = taints.filter(
    (t) => !((t.key === TaintUnreachable || t.key === TaintNotReady) && t.effect === "NoSchedule" && t.key !== want),
  );
  if (want && !kept.some((t) => t.key === want && t.effect === "NoSchedule"))
    kept.push({ key: want, effect: "NoSchedule", timeAdded: timestamp(now) });
  if (kept.length !== taints.length || kept.some((t, i) => t !== taints[i])) out.taints = kept;
  return out;
}

/**
 * Seconds a pod may stay on a node that has not been Ready since `notReadySince` before it is evicted
 * (deleted, so its controller replaces it elsewhere): a NoExecute toleration of the node's condition taint
 * decides (no tolerationSeconds = stay forever), else the default (Kubernetes' DefaultTolerationSeconds, 300).
 * Returns true when the pod should be evicted now.
 */
export function shouldEvict(pod: Pod, node: Node, now: Date, defaultSeconds: number): boolean {
  if (pod.metadata.deletionTimestamp) return false;
  const ready = node.status?.conditions?.find((c) => c.type === "Ready");
  if (!ready || ready.status === "True") return false;
  const since = Date.parse(ready.lastTransitionTime ?? "");
  if (!Number.isFinite(since)) return false;
  const taint = ready.status === "Unknown" ? TaintUnreachable : TaintNotReady;
  const tol = (pod.spec.tolerations ?? []).find(
    (t) =>
      (!t.effect || t.effect === "NoExecute") &&
      ((t.operator === "Exists" && (!t.key || t.key === taint)) || t.key === taint),
  );
  if (tol && tol.tolerationSeconds === undefined) return false;
  const seconds = tol?.tolerationSeconds ?? defaultSeconds;
  return now.getTime() - since >= Math.max(0, seconds) * 1000;
}

/** The pod status update for a pod on a not-Ready node (undefined when it is already not Ready). */
export function podNotReadyStatus(pod: Pod, now: Date): Pod["status"] | undefined {
  const c = podCondition(pod, "Ready");
  if (c?.status !== "True") return undefined;
  const conditions = (pod.status?.conditions ?? []).map((x) =>
    x.type === "Ready"
      ? {
          ...x,
          status: "False" as const,
          reason: "NodeNotReady",
          message: "Node is not ready",
          lastTransitionTime: timestamp(now),
        }
      : x,
  );
  return { ...pod.status, conditions };
}
