/**
 * In-memory indexes the EndpointSlice and Endpoints controllers read instead of scanning informer caches, so one
 * event costs O(matching objects), not O(services × pods): pods by namespace and by label pair, selector Services
 * by one of their selector pairs (a pod can only match a Service if it carries that pair), the managed
 * EndpointSlices of each Service, and nodes by name. Fed by informer handlers, which run before the controllers'
 * own handlers (registered first), so a reconcile always sees the index as new as the event that queued it.
 */
import type { EndpointSlice, Node, Pod, Service } from "../api/index.js";
import { LabelServiceName } from "../api/index.js";
import { selectorFromMap } from "../api/selectors.js";
import type { Informer, InformerSource } from "../client/index.js";
import { managesEndpoints } from "./endpoints.js";
import { nsKey } from "./pods.js";

const pairKey = (ns: string, k: string, v: string) => `${ns}\u0000${k}=${v}`;
const allKey = (ns: string) => `${ns}\u0000*`;

function addTo<V>(m: Map<string, Map<string, V>>, bucket: string, key: string, v: V): void {
  let b = m.get(bucket);
  if (!b) m.set(bucket, (b = new Map()));
  b.set(key, v);
}

function removeFrom<V>(m: Map<string, Map<string, V>>, bucket: string, key: string): void {
  const b = m.get(bucket);
  if (!b) return;
  b.delete(key);
  if (b.size === 0) m.delete(bucket);
}

/** Pods by namespace and by `label=value`. */
export class PodIndex {
  private byLabel = new Map<string, Map<string, Pod>>();
  private byNs = new Map<string, Map<string, Pod>>();

  upsert(old: Pod | undefined, pod: Pod): void {
    if (old) this.remove(old);
    const key = nsKey(pod.metadata.namespace, pod.metadata.name);
    const ns = pod.metadata.namespace ?? "";
    addTo(this.byNs, ns, key, pod);
    for (const [k, v] of Object.entries(pod.metadata.labels ?? {})) addTo(this.byLabel, pairKey(ns, k, v), key, pod);
  }

  remove(pod: Pod): void {
    const key = nsKey(pod.metadata.namespace, pod.metadata.name);
    const ns = pod.metadata.namespace ?? "";
    removeFrom(this.byNs, ns, key);
    for (const [k, v] of Object.entries(pod.metadata.labels ?? {})) removeFrom(this.byLabel, pairKey(ns, k, v), key);
  }

  /** Pods of `ns` whose labels match every pair of `selector` (an empty selector: every pod of `ns`). */
  select(ns: string, selector: Record<string, string>): Pod[] {
    const pairs = Object.entries(selector);
    if (pairs.length === 0) return [...(this.byNs.get(ns)?.values() ?? [])];
    let smallest: Map<string, Pod> | undefined;
    for (const [k, v] of pairs) {
      const b = this.byLabel.get(pairKey(ns, k, v));
      if (!b) return [];
      if (!smallest || b.size < smallest.size) smallest = b;
    }
    const out: Pod[] = [];
    for (const p of smallest?.values() ?? []) {
      const l = p.metadata.labels ?? {};
      if (pairs.every(([k, v]) => l[k] === v)) out.push(p);
    }
    return out;
  }
}

/** Selector Services, each under its first selector pair (or under "all" with an empty selector). */
export class ServiceSelectorIndex {
  private buckets = new Map<string, Map<string, Service>>();
  private placed = new Map<string, string>();

  upsert(svc: Service): void {
    this.remove(svc);
    if (!managesEndpoints(svc)) return;
    const key = nsKey(svc.metadata.namespace, svc.metadata.name);
    const ns = svc.metadata.namespace ?? "";
    const first = Object.entries(svc.spec.selector ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))[0];
    const bucket = first ? pairKey(ns, first[0], first[1]) : allKey(ns);
    addTo(this.buckets, bucket, key, svc);
    this.placed.set(key, bucket);
  }

  remove(svc: Service): void {
    const key = nsKey(svc.metadata.namespace, svc.metadata.name);
    const bucket = this.placed.get(key);
    if (bucket === undefined) return;
    removeFrom(this.buckets, bucket, key);
    this.placed.delete(key);
  }

  /** The selector Services whose selector matches the pod's labels. */
  servicesFor(pod: Pod): Service[] {
    const ns = pod.metadata.namespace ?? "";
    const labels = pod.metadata.labels ?? {};
    const out: Service[] = [...(this.buckets.get(allKey(ns))?.values() ?? [])];
    for (const [k, v] of Object.entries(labels))
      for (const s of this.buckets.get(pairKey(ns, k, v))?.values() ?? [])
        if (selectorFromMap(s.spec.selector).matches(labels)) out.push(s);
    return out;
  }
}

/** The indexes of one informer source, shared by both endpoint controllers. */
export interface EndpointIndexes {
  pods: PodIndex;
  services: ServiceSelectorIndex;
  nodes: Map<string, Node>;
  /** Managed EndpointSlices by `namespace/service` → name → slice (only when `watchSlices` was called). */
  slicesOf(namespace: string | undefined, service: string): EndpointSlice[];
  watchSlices(slices: Informer<EndpointSlice>): void;
  stop(): void;
}

const shared = new WeakMap<InformerSource, { idx: EndpointIndexes; users: number }>();

/** The indexes for `source` (made on first use, stopped when the last user releases them). */
export function endpointIndexes(
  source: InformerSource,
  informers: { pods: Informer<Pod>; services: Informer<Service>; nodes: Informer<Node> },
): { idx: EndpointIndexes; release(): void } {
  let entry = shared.get(source);
  if (!entry) {
    const pods = new PodIndex();
    const services = new ServiceSelectorIndex();
    const nodes = new Map<string, Node>();
    const slices = new Map<string, Map<string, EndpointSlice>>();
    const sliceOwner = (s: EndpointSlice) => nsKey(s.metadata.namespace, s.metadata.labels?.[LabelServiceName] ?? "");
    const unsubs: (() => void)[] = [
      informers.pods.addHandler({
        onAdd: (p) => pods.upsert(undefined, p),
        onUpdate: (o, p) => pods.upsert(o, p),
        onDelete: (p) => pods.remove(p),
      }),
      informers.services.addHandler({
        onAdd: (s) => services.upsert(s),
        onUpdate: (_o, s) => services.upsert(s),
        onDelete: (s) => services.remove(s),
      }),
      informers.nodes.addHandler({
        onAdd: (n) => nodes.set(n.metadata.name ?? "", n),
        onUpdate: (_o, n) => nodes.set(n.metadata.name ?? "", n),
        onDelete: (n) => nodes.delete(n.metadata.name ?? ""),
      }),
    ];
    let slicesWatched = false;
    const idx: EndpointIndexes = {
      pods,
      services,
      nodes,
      slicesOf: (namespace, service) => [...(slices.get(nsKey(namespace, service))?.values() ?? [])],
      watchSlices: (inf) => {
        if (slicesWatched) return;
        slicesWatched = true;
        unsubs.push(
          inf.addHandler({
            onAdd: (s) => addTo(slices, sliceOwner(s), s.metadata.name ?? "", s),
            onUpdate: (o, s) => {
              removeFrom(slices, sliceOwner(o), o.metadata.name ?? "");
              addTo(slices, sliceOwner(s), s.metadata.name ?? "", s);
            },
            onDelete: (s) => removeFrom(slices, sliceOwner(s), s.metadata.name ?? ""),
          }),
        );
      },
      stop: () => {
        for (const u of unsubs) u();
      },
    };
    entry = { idx, users: 0 };
    shared.set(source, entry);
  }
  const e = entry;
  e.users++;
  let released = false;
  return {
    idx: e.idx,
    release: () => {
      if (released) return;
      released = true;
      if (--e.users === 0) {
        e.idx.stop();
        shared.delete(source);
      }
    },
  };
}
