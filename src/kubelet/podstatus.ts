/**
 * A pod's status from what the kubelet knows about its containers (pure): phase as the kubelet's getPhase
 * computes it, the four standard conditions, and container statuses.
 */
import type { ContainerStatus, Pod, PodStatus } from "../api/core.js";
import type { Condition } from "../api/meta.js";

export interface ContainerView {
  name: string;
  image: string;
  restartCount: number;
  ready: boolean;
  started: boolean;
  state:
    | { kind: "waiting"; reason: string; message?: string }
    | { kind: "running"; startedAt: string }
    | {
        kind: "terminated";
        exitCode: number;
        signal?: number;
        reason: string;
        message?: string;
        startedAt?: string;
        finishedAt: string;
      };
  last?: { exitCode: number; reason: string; message?: string; startedAt?: string; finishedAt: string };
  /** Whether the container will be started again (restartPolicy + exit code). */
  willRestart: boolean;
  containerID?: string;
}

export interface PodView {
  podIPs: string[];
  hostIP: string;
  startTime: string;
  containers: ContainerView[];
  /** spec.initContainers' states, in order (absent when the pod has none). */
  initContainers?: ContainerView[];
  /** Set when the sandbox itself failed (network, image): the reason is shown on the pod. */
  sandboxError?: { reason: string; message: string };
  terminating?: boolean;
}

const completed = (c: ContainerView) => c.state.kind === "terminated" && c.state.exitCode === 0;

/** Init containers that have not completed (in order). */
export function incompleteInit(v: PodView): ContainerView[] {
  return (v.initContainers ?? []).filter((c) => !completed(c));
}

export function podPhase(pod: Pod, v: PodView): NonNullable<PodStatus["phase"]> {
  // Init containers first (kubelet getPhase): a failed one that will not be retried fails the pod; until all
  // have completed the pod is Pending.
  const pendingInit = incompleteInit(v);
  if (pendingInit.some((c) => c.state.kind === "terminated" && !c.willRestart)) return "Failed";
  if (pendingInit.length) return "Pending";
  const cs = v.containers;
  if (cs.length === 0) return "Pending";
  let waiting = 0;
  let running = 0;
  let stopped = 0;
  let succeeded = 0;
  for (const c of cs) {
    if (c.state.kind === "running") running++;
    else if (c.state.kind === "terminated") {
      stopped++;
      if (c.state.exitCode === 0) succeeded++;
    } else if (c.restartCount > 0 || c.last) stopped++;
    else waiting++;
  }
  const policy = pod.spec.restartPolicy ?? "Always";
  if (waiting > 0) return "Pending";
  if (running > 0) return "Running";
  if (stopped === cs.length) {
    if (policy === "Always") return "Running";
    if (succeeded === cs.length) return "Succeeded";
    if (policy === "Never") return "Failed";
    return cs.some((c) => c.willRestart) ? "Running" : "Failed";
  }
  return "Pending";
}

function cond(
  type: string,
  ok: boolean,
  now: string,
  prev: Condition[] | undefined,
  reason?: string,
  message?: string,
): Condition {
  const status = ok ? "True" : "False";
  const old = prev?.find((c) => c.type === type);
  const c: Condition = {
    type,
    status,
    lastProbeTime: null,
    lastTransitionTime: old && old.status === status ? old.lastTransitionTime : now,
  };
  if (!ok && reason) c.reason = reason;
  if (!ok && message) c.message = message;
  return c;
}

function containerStatus(c: ContainerView): ContainerStatus {
  const s: ContainerStatus = {
    name: c.name,
    image: c.image,
    imageID: `podwire://${c.image}`,
    ready: c.ready,
    restartCount: c.restartCount,
    started: c.started,
    state: {},
  };
  if (c.containerID) s.containerID = `podwire://${c.containerID}`;
  if (c.state.kind === "waiting")
    s.state = { waiting: { reason: c.state.reason, ...(c.state.message ? { message: c.state.message } : {}) } };
  else if (c.state.kind === "running") s.state = { running: { startedAt: c.state.startedAt } };
  else {
    const t = c.state;
    s.state = {
      terminated: {
        exitCode: t.exitCode,
        reason: t.reason,
        finishedAt: t.finishedAt,
        ...(t.signal !== undefined ? { signal: t.signal } : {}),
        ...(t.message ? { message: t.message } : {}),
        ...(t.startedAt ? { startedAt: t.startedAt } : {}),
      },
    };
  }
  if (c.last) s.lastState = { terminated: { ...c.last } };
  return s;
}

export function buildPodStatus(pod: Pod, v: PodView, now: string): PodStatus {
  const phase = podPhase(pod, v);
  const prev = pod.status?.conditions;
  const notReady = v.containers.filter((c) => !c.ready).map((c) => c.name);
  const containersReady = v.containers.length > 0 && notReady.length === 0 && !v.terminating;
  const msg = notReady.length ? `containers with unready status: [${notReady.join(" ")}]` : undefined;
  const initPending = incompleteInit(v).map((c) => c.name);
  const initMsg = initPending.length ? `containers with incomplete status: [${initPending.join(" ")}]` : undefined;
  const status: PodStatus = {
    phase,
    conditions: [
      cond("PodReadyToStartContainers", v.podIPs.length > 0 || !!pod.spec.hostNetwork, now, prev),
      cond("Initialized", initPending.length === 0, now, prev, "ContainersNotInitialized", initMsg),
      cond("Ready", containersReady && phase === "Running", now, prev, "ContainersNotReady", msg),
      cond("ContainersReady", containersReady, now, prev, "ContainersNotReady", msg),
      cond("PodScheduled", true, now, prev),
    ],
    hostIP: v.hostIP,
    hostIPs: v.hostIP ? [{ ip: v.hostIP }] : [],
    startTime: v.startTime,
    containerStatuses: v.containers.map(containerStatus),
    ...(v.initContainers ? { initContainerStatuses: v.initContainers.map(containerStatus) } : {}),
    qosClass: "BestEffort",
  };
  if (v.podIPs.length) {
    status.podIP = v.podIPs[0];
    status.podIPs = v.podIPs.map((ip) => ({ ip }));
  }
  if (v.sandboxError) {
    status.reason = v.sandboxError.reason;
    status.message = v.sandboxError.message;
  }
  return status;
}
