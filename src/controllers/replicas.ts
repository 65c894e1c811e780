/**
 * Pure decision logic of the ReplicaSet and ReplicationController controllers: given the owner and the pods of
 * its namespace, which pods to create, delete and adopt, and what the status should say.
 */
import type {
  KubeObject,
  LabelSelector,
  Pod,
  PodTemplateSpec,
  ReplicaSet,
  ReplicaSetStatus,
  ReplicationController,
} from "../api/index.js";
import { type LabelSelectorMatcher, labelSelectorFromObject, selectorFromMap } from "../api/selectors.js";
import { controllerOf, isPodActive, isPodAvailable, isPodReady, ownerRef } from "./pods.js";

/** What the two kinds have in common, read uniformly. */
export interface ReplicaOwner {
  obj: ReplicaSet | ReplicationController;
  replicas: number;
  selector: LabelSelectorMatcher;
  template: PodTemplateSpec | undefined;
  minReadySeconds: number;
}

export function replicaOwnerOf(obj: ReplicaSet | ReplicationController): ReplicaOwner {
  const spec = obj.spec;
  let selector: LabelSelectorMatcher;
  if (obj.kind === "ReplicationController") {
    const m = (spec as ReplicationController["spec"]).selector ?? spec.template?.metadata?.labels;
    // An empty RC selector would select everything; Kubernetes defaults it from the template, we refuse instead.
    selector = m && Object.keys(m).length > 0 ? selectorFromMap(m) : labelSelectorFromObject(undefined);
  } else {
    try {
      selector = labelSelectorFromObject((spec as ReplicaSet["spec"]).selector as LabelSelector);
    } catch {
      selector = labelSelectorFromObject(undefined);
    }
  }
  return {
    obj,
    replicas: spec.replicas ?? 1,
    selector,
    template: spec.template,
    minReadySeconds: spec.minReadySeconds ?? 0,
  };
}

export interface ReplicaPlan {
  create: number;
  delete: Pod[];
  adopt: Pod[];
  status: ReplicaSetStatus;
}

const phaseRank: Record<string, number> = { Pending: 0, Unknown: 1, Running: 2 };

/** Which pods to delete first when scaling down (as ActivePods sorts them): the least useful first. */
export function deletionOrder(a: Pod, b: Pod): number {
  const an = a.spec.nodeName ? 1 : 0;
  const bn = b.spec.nodeName ? 1 : 0;
  if (an !== bn) return an - bn;
  const ap = phaseRank[a.status?.phase ?? "Pending"] ?? 0;
  const bp = phaseRank[b.status?.phase ?? "Pending"] ?? 0;
  if (ap !== bp) return ap - bp;
  const ar = isPodReady(a) ? 1 : 0;
  const br = isPodReady(b) ? 1 : 0;
  if (ar !== br) return ar - br;
  const at = a.metadata.creationTimestamp ?? "";
  const bt = b.metadata.creationTimestamp ?? "";
  if (at !== bt) return at > bt ? -1 : 1; // newer first
  return (a.metadata.name ?? "") < (b.metadata.name ?? "") ? -1 : 1;
}

/** The pods this owner controls or may adopt, among the pods of its namespace. */
export function ownedPods(owner: ReplicaOwner, pods: readonly Pod[]): { owned: Pod[]; adopt: Pod[] } {
  const uid = owner.obj.metadata.uid;
  const owned: Pod[] = [];
  const adopt: Pod[] = [];
  for (const p of pods) {
    if (p.metadata.namespace !== owner.obj.metadata.namespace) continue;
    const ref = controllerOf(p);
    if (ref) {
      if (ref.uid === uid && owner.selector.matches(p.metadata.labels)) owned.push(p);
    } else if (isPodActive(p) && owner.selector.matches(p.metadata.labels) && !owner.obj.metadata.deletionTimestamp) {
      adopt.push(p);
    }
  }
  return { owned, adopt };
}

export function planReplicas(owner: ReplicaOwner, pods: readonly Pod[], now: Date): ReplicaPlan {
  const { owned, adopt } = ownedPods(owner, pods);
  const all = [...owned, ...adopt];
  const active = all.filter(isPodActive);
  const diff = active.length - owner.replicas;
  const create = diff < 0 && owner.template ? -diff : 0;
  const del = diff > 0 ? [...active].sort(deletionOrder).slice(0, diff) : [];
  const templateLabels = owner.template?.metadata?.labels ?? {};
  const status: ReplicaSetStatus = {
    replicas: active.length,
    fullyLabeledReplicas: active.filter((p) =>
      Object.entries(templateLabels).every(([k, v]) => p.metadata.labels?.[k] === v),
    ).length,
    readyReplicas: active.filter(isPodReady).length,
    availableReplicas: active.filter((p) => isPodAvailable(p, owner.minReadySeconds, now)).length,
    observedGeneration: owner.obj.metadata.generation ?? 0,
  };
  return { create, delete: del, adopt, status };
}

/** A pod for an owner's template (the apiserver completes generateName). */
export function podFromTemplate(owner: KubeObject, template: PodTemplateSpec): Pod {
  const meta = template.metadata ?? {};
  const pod: Pod = {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      generateName: `${owner.metadata.name}-`,
      namespace: owner.metadata.namespace,
      labels: { ...(meta.labels ?? {}) },
      ownerReferences: [ownerRef(owner)],
    },
    spec: structuredClone(template.spec),
  };
  if (meta.annotations) pod.metadata.annotations = { ...meta.annotations };
  if (meta.finalizers) pod.metadata.finalizers = [...meta.finalizers];
  return pod;
}

/** Status fields that matter for equality (conditions are not computed by us). */
export function sameReplicaStatus(a: ReplicaSetStatus | undefined, b: ReplicaSetStatus): boolean {
  return (
    (a?.replicas ?? 0) === b.replicas &&
    (a?.fullyLabeledReplicas ?? 0) === (b.fullyLabeledReplicas ?? 0) &&
    (a?.readyReplicas ?? 0) === (b.readyReplicas ?? 0) &&
    (a?.availableReplicas ?? 0) === (b.availableReplicas ?? 0) &&
    (a?.observedGeneration ?? 0) === (b.observedGeneration ?? 0)
  );
}
