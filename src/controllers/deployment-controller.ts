/** The Deployment controller: drives ReplicaSets toward the Deployment's template (rolling update or recreate). */
import type { Deployment, ReplicaSet } from "../api/index.js";
import { canonicalJson, isAlreadyExists, isNotFound } from "../client/index.js";
import type { ControllerContext, RunningController } from "./context.js";
import { equalTemplates, planDeployment } from "./deployment.js";
import { controllerOf, nsKey, splitKey } from "./pods.js";
import { type ReconcileResult, runReconcileLoop } from "./runner.js";

export function startDeploymentController(ctx: ControllerContext): RunningController {
  const deployments = ctx.source.informer<Deployment>("Deployment");
  const replicaSets = ctx.source.informer<ReplicaSet>("ReplicaSet");

  const reconcile = async (key: string): Promise<ReconcileResult> => {
    const { namespace, name } = splitKey(key);
    const d = deployments.get(namespace, name);
    if (!d) return undefined;
    const plan = planDeployment(d, replicaSets.list(namespace), ctx.now());
    let retry = false;
    let collision = false;
    if (plan.create) {
      const r = await ctx.client.create(plan.create);
      if (r.ok)
        ctx.events.record(
          d,
          "Normal",
          "ScalingReplicaSet",
          `Scaled up replica set ${r.value.metadata.name} from 0 to ${r.value.spec.replicas ?? 0}`,
        );
      if (!r.ok) {
        retry = true;
        if (isAlreadyExists(r.error)) {
          const existing = await ctx.client.get("ReplicaSet", namespace, plan.create.metadata.name ?? "");
          // Same name, other template or other owner: a hash collision; a new collisionCount gives a new name.
          if (
            existing.ok &&
            (controllerOf(existing.value)?.uid !== d.metadata.uid ||
              !equalTemplates(existing.value.spec.template, d.spec.template))
          )
            collision = true;
        } else ctx.log.warn({ controller: "deployment", key, err: r.error.message }, "creating replicaset failed");
      }
    }
    for (const rs of plan.update) {
      const r = await ctx.client.update(rs);
      const before = replicaSets.get(namespace, rs.metadata.name ?? "")?.spec.replicas ?? 0;
      const after = rs.spec.replicas ?? 0;
      if (r.ok && before !== after)
        ctx.events.record(
          d,
          "Normal",
          "ScalingReplicaSet",
          `Scaled ${after > before ? "up" : "down"} replica set ${rs.metadata.name} from ${before} to ${after}`,
        );
      if (!r.ok && !isNotFound(r.error)) retry = true;
    }
    for (const rs of plan.delete) {
      const r = await ctx.client.delete("ReplicaSet", namespace, rs.metadata.name ?? "", {
        propagationPolicy: "Background",
        preconditions: { uid: rs.metadata.uid ?? "" },
      });
      if (!r.ok && !isNotFound(r.error)) retry = true;
    }
    const status = { ...plan.status };
    if (collision) status.collisionCount = (d.status?.collisionCount ?? 0) + 1;
    if (canonicalJson(status) !== canonicalJson(d.status ?? {})) {
      const r = await ctx.client.updateStatus({ ...d, status });
      if (!r.ok && !isNotFound(r.error)) retry = true;
    }
    return retry ? { retry: true } : undefined;
  };

  const loop = runReconcileLoop("deployment", reconcile, { workers: ctx.workers ?? 2, log: ctx.log });
  const enqueue = (d: Deployment) => loop.queue.add(nsKey(d.metadata.namespace, d.metadata.name));
  const enqueueOwner = (rs: ReplicaSet) => {
    const ref = controllerOf(rs);
    if (ref?.kind === "Deployment") loop.queue.add(nsKey(rs.metadata.namespace, ref.name));
  };
  const unsubs = [
    deployments.addHandler({ onAdd: enqueue, onUpdate: (_o, d) => enqueue(d), onDelete: enqueue }),
    replicaSets.addHandler({
      onAdd: enqueueOwner,
      onUpdate: (old, rs) => {
        enqueueOwner(rs);
        if (controllerOf(old)?.uid !== controllerOf(rs)?.uid) enqueueOwner(old);
      },
      onDelete: enqueueOwner,
    }),
  ];
  const resync = setInterval(() => deployments.list().forEach(enqueue), ctx.resyncMs ?? 30_000);
  return {
    name: "deployment",
    stop: async () => {
      clearInterval(resync);
      for (const u of unsubs) u();
      await loop.stop();
    },
  };
}
