/** The EndpointSlice and Endpoints controllers: keep each selector Service's endpoints in step with its pods. */
import type { EndpointSlice, Endpoints, Node, Pod, Service } from "../api/index.js";
import { LabelManagedBy, LabelServiceName } from "../api/index.js";
import { selectorFromMap } from "../api/selectors.js";
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
import { nsKey, splitKey } from "./pods.js";
import { type ReconcileLoop, type ReconcileResult, runReconcileLoop } from "./runner.js";

/** Enqueues a Service whenever it, or a pod it selects (before or after a label change), changes. */
function wireServiceEvents(services: Informer<Service>, pods: Informer<Pod>, loop: ReconcileLoop): (() => void)[] {
  const enqueueSvc = (s: Service) => loop.queue.add(nsKey(s.metadata.namespace, s.metadata.name));
  const enqueueFor = (p: Pod) => {
    for (const s of services.list(p.metadata.namespace))
      if (managesEndpoints(s) && selectorFromMap(s.spec.selector).matches(p.metadata.labels)) enqueueSvc(s);
  };
  return [
    services.addHandler({ onAdd: enqueueSvc, onUpdate: (_o, s) => enqueueSvc(s), onDelete: enqueueSvc }),
    pods.addHandler({
      onAdd: enqueueFor,
      onUpdate: (old, p) => {
        enqueueFor(p);
        enqueueFor(old);
      },
      onDelete: enqueueFor,
    }),
  ];
}

export function startEndpointSliceController(ctx: ControllerContext): RunningController {
  const services = ctx.source.informer<Service>("Service");
  const pods = ctx.source.informer<Pod>("Pod");
  const nodes = ctx.source.informer<Node>("Node");
  const slices = ctx.source.informer<EndpointSlice>("EndpointSlice", {
    labelSelector: `${LabelManagedBy}=${ManagedByController}`,
  });

  const reconcile = async (key: string): Promise<ReconcileResult> => {
    const { namespace, name } = splitKey(key);
    const svc = services.get(namespace, name);
    const existing = slices.list(namespace).filter((s) => isManagedSlice(s, name));
    let desired: EndpointSlice[] = [];
    if (svc) {
      if (!managesEndpoints(svc)) return undefined; // user-managed (or ExternalName): not ours to touch
      const nodeMap = new Map(nodes.list().map((n) => [n.metadata.name ?? "", n]));
      desired = desiredEndpointSlices(svc, pods.list(namespace), nodeMap);
    }
    const ch = reconcileSlices(desired, existing);
    let retry = false;
    for (const s of ch.delete) {
      const r = await ctx.client.delete("EndpointSlice", namespace, s.metadata.name ?? "");
      if (!r.ok && !isNotFound(r.error)) retry = true;
    }
    for (const s of ch.create) {
      const r = await ctx.client.create(s);
      if (!r.ok) {
        retry = true; // AlreadyExists: our cache is behind; the next pass updates it
        if (!isAlreadyExists(r.error))
          ctx.log.warn({ controller: "endpointslice", key, err: r.error.message }, "creating endpointslice failed");
      }
    }
    for (const s of ch.update) {
      const r = await ctx.client.update(s);
      if (!r.ok) retry = true;
    }
    return retry ? { retry: true } : undefined;
  };

  const loop = runReconcileLoop("endpointslice", reconcile, { workers: ctx.workers ?? 2, log: ctx.log });
  const unsubs = wireServiceEvents(services, pods, loop);
  const enqueueSliceOwner = (s: EndpointSlice) => {
    const svc = s.metadata.labels?.[LabelServiceName];
    if (svc) loop.queue.add(nsKey(s.metadata.namespace, svc));
  };
  unsubs.push(
    slices.addHandler({
      onAdd: enqueueSliceOwner,
      onUpdate: (_o, s) => enqueueSliceOwner(s),
      onDelete: enqueueSliceOwner,
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
    },
  };
}

export function startEndpointsController(ctx: ControllerContext): RunningController {
  const services = ctx.source.informer<Service>("Service");
  const pods = ctx.source.informer<Pod>("Pod");
  const endpoints = ctx.source.informer<Endpoints>("Endpoints");

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
    const want = desiredEndpoints(svc, pods.list(namespace));
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

  const loop = runReconcileLoop("endpoints", reconcile, { workers: ctx.workers ?? 2, log: ctx.log });
  const unsubs = wireServiceEvents(services, pods, loop);
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
    },
  };
}
