/**
 * The informer interface and its local cache: objects keyed by namespace/name, handlers notified of
 * add/update/delete in event order. ApiInformer (list+watch) and the file source both build on InformerCache.
 */
import type { KubeObject } from "../api/index.js";
import { keyOf, objectKey } from "./resources.js";

export interface InformerHandler<T> {
  onAdd?(obj: T): void;
  onUpdate?(oldObj: T, newObj: T): void;
  onDelete?(obj: T): void;
}

export type ChangeEvent<T> = { type: "add"; obj: T } | { type: "update"; obj: T; old: T } | { type: "delete"; obj: T };

export interface Informer<T extends KubeObject> {
  readonly kind: string;
  /** Resolves once the cache holds a complete first list (it never rejects; use waitForSync for a deadline). */
  readonly synced: Promise<void>;
  hasSynced(): boolean;
  /** Cached objects, optionally of one namespace. Treat them as read-only: they are the cache's own. */
  list(namespace?: string): T[];
  get(namespace: string | undefined, name: string): T | undefined;
  getByKey(key: string): T | undefined;
  /** Registers handlers; objects already cached are replayed as onAdd (as client-go does). Returns an unsubscribe. */
  addHandler(h: InformerHandler<T>): () => void;
  /** One callback for all three kinds of change (same replay rule as addHandler). */
  onChange(cb: (ev: ChangeEvent<T>) => void): () => void;
  stop(): void;
}

/**
 * Applied to every object before the informer stores it and hands it to handlers (client-go's SetTransform).
 * Consumers use it to keep only the fields they read, so the cache does not hold whole objects (managedFields,
 * annotations, pod specs…). It must be pure, must keep `metadata.name` and `metadata.namespace` (the cache key),
 * and must not change its input. If it drops `metadata.resourceVersion`, changes are detected by comparing the
 * transformed objects, so updates of fields the consumer does not keep raise no events.
 */
export type TransformFunc = (obj: KubeObject) => KubeObject;

export interface InformerOptions {
  namespace?: string | undefined;
  labelSelector?: string | undefined;
  fieldSelector?: string | undefined;
  /** Default: identity (whole objects). Informers with different transforms (by identity) are not shared. */
  transform?: TransformFunc | undefined;
}

/** A set of informers over one source (an apiserver or objects files), shared per kind+options. */
export interface InformerSource {
  informer<T extends KubeObject = KubeObject>(kind: string, opts?: InformerOptions): Informer<T>;
  stop(): void;
}

const transformIds = new WeakMap<TransformFunc, number>();
let nextTransformId = 1;

/**
 * The key under which a source shares one informer: kind, selectors and the transform's identity (callers that
 * pass the same function share a cache; a different function gets a cache of its own).
 */
export function informerKey(kind: string, opts: InformerOptions = {}): string {
  let tid = 0;
  if (opts.transform) {
    tid = transformIds.get(opts.transform) ?? 0;
    if (tid === 0) {
      tid = nextTransformId++;
      transformIds.set(opts.transform, tid);
    }
  }
  return JSON.stringify([kind, opts.namespace ?? "", opts.labelSelector ?? "", opts.fieldSelector ?? "", tid]);
}

/** Minimal logger (pino-compatible). */
export interface ClientLogger {
  warn(obj: object, msg?: string): void;
  info?(obj: object, msg?: string): void;
  debug?(obj: object, msg?: string): void;
}
export const silentLogger: ClientLogger = { warn() {} };

/** Key-order-independent JSON for equality checks of objects without resourceVersions (objects files). */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(",")}]`;
  if (v && typeof v === "object") {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o)
      .filter((k) => o[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`)
      .join(",")}}`;
  }
  return JSON.stringify(v) ?? "null";
}

/** Whether an object changed: by resourceVersion when both have one, else by content. */
export function sameObject(a: KubeObject, b: KubeObject): boolean {
  const ra = a.metadata.resourceVersion;
  const rb = b.metadata.resourceVersion;
  if (ra && rb) return ra === rb;
  return canonicalJson(a) === canonicalJson(b);
}

/**
 * Pure diff of a cache against a complete new list: the events that turn `old` into `next`
 * (deletes first, then adds and updates in list order; unchanged objects produce nothing).
 */
export function diffObjects<T extends KubeObject>(old: ReadonlyMap<string, T>, next: readonly T[]): ChangeEvent<T>[] {
  const events: ChangeEvent<T>[] = [];
  const nextKeys = new Map<string, T>();
  for (const o of next) nextKeys.set(objectKey(o), o);
  for (const [k, o] of old) if (!nextKeys.has(k)) events.push({ type: "delete", obj: o });
  for (const [k, o] of nextKeys) {
    const prev = old.get(k);
    if (!prev) events.push({ type: "add", obj: o });
    else if (!sameObject(prev, o)) events.push({ type: "update", obj: o, old: prev });
  }
  return events;
}

export class InformerCache<T extends KubeObject> implements Informer<T> {
  protected readonly items = new Map<string, T>();
  private readonly handlers = new Set<InformerHandler<T>>();
  private isSynced = false;
  private resolveSynced!: () => void;
  readonly synced: Promise<void>;

  constructor(
    readonly kind: string,
    protected readonly log: ClientLogger = silentLogger,
    private readonly transform?: TransformFunc | undefined,
  ) {
    this.synced = new Promise((r) => {
      this.resolveSynced = r;
    });
  }

  /** The object as this informer stores it: transformed; a transform that throws is logged and skipped. */
  protected transformed(obj: T): T {
    if (!this.transform) return obj;
    try {
      return this.transform(obj) as T;
    } catch (e) {
      this.log.warn({ err: e, kind: this.kind, key: objectKey(obj) }, "informer transform threw; keeping the object");
      return obj;
    }
  }

  hasSynced(): boolean {
    return this.isSynced;
  }

  protected markSynced(): void {
    if (this.isSynced) return;
    this.isSynced = true;
    this.resolveSynced();
  }

  list(namespace?: string): T[] {
    const all = [...this.items.values()];
    return namespace === undefined ? all : all.filter((o) => o.metadata.namespace === namespace);
  }

  get(namespace: string | undefined, name: string): T | undefined {
    return this.items.get(keyOf(namespace, name));
  }

  getByKey(key: string): T | undefined {
    return this.items.get(key);
  }

  addHandler(h: InformerHandler<T>): () => void {
    this.handlers.add(h);
    for (const o of this.items.values()) this.call(() => h.onAdd?.(o));
    return () => this.handlers.delete(h);
  }

  onChange(cb: (ev: ChangeEvent<T>) => void): () => void {
    return this.addHandler({
      onAdd: (obj) => cb({ type: "add", obj }),
      onUpdate: (old, obj) => cb({ type: "update", obj, old }),
      onDelete: (obj) => cb({ type: "delete", obj }),
    });
  }

  stop(): void {
    this.handlers.clear();
  }

  private call(f: () => void): void {
    try {
      f();
    } catch (e) {
      this.log.warn({ err: e, kind: this.kind }, "informer handler threw");
    }
  }

  protected emit(ev: ChangeEvent<T>): void {
    for (const h of [...this.handlers]) {
      if (ev.type === "add") this.call(() => h.onAdd?.(ev.obj));
      else if (ev.type === "update") this.call(() => h.onUpdate?.(ev.old, ev.obj));
      else this.call(() => h.onDelete?.(ev.obj));
    }
  }

  /** Replaces the whole cache with a fresh list, emitting only the differences. */
  protected replace(next: readonly T[]): void {
    const events = diffObjects(this.items, this.transform ? next.map((o) => this.transformed(o)) : next);
    for (const ev of events) {
      const k = objectKey(ev.obj);
      if (ev.type === "delete") this.items.delete(k);
      else this.items.set(k, ev.obj);
    }
    for (const ev of events) this.emit(ev);
  }

  protected upsert(raw: T): void {
    const obj = this.transformed(raw);
    const k = objectKey(obj);
    const prev = this.items.get(k);
    this.items.set(k, obj);
    if (!prev) this.emit({ type: "add", obj });
    else if (!sameObject(prev, obj)) this.emit({ type: "update", obj, old: prev });
  }

  protected remove(raw: T): void {
    const k = objectKey(raw);
    const prev = this.items.get(k);
    if (!prev) return;
    this.items.delete(k);
    this.emit({ type: "delete", obj: this.transformed(raw) });
  }
}

/** Waits for every informer's first list, rejecting after `timeoutMs`. */
export async function waitForSync(informers: Informer<KubeObject>[], timeoutMs = 60_000): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const pending = informers.filter((i) => !i.hasSynced()).map((i) => i.kind);
      reject(new Error(`informers not synced after ${timeoutMs} ms: ${pending.join(", ")}`));
    }, timeoutMs);
  });
  try {
    await Promise.race([Promise.all(informers.map((i) => i.synced)), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
