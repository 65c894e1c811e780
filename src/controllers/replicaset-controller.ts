/** The ReplicaSet and ReplicationController controllers: keep `spec.replicas` pods of the template running. */
import type { Pod, ReplicaSet, ReplicationController } from "../api/index.js";
import { isAlreadyExists, isNotFound } from "../client/index.js";
import type { ControllerContext, RunningController } from "./context.js";
import { Expectations } from "./expectations.js";
import { controllerOf, nsKey, podCondition, splitKey } from "./pods.js";
import { planReplicas, podFromTemplate, replicaOwnerOf, sameReplicaStatus } from "./replicas.js";
import { type ReconcileResult, runReconcileLoop } from "./runner.js";

type Owner = ReplicaSet | ReplicationController;

/** Milliseconds until the first owned Ready pod passes minReadySeconds, if any is waiting. */
function nextAvailableInMs(
  minReadySeconds: number,
  pods: readonly Pod[],
  uid: string | undefined,
  now: Date,
): number | undefined {
  if (minReadySeconds <= 0) return undefined;
  let next: number | undefined;
  for (const p of pods) {
    if (controllerOf(p)?.uid !== uid) continue;
    const c = podCondition(p, "Ready");
    if (c?.status !== "True" || !c.lastTransitionTime) continue;
    const at = Date.parse(c.lastTransitionTime) + minReadySeconds * 1000 - now.getTime();
    if (at > 0 && (next === undefined || at < next)) next = at;
  }
  return next === undefined ? undefined : next + 50;
}

/** Runs several promises at most `n` at a time (pod bursts must not open hundreds of requests at once). */
async function inBatches<T>(items: T[], n: number, f: (t: T) => Promise<void>): Promise<void> {
  for (let i = 0; i < items.length; i += n) await Promise.all(items.slice(i, i + n).map(f));
}

export function startReplicaController(
  ctx: ControllerContext,
  kind: "ReplicaSet" | "ReplicationController",
): RunningController {
  const owners = ctx.source.informer<Owner>(kind);
  const pods = ctx.source.informer<Pod>("Pod");
  const expectations = new Expectations();
  const name = kind === "ReplicaSet" ? "replicaset" : "replicationcontroller";

  const reconcile = async (key: string): Promise<ReconcileResult> => {
    const { namespace, name: objName } = splitKey(key);
    const cached = owners.get(namespace, objName);
    if (!cached) {
      expectations.forget(key);
      return undefined;
    }
    const owner = replicaOwnerOf(cached);
    const plan = planReplicas(owner, pods.list(namespace), ctx.now());
    let retry = false;
    if (expectations.satisfied(key) && !cached.metadata.deletionTimestamp) {
      for (const p of plan.adopt) {
        const r = await ctx.client.patch(
          "Pod",
          namespace,
          p.metadata.name ?? "",
          {
            metadata: {
              ownerReferences: [
                ...(p.metadata.ownerReferences ?? []),
                podFromTemplate(cached, { spec: p.spec }).metadata.ownerReferences![0],
              ],
              resourceVersion: p.metadata.resourceVersion,
            },
          },
          "merge",
        );
        if (!r.ok && !isNotFound(r.error)) retry = true;
      }
      if (plan.create > 0 && owner.template) {
        expectations.expect(key, plan.create, 0);
        const template = owner.template;
        await inBatches(Array.from({ length: plan.create }), 50, async () => {
          const r = await ctx.client.create(podFromTemplate(cached, template));
          if (r.ok) ctx.events.record(cached, "Normal", "SuccessfulCreate", `Created pod: ${r.value.metadata.name}`);
          else if (!isAlreadyExists(r.error))
            ctx.events.record(cached, "Warning", "FailedCreate", `Error creating: ${r.error.message}`);
          if (!r.ok) {
            expectations.lowerAdds(key);
            if (!isAlreadyExists(r.error)) {
              retry = true;
              ctx.log.warn({ controller: name, key, err: r.error.message }, "creating pod failed");
            }
          }
        });
      } else if (plan.delete.length > 0) {
        expectations.expect(key, 0, plan.delete.length);
        await inBatches(plan.delete, 50, async (p) => {
          const r = await ctx.client.delete("Pod", namespace, p.metadata.name ?? "");
          if (r.ok) ctx.events.record(cached, "Normal", "SuccessfulDelete", `Deleted pod: ${p.metadata.name}`);
          if (!r.ok) {
            expectations.lowerDeletes(key);
            if (!isNotFound(r.error)) retry = true;
          }
        });
      }
    }
    if (!sameReplicaStatus(cached.status, plan.status)) {
      const r = await ctx.client.updateStatus({ ...cached, status: { ...cached.status, ...plan.status } } as Owner);
      if (!r.ok && !isNotFound(r.error)) retry = true;
    }
    if (retry) return { retry: true };
    // Pods Ready but not yet for minReadySeconds become available without any event: look again then.
    const wait = nextAvailableInMs(owner.minReadySeconds, pods.list(namespace), cached.metadata.uid, ctx.now());
    return wait === undefined ? undefined : { requeueAfterMs: wait };
  };

  const loop = runReconcileLoop(name, reconcile, { workers: ctx.workers ?? 2, log: ctx.log });
  const enqueueOwnerOf = (p: Pod) => {
    const ref = controllerOf(p);
    if (ref?.kind === kind) {
      const owner = owners.list(p.metadata.namespace).find((o) => o.metadata.uid === ref.uid);
      if (owner) loop.queue.add(nsKey(owner.metadata.namespace, owner.metadata.name));
      return nsKey(p.metadata.namespace, ref.name);
    }
    if (!ref) {
      // An orphan: any owner whose selector matches may adopt it.
      for (const o of owners.list(p.metadata.namespace))
        if (replicaOwnerOf(o).selector.matches(p.metadata.labels))
          loop.queue.add(nsKey(o.metadata.namespace, o.metadata.name));
    }
    return undefined;
  };
  const unsubs = [
    owners.addHandler({
      onAdd: (o) => loop.queue.add(nsKey(o.metadata.namespace, o.metadata.name)),
      onUpdate: (_old, o) => loop.queue.add(nsKey(o.metadata.namespace, o.metadata.name)),
      onDelete: (o) => loop.queue.add(nsKey(o.metadata.namespace, o.metadata.name)),
    }),
    pods.addHandler({
      onAdd: (p) => {
        const k = enqueueOwnerOf(p);
        if (k) expectations.observeAdd(k);
      },
      onUpdate: (old, p) => {
        const k = enqueueOwnerOf(p);
        // A graceful delete shows first as a deletionTimestamp; that is when the deletion counts as seen.
        if (k && p.metadata.deletionTimestamp && !old.metadata.deletionTimestamp) expectations.observeDelete(k);
        if (controllerOf(old)?.uid !== controllerOf(p)?.uid) enqueueOwnerOf(old);
      },
      onDelete: (p) => {
        const k = enqueueOwnerOf(p);
        if (k) expectations.observeDelete(k);
      },
    }),
  ];
  const resync = setInterval(() => {
    for (const o of owners.list()) loop.queue.add(nsKey(o.metadata.namespace, o.metadata.name));
  }, ctx.resyncMs ?? 30_000);
  return {
    name,
    stop: async () => {
      clearInterval(resync);
      for (const u of unsubs) u();
      await loop.stop();
    },
  };
}
