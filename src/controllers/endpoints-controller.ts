/** The EndpointSlice and Endpoints controllers: keep each selector Service's endpoints in step with its pods. */
import type { EndpointSlice, Endpoints, Node, Pod, Service } from "../api/index.js";
import { LabelManagedBy, LabelServiceName } from "../api/index.js";
import { type Informer, isAlreadyExists, isNotFound } from "../client/index.js";
import type { ControllerContext, RunningController } from "./context.js";
import {
  desiredEndpointSlices,
  desiredEndpoints,
  isManagedSlice,
  ManagedByController,
  managesEndpoints,
  reconcileSlices,
  sameEndpoints,
} from "./endpoints.js";
import { type EndpointIndexes, endpointIndexes } from "./endpoint-index.js";
import { nsKey, splitKey } from "./pods.js";
import { type ReconcileLoop, type ReconcileResult, runReconcileLoop } from "./runner.js";

/**
 * Enqueues a Service whenever it, or a pod it selects (before or after a label change), changes. The pod → Services
 * step goes through the selector index: O(Services sharing a label with the pod), not O(Services).
 */
function wireServiceEvents(
  services: Informer<Service>,
  pods: Informer<Pod>,
  idx: EndpointIndexes,
  loop: ReconcileLoop,
): (() => void)[] {
  const enqueueSvc = (s: Service) => loop.queue.add(nsKey(s.metadata.namespace, s.metadata.name));
  const enqueueFor = (p: Pod) => {
    for (const s of idx.services.servicesFor(p)) enqueueSvc(s);
  };
  return [
    services.addHandler({ onAdd: enqueueSvc, onUpdate: (_o, s) => enqueueSvc(s), onDelete: enqueueSvc }),
    pods.addHandler({
      onAdd: enqueueFor,
      onUpdate: (old, p) => {
        enqueueFor(p);
        if (!sameLabels(old, p)) enqueueFor(old);
      },
      onDelete: enqueueFor,
    }),
  ];
}

function sameLabels(a: Pod, b: Pod): boolean {
  const x = a.metadata.labels ?? {};
  const y = b.metadata.labels ?? {};
  const kx = Object.keys(x);
  return kx.length === Object.keys(y).length && kx.every((k) => x[k] === y[k]);
}

export function startEndpointSliceController(ctx: ControllerContext): RunningController {
  const services = ctx.source.informer<Service>("Service");
  const pods = ctx.source.informer<Pod>("Pod");
  const nodes = ctx.source.informer<Node>("Node");
  const slices = ctx.source.informer<EndpointSlice>("EndpointSlice", {
    labelSelector: `${LabelManagedBy}=${ManagedByController}`,
  });
  const { idx, release } = endpointIndexes(ctx.source, { pods, services, nodes });
  idx.watchSlices(slices);
  // resourceVersions of this controller's own writes: their watch events need no second look (kube's
  // endpointSliceTracker); any other change to a managed slice (a user's edit, a delete) is reconciled.
  const written = new Map<string, string>();
  const remember = (r: { ok: boolean; value?: EndpointSlice }) => {
    const m = r.ok ? r.value?.metadata : undefined;
    if (m?.resourceVersion) written.set(nsKey(m.namespace, m.name), m.resourceVersion);
  };

  const reconcile = async (key: string): Promise<ReconcileResult> => {
    const { namespace, name } = splitKey(key);
    const svc = services.get(namespace, name);
    const existing = idx.slicesOf(namespace, name).filter((s) => isManagedSlice(s, name));
    let desired: EndpointSlice[] = [];
    if (svc) {
      if (!managesEndpoints(svc)) return undefined; // user-managed (or ExternalName): not ours to touch
      desired = desiredEndpointSlices(svc, idx.pods.select(namespace, svc.spec.selector ?? {}), idx.nodes);
    }
    const ch = reconcileSlices(desired, existing);
    // The writes of one Service go out together (not one round trip after another).
    const results = await Promise.all([
      ...ch.delete.map(async (s) => {
        const r = await ctx.client.delete("EndpointSlice", namespace, s.metadata.name ?? "");
        written.delete(nsKey(namespace, s.metadata.name));
        return r.ok || isNotFound(r.error);
      }),
      ...ch.create.map(async (s) => {
        const r = await ctx.client.create(s);
        remember(r);
        // AlreadyExists: our cache is behind; the next pass updates it
        if (!r.ok && !isAlreadyExists(r.error))
          ctx.log.warn({ controller: "endpointslice", key, err: r.error.message }, "creating endpointslice failed");
        return r.ok;
      }),
      ...ch.update.map(async (s) => {
        const r = await ctx.client.update(s);
        remember(r);
        return r.ok;
      }),
    ]);
    return results.every(Boolean) ? undefined : { retry: true };
  };

  const loop = runReconcileLoop("endpointslice", reconcile, {
    workers: ctx.endpointWorkers ?? ctx.workers ?? 2,
    log: ctx.log,
  });
  const unsubs = wireServiceEvents(services, pods, idx, loop);
  const enqueueSliceOwner = (s: EndpointSlice) => {
    const svc = s.metadata.labels?.[LabelServiceName];
    const k = nsKey(s.metadata.namespace, s.metadata.name);
    if (written.get(k) === s.metadata.resourceVersion) return;
    if (svc) loop.queue.add(nsKey(s.metadata.namespace, svc));
  };
  unsubs.push(
    slices.addHandler({
      onAdd: enqueueSliceOwner,
      onUpdate: (_o, s) => enqueueSliceOwner(s),
      onDelete: (s) => {
        written.delete(nsKey(s.metadata.namespace, s.metadata.name));
        enqueueSliceOwner(s);
      },
    }),
  );
  // A node's zone label feeds endpoints' zone: re-sync services with pods on a node whose labels changed.
  unsubs.push(
    nodes.addHandler({
      onUpdate: (old, n) => {
        if (old.metadata.labels?.["topology.kubernetes.io/zone"] === n.metadata.labels?.["topology.kubernetes.io/zone"])
          return;
        for (const s of services.list()) loop.queue.add(nsKey(s.metadata.namespace, s.metadata.name));
      },
    }),
  );
  const resync = setInterval(() => {
    for (const s of services.list()) loop.queue.add(nsKey(s.metadata.namespace, s.metadata.name));
  }, ctx.resyncMs ?? 30_000);
  return {
    name: "endpointslice",
    stop: async () => {
      clearInterval(resync);
      for (const u of unsubs) u();
      await loop.stop();
      release();
    },
  };
}

export function startEndpointsController(ctx: ControllerContext): RunningController {
  const services = ctx.source.informer<Service>("Service");
  const pods = ctx.source.informer<Pod>("Pod");
  const endpoints = ctx.source.informer<Endpoints>("Endpoints");
  const { idx, release } = endpointIndexes(ctx.source, {
    pods,
    services,
    nodes: ctx.source.informer<Node>("Node"),
  });

  const reconcile = async (key: string): Promise<ReconcileResult> => {
    const { namespace, name } = splitKey(key);
    const svc = services.get(namespace, name);
    const cur = endpoints.get(namespace, name);
    if (!svc) {
      // The Service is gone: its Endpoints go too (they share the name).
      if (cur) {
        const r = await ctx.client.delete("Endpoints", namespace, name);
        if (!r.ok && !isNotFound(r.error)) return { retry: true };
      }
      return undefined;
    }
    const want = desiredEndpoints(svc, idx.pods.select(namespace, svc.spec.selector ?? {}));
    if (!want) return undefined;
    if (!cur) {
      const r = await ctx.client.create(want);
      if (!r.ok) return { retry: true };
      return undefined;
    }
    if (sameEndpoints(cur, want)) return undefined;
    const r = await ctx.client.update({
      ...cur,
      subsets: want.subsets,
      metadata: { ...cur.metadata, labels: want.metadata.labels },
    });
    return r.ok ? undefined : { retry: true };
  };

  const loop = runReconcileLoop("endpoints", reconcile, {
    workers: ctx.endpointWorkers ?? ctx.workers ?? 2,
    log: ctx.log,
  });
  const unsubs = wireServiceEvents(services, pods, idx, loop);
  unsubs.push(
    // Only a deleted Endpoints is a reason to look again (recreate it); an orphan Endpoints without a Service
    // is reached only through its Service's deletion, so user-made Endpoints objects are left alone.
    endpoints.addHandler({
      onDelete: (e) => {
        if (services.get(e.metadata.namespace, e.metadata.name ?? ""))
          loop.queue.add(nsKey(e.metadata.namespace, e.metadata.name));
      },
    }),
  );
  const resync = setInterval(() => {
    for (const s of services.list()) loop.queue.add(nsKey(s.metadata.namespace, s.metadata.name));
  }, ctx.resyncMs ?? 30_000);
  return {
    name: "endpoints",
    stop: async () => {
      clearInterval(resync);
      for (const u of unsubs) u();
      await loop.stop();
      release();
    },
  };
}
