/**
 * Pure decision logic of the Deployment controller (kube-controller-manager's sync/rolling/recreate logic):
 * given a Deployment and the ReplicaSets of its namespace, which ReplicaSet to create, which to scale or
 * re-annotate, which old ones to delete (revision history), and the Deployment's status.
 */
import type { Condition, Deployment, DeploymentStatus, PodTemplateSpec, ReplicaSet } from "../api/index.js";
import { canonicalJson } from "../client/index.js";
import { controllerOf, ownerRef, timestamp } from "./pods.js";

export const RevisionAnnotation = "deployment.kubernetes.io/revision";
export const DesiredReplicasAnnotation = "deployment.kubernetes.io/desired-replicas";
export const MaxReplicasAnnotation = "deployment.kubernetes.io/max-replicas";
export const PodTemplateHashLabel = "pod-template-hash";

const safeAlphabet = "bcdfghjklmnpqrstvwxz2456789";

/** FNV-1a 32-bit over UTF-8. */
export function fnv32a(s: string): number {
  let h = 0x811c9dc5;
  for (const b of Buffer.from(s, "utf8")) {
    h ^= b;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

function withoutHash(t: PodTemplateSpec | undefined): unknown {
  if (!t) return undefined;
  const labels = { ...(t.metadata?.labels ?? {}) };
  delete labels[PodTemplateHashLabel];
  return { ...t, metadata: { ...(t.metadata ?? {}), labels } };
}

/**
 * The pod-template-hash: FNV-32a of the template (without the hash label) and the collision count, encoded
 * like Kubernetes' rand.SafeEncodeString (no vowels, so no words).
 */
export function templateHash(t: PodTemplateSpec, collisionCount = 0): string {
  const n = String(fnv32a(canonicalJson(withoutHash(t)) + (collisionCount ? `#${collisionCount}` : "")));
  let out = "";
  for (const ch of n) out += safeAlphabet[ch.charCodeAt(0) % safeAlphabet.length];
  return out;
}

export function equalTemplates(a: PodTemplateSpec | undefined, b: PodTemplateSpec | undefined): boolean {
  return canonicalJson(withoutHash(a)) === canonicalJson(withoutHash(b));
}

/** An int-or-percent field against a total (percentages round up for surge, down for unavailable). */
export function resolveIntOrPercent(
  v: number | string | undefined,
  total: number,
  roundUp: boolean,
  dflt: string,
): number {
  const x = v ?? dflt;
  if (typeof x === "number") return x;
  const m = /^(\d+)%$/.exec(x);
  if (!m) return /^\d+$/.test(x) ? Number(x) : 0;
  const f = (Number(m[1]) * total) / 100;
  return roundUp ? Math.ceil(f) : Math.floor(f);
}

export function surgeAndUnavailable(d: Deployment): { surge: number; unavailable: number } {
  const replicas = d.spec.replicas ?? 1;
  if (d.spec.strategy?.type === "Recreate") return { surge: 0, unavailable: replicas };
  const ru = d.spec.strategy?.rollingUpdate;
  const surge = resolveIntOrPercent(ru?.maxSurge, replicas, true, "25%");
  let unavailable = resolveIntOrPercent(ru?.maxUnavailable, replicas, false, "25%");
  if (surge === 0 && unavailable === 0) unavailable = 1; // as Kubernetes: the rollout must be able to move
  return { surge, unavailable: Math.min(unavailable, replicas) };
}

export const revisionOf = (rs: ReplicaSet): number => Number(rs.metadata.annotations?.[RevisionAnnotation] ?? 0) || 0;
const specReplicas = (rs: ReplicaSet): number => rs.spec.replicas ?? 0;
const available = (rs: ReplicaSet): number => rs.status?.availableReplicas ?? 0;

export interface DeploymentPlan {
  /** A new ReplicaSet for the current template (its replicas already set for this step). */
  create?: ReplicaSet;
  /** ReplicaSets to write back (changed spec.replicas and/or annotations), full objects with their RV. */
  update: ReplicaSet[];
  /** Old, empty ReplicaSets beyond revisionHistoryLimit. */
  delete: ReplicaSet[];
  status: DeploymentStatus;
}

export function ownedReplicaSets(d: Deployment, all: readonly ReplicaSet[]): ReplicaSet[] {
  return all.filter((rs) => rs.metadata.namespace === d.metadata.namespace && controllerOf(rs)?.uid === d.metadata.uid);
}

/** A ReplicaSet for the Deployment's current template. */
export function newReplicaSetFor(d: Deployment, hash: string, replicas: number, revision: number): ReplicaSet {
  const template = structuredClone(d.spec.template);
  template.metadata = { ...(template.metadata ?? {}) };
  template.metadata.labels = { ...(template.metadata.labels ?? {}), [PodTemplateHashLabel]: hash };
  const { surge } = surgeAndUnavailable(d);
  const selector = structuredClone(d.spec.selector);
  selector.matchLabels = { ...(selector.matchLabels ?? {}), [PodTemplateHashLabel]: hash };
  const rs: ReplicaSet = {
    apiVersion: "apps/v1",
    kind: "ReplicaSet",
    metadata: {
      name: `${d.metadata.name}-${hash}`,
      namespace: d.metadata.namespace,
      labels: { ...(d.spec.template.metadata?.labels ?? {}), [PodTemplateHashLabel]: hash },
      annotations: {
        [RevisionAnnotation]: String(revision),
        [DesiredReplicasAnnotation]: String(d.spec.replicas ?? 1),
        [MaxReplicasAnnotation]: String((d.spec.replicas ?? 1) + surge),
      },
      ownerReferences: [ownerRef(d)],
    },
    spec: { replicas, selector, template, minReadySeconds: d.spec.minReadySeconds ?? 0 },
  };
  return rs;
}

/** NewRSNewReplicas for RollingUpdate: grow the new set as far as maxSurge allows. */
export function rollingNewReplicas(d: Deployment, all: readonly ReplicaSet[], newRS: ReplicaSet | undefined): number {
  const replicas = d.spec.replicas ?? 1;
  const cur = newRS ? specReplicas(newRS) : 0;
  if (cur > replicas) return replicas;
  const { surge } = surgeAndUnavailable(d);
  const total = all.reduce((n, rs) => n + specReplicas(rs), 0) + (newRS && all.includes(newRS) ? 0 : cur);
  const maxTotal = replicas + surge;
  if (total >= maxTotal) return cur;
  return cur + Math.max(0, Math.min(maxTotal - total, replicas - cur));
}

/**
 * reconcileOldReplicaSets for RollingUpdate: how far each old set may shrink without dropping below
 * replicas − maxUnavailable available pods. Returns new spec.replicas per old set (oldest first).
 */
export function rollingOldReplicas(
  d: Deployment,
  newRS: ReplicaSet,
  newReplicas: number,
  old: readonly ReplicaSet[],
): Map<ReplicaSet, number> {
  const out = new Map<ReplicaSet, number>();
  for (const rs of old) out.set(rs, specReplicas(rs));
  const oldCount = old.reduce((n, rs) => n + specReplicas(rs), 0);
  if (oldCount === 0) return out;
  const replicas = d.spec.replicas ?? 1;
  const { unavailable } = surgeAndUnavailable(d);
  const minAvailable = replicas - unavailable;
  const allCount = oldCount + newReplicas;
  const newUnavailable = Math.max(0, newReplicas - available(newRS));
  let maxScaledDown = allCount - minAvailable - newUnavailable;
  if (maxScaledDown <= 0) return out;
  const byAge = [...old].sort((a, b) => revisionOf(a) - revisionOf(b));
  // First drop pods that are not available anyway: that costs no availability.
  for (const rs of byAge) {
    if (maxScaledDown <= 0) break;
    const unhealthy = Math.max(0, (out.get(rs) ?? 0) - available(rs));
    const n = Math.min(unhealthy, maxScaledDown);
    if (n > 0) {
      out.set(rs, (out.get(rs) ?? 0) - n);
      maxScaledDown -= n;
    }
  }
  // Then available ones, as long as minAvailable holds.
  const availableNow = old.reduce((n, rs) => n + Math.min(available(rs), out.get(rs) ?? 0), 0) + available(newRS);
  let budget = Math.min(availableNow - minAvailable, maxScaledDown);
  for (const rs of byAge) {
    if (budget <= 0) break;
    const n = Math.min(out.get(rs) ?? 0, budget);
    if (n > 0) {
      out.set(rs, (out.get(rs) ?? 0) - n);
      budget -= n;
    }
  }
  return out;
}

type DeploymentCondition = Condition & { lastUpdateTime?: string };

function setCondition(
  prev: readonly DeploymentCondition[] | undefined,
  c: { type: string; status: "True" | "False" | "Unknown"; reason: string; message: string },
  now: string,
): DeploymentCondition {
  const old = prev?.find((x) => x.type === c.type);
  if (old && old.status === c.status && old.reason === c.reason && old.message === c.message) return old;
  return {
    ...c,
    lastUpdateTime: now,
    lastTransitionTime: old && old.status === c.status ? (old.lastTransitionTime ?? now) : now,
  };
}

export function deploymentStatus(
  d: Deployment,
  owned: readonly ReplicaSet[],
  newRS: ReplicaSet | undefined,
  now: Date,
): DeploymentStatus {
  const replicas = d.spec.replicas ?? 1;
  const sum = (f: (rs: ReplicaSet) => number) => owned.reduce((n, rs) => n + f(rs), 0);
  const total = sum((rs) => rs.status?.replicas ?? 0);
  const updated = newRS ? (newRS.status?.replicas ?? 0) : 0;
  const avail = sum(available);
  const ready = sum((rs) => rs.status?.readyReplicas ?? 0);
  const { unavailable } = surgeAndUnavailable(d);
  const ts = timestamp(now);
  const prev = d.status?.conditions as DeploymentCondition[] | undefined;
  const minAvail = avail >= replicas - unavailable;
  const complete = updated === replicas && avail >= replicas && total === replicas && newRS !== undefined;
  const newName = newRS?.metadata.name ?? `${d.metadata.name}`;
  const conditions = [
    setCondition(
      prev,
      {
        type: "Available",
        status: minAvail ? "True" : "False",
        reason: minAvail ? "MinimumReplicasAvailable" : "MinimumReplicasUnavailable",
        message: minAvail ? "Deployment has minimum availability." : "Deployment does not have minimum availability.",
      },
      ts,
    ),
    setCondition(
      prev,
      {
        type: "Progressing",
        status: "True",
        reason: complete ? "NewReplicaSetAvailable" : "ReplicaSetUpdated",
        message: complete
          ? `ReplicaSet "${newName}" has successfully progressed.`
          : `ReplicaSet "${newName}" is progressing.`,
      },
      ts,
    ),
  ];
  const status: DeploymentStatus = {
    observedGeneration: d.metadata.generation ?? 0,
    replicas: total,
    updatedReplicas: updated,
    readyReplicas: ready,
    availableReplicas: avail,
    // As calculateStatus: desired pods of all sets (spec) minus available ones.
    unavailableReplicas: Math.max(0, sum((rs) => rs.spec.replicas ?? 0) - avail),
    conditions,
  };
  if (d.status?.collisionCount) status.collisionCount = d.status.collisionCount;
  return status;
}

function withReplicas(rs: ReplicaSet, replicas: number, annotations: Record<string, string>): ReplicaSet | undefined {
  const ann = rs.metadata.annotations ?? {};
  const annChanged = Object.entries(annotations).some(([k, v]) => ann[k] !== v);
  if (specReplicas(rs) === replicas && !annChanged) return undefined;
  return {
    ...rs,
    metadata: { ...rs.metadata, annotations: { ...ann, ...annotations } },
    spec: { ...rs.spec, replicas },
  };
}

/** One sync step of a Deployment. */
export function planDeployment(d: Deployment, allRS: readonly ReplicaSet[], now: Date): DeploymentPlan {
  const owned = ownedReplicaSets(d, allRS);
  const replicas = d.spec.replicas ?? 1;
  const existingNew = owned.find((rs) => equalTemplates(rs.spec.template, d.spec.template));
  const old = owned.filter((rs) => rs !== existingNew);
  const maxOldRevision = old.reduce((m, rs) => Math.max(m, revisionOf(rs)), 0);
  const plan: DeploymentPlan = { update: [], delete: [], status: deploymentStatus(d, owned, existingNew, now) };
  if (d.spec.paused || d.metadata.deletionTimestamp) return plan;
  const { surge } = surgeAndUnavailable(d);
  const scaleAnn = {
    [DesiredReplicasAnnotation]: String(replicas),
    [MaxReplicasAnnotation]: String(replicas + surge),
  };
  const recreate = d.spec.strategy?.type === "Recreate";
  const oldActive = old.some((rs) => specReplicas(rs) > 0 || (rs.status?.replicas ?? 0) > 0);

  let newRS = existingNew;
  let newReplicas: number;
  if (recreate) newReplicas = oldActive ? 0 : replicas;
  else newReplicas = rollingNewReplicas(d, owned, existingNew);
  if (!newRS) {
    const hash = templateHash(d.spec.template, d.status?.collisionCount ?? 0);
    newRS = newReplicaSetFor(d, hash, newReplicas, maxOldRevision + 1);
    plan.create = newRS;
  } else {
    const ann: Record<string, string> = { ...scaleAnn };
    if (revisionOf(newRS) <= maxOldRevision) ann[RevisionAnnotation] = String(maxOldRevision + 1);
    const u = withReplicas(newRS, newReplicas, ann);
    if (u) plan.update.push(u);
  }

  const oldTargets = recreate
    ? new Map(old.map((rs) => [rs, 0] as const))
    : rollingOldReplicas(d, newRS, newReplicas, old);
  for (const [rs, n] of oldTargets) {
    const u = withReplicas(rs, n, specReplicas(rs) !== n ? scaleAnn : {});
    if (u) plan.update.push(u);
  }

  // Revision history: delete the oldest empty old sets beyond the limit.
  const limit = d.spec.revisionHistoryLimit ?? 10;
  const empty = old
    .filter((rs) => (oldTargets.get(rs) ?? 0) === 0 && specReplicas(rs) === 0 && (rs.status?.replicas ?? 0) === 0)
    .sort((a, b) => revisionOf(a) - revisionOf(b));
  if (empty.length > limit) plan.delete = empty.slice(0, empty.length - limit);
  return plan;
}
