/**
 * podwire's scheduler: watches pods without a node and nodes, picks a node for each pod with the pure
 * filters/scores (filters.ts, scores.ts, schedule.ts), and binds through `pods/binding`. A pod that fits
 * nowhere gets `PodScheduled=False` (reason Unschedulable, kube-scheduler's message) and is retried with
 * back-off, and at once when a node changes. Pods just bound are "assumed" on their node until the informer
 * shows the binding, so a burst of pods does not overcommit a node.
 *
 * Example (inside `podwire server`): `const s = startScheduler({ client }); …; await s.stop();`
 */
import type { Node, Pod } from "../api/index.js";
import {
  ApiSource,
  type ClientLogger,
  connect,
  eventRecorder,
  isConflict,
  isNotFound,
  type KubeClient,
  silentLogger,
} from "../client/index.js";
import { runReconcileLoop } from "../controllers/runner.js";
import { WorkQueue } from "../controllers/workqueue.js";
import type { NodeInfo } from "./filters.js";
import { requestedOn } from "./resources.js";
import { schedulePod } from "./schedule.js";

export { defaultFilters, firstFailure, type NodeInfo, tolerates } from "./filters.js";
export { defaultScores } from "./scores.js";
export { schedulePod, unschedulableMessage } from "./schedule.js";

export interface SchedulerOptions {
  client?: KubeClient;
  kubeconfig?: string;
  /** Pods whose spec.schedulerName is this (or unset) are ours (default "default-scheduler"). */
  schedulerName?: string;
  log?: ClientLogger;
  random?: () => number;
  /** Back-off bounds for unschedulable pods, ms (default 1 s … 60 s). */
  backoffInitialMs?: number;
  backoffMaxMs?: number;
}

export interface Scheduler {
  readonly synced: Promise<void>;
  /** Counters: binds done, unschedulable verdicts. */
  readonly stats: { bound: number; unschedulable: number };
  stop(): Promise<void>;
}

const podKey = (p: Pod) => `${p.metadata.namespace ?? ""}/${p.metadata.name ?? ""}`;
const holdsResources = (p: Pod) => !!p.spec.nodeName && p.status?.phase !== "Succeeded" && p.status?.phase !== "Failed";

export function startScheduler(opts: SchedulerOptions = {}): Scheduler {
  const ownClient = !opts.client;
  const client = opts.client ?? connect({ kubeconfig: opts.kubeconfig, userAgent: "podwire-scheduler" });
  const log = opts.log ?? silentLogger;
  const name = opts.schedulerName ?? "default-scheduler";
  const source = new ApiSource(client, { log });
  const pods = source.informer<Pod>("Pod");
  const nodes = source.informer<Node>("Node");
  const stats = { bound: 0, unschedulable: 0 };
  const events = eventRecorder(client, name, { log });

  // node name → pods on it (bound per the informer, or assumed by us)
  const byNode = new Map<string, Map<string, Pod>>();
  const placedOn = new Map<string, string>();
  const assumed = new Map<string, number>(); // pod key → time assumed
  const unschedulable = new Set<string>();
  const place = (key: string, node: string | undefined, pod: Pod) => {
    const prev = placedOn.get(key);
    if (prev && prev !== node) byNode.get(prev)?.delete(key);
    if (!node) {
      placedOn.delete(key);
      return;
    }
    let m = byNode.get(node);
    if (!m) byNode.set(node, (m = new Map()));
    m.set(key, pod);
    placedOn.set(key, node);
  };

  const ours = (p: Pod) =>
    !p.spec.nodeName &&
    !p.metadata.deletionTimestamp &&
    p.status?.phase !== "Succeeded" &&
    p.status?.phase !== "Failed" &&
    (p.spec.schedulerName ?? "default-scheduler") === name;

  const reconcile = async (key: string) => {
    const i = key.indexOf("/");
    const pod = pods.get(key.slice(0, i), key.slice(i + 1));
    if (!pod || !ours(pod) || assumed.has(key)) {
      unschedulable.delete(key);
      return undefined;
    }
    const infos: NodeInfo[] = nodes.list().map((n) => {
      const onNode = [...(byNode.get(n.metadata.name ?? "")?.values() ?? [])];
      return { node: n, pods: onNode, requested: requestedOn(onNode) };
    });
    const r = schedulePod(pod, infos, { random: opts.random });
    if ("node" in r) {
      assumed.set(key, Date.now());
      place(key, r.node, { ...pod, spec: { ...pod.spec, nodeName: r.node } });
      const b = await client.createSubresource("Pod", pod.metadata.namespace, pod.metadata.name ?? "", "binding", {
        apiVersion: "v1",
        kind: "Binding",
        metadata: { name: pod.metadata.name, namespace: pod.metadata.namespace },
        target: { apiVersion: "v1", kind: "Node", name: r.node },
      });
      if (!b.ok) {
        assumed.delete(key);
        place(key, undefined, pod);
        if (isNotFound(b.error) || isConflict(b.error)) return undefined; // gone, or bound by someone else
        log.warn({ pod: key, node: r.node, err: b.error.message }, "binding failed");
        return { retry: true };
      }
      stats.bound++;
      events.record(pod, "Normal", "Scheduled", `Successfully assigned ${key} to ${r.node}`);
      unschedulable.delete(key);
      log.debug?.({ pod: key, node: r.node }, "bound");
      return undefined;
    }
    stats.unschedulable++;
    unschedulable.add(key);
    const cond = pod.status?.conditions?.find((c) => c.type === "PodScheduled");
    if (cond?.status !== "False" || cond.reason !== "Unschedulable" || cond.message !== r.unschedulable) {
      events.record(pod, "Warning", "FailedScheduling", r.unschedulable);
      const conditions = [
        ...(pod.status?.conditions ?? []).filter((c) => c.type !== "PodScheduled"),
        {
          type: "PodScheduled",
          status: "False" as const,
          reason: "Unschedulable",
          message: r.unschedulable,
          lastTransitionTime: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
          lastProbeTime: null,
        },
      ];
      const u = await client.updateStatus({
        ...pod,
        status: { ...pod.status, phase: pod.status?.phase ?? "Pending", conditions },
      });
      if (!u.ok && !isNotFound(u.error) && !isConflict(u.error))
        log.warn({ pod: key, err: u.error.message }, "recording unschedulable failed");
    }
    return { retry: true }; // back off, try again later (or sooner when a node changes)
  };

  const queue = new WorkQueue(opts.backoffInitialMs ?? 1000, opts.backoffMaxMs ?? 60_000);
  const loop = runReconcileLoop("scheduler", reconcile, { workers: 1, log, queue });
  const requeueUnschedulable = () => {
    for (const k of unschedulable) queue.add(k);
  };
  const unsubs = [
    pods.addHandler({
      onAdd: (p) => {
        const k = podKey(p);
        if (holdsResources(p)) place(k, p.spec.nodeName, p);
        if (ours(p)) queue.add(k);
      },
      onUpdate: (_old, p) => {
        const k = podKey(p);
        if (p.spec.nodeName) assumed.delete(k);
        if (holdsResources(p)) place(k, p.spec.nodeName, p);
        else if (!assumed.has(k)) place(k, undefined, p);
        if (ours(p)) queue.add(k);
        else if (_old.spec.nodeName === undefined && p.spec.nodeName) unschedulable.delete(k);
      },
      onDelete: (p) => {
        const k = podKey(p);
        assumed.delete(k);
        unschedulable.delete(k);
        place(k, undefined, p);
        // Freed resources may let a waiting pod fit.
        requeueUnschedulable();
      },
    }),
    nodes.addHandler({ onAdd: requeueUnschedulable, onUpdate: requeueUnschedulable }),
  ];
  // An assumption the informer never confirms (a lost event) expires, so the node's resources are not leaked.
  const sweep = setInterval(() => {
    const now = Date.now();
    for (const [k, t] of assumed)
      if (now - t > 30_000) {
        assumed.delete(k);
        const i = k.indexOf("/");
        const p = pods.get(k.slice(0, i), k.slice(i + 1));
        if (!p?.spec.nodeName) place(k, undefined, p ?? ({ metadata: {}, spec: { containers: [] } } as unknown as Pod));
      }
  }, 5000);
  return {
    stats,
    synced: Promise.all([pods.synced, nodes.synced]).then(() => undefined),
    stop: async () => {
      clearInterval(sweep);
      for (const u of unsubs) u();
      await loop.stop();
      source.stop();
      if (ownClient) client.close();
    },
  };
}
