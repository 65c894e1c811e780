/**
 * FakeClient: an in-memory KubeClient with apiserver semantics that controllers, the scheduler and node
 * components test against: resourceVersions from one counter, 409 on stale writes and existing names,
 * generateName, generation bumps on spec changes, status subresources, pods/binding, finalizers, label/field
 * selectors, and watches (history replay from an RV, synthetic ADDED from "0", 410 after `expireWatches()`).
 * Watch events are delivered asynchronously, in write order, as over a network.
 */
import { randomUUID } from "node:crypto";
import type { Binding, KubeList, KubeObject, Status } from "../api/index.js";
import { parseFieldSelector, parseLabelSelector } from "../api/selectors.js";
import { canonicalJson } from "./cache.js";
import { ApiError, fail, makeStatus, ok, type Result } from "./errors.js";
import { objectFields } from "./fields.js";
import { type JsonPatchOp, jsonPatch, mergePatch, strategicMergePatch } from "./patch.js";
import { apiVersionOf, keyOf, type ObjectOf, objectKey, type ResourceType, resourceFor } from "./resources.js";
import type {
  DeleteOptions,
  KubeClient,
  ListOptions,
  PatchType,
  WatchEnd,
  WatchEvent,
  WatchHandle,
  WatchOptions,
  WriteOptions,
} from "./types.js";

/** Kinds whose main endpoint ignores `.status` (it has a status subresource). */
const statusKinds = new Set([
  "Pod",
  "Node",
  "Service",
  "Namespace",
  "Deployment",
  "ReplicaSet",
  "ReplicationController",
]);

interface HistoryEntry {
  rv: number;
  kind: string;
  type: "ADDED" | "MODIFIED" | "DELETED";
  object: KubeObject;
  old: KubeObject | undefined;
}

interface FakeWatcher {
  kind: string;
  opts: WatchOptions;
  onEvent: (ev: WatchEvent<KubeObject>) => void;
  queue: WatchEvent<KubeObject>[];
  scheduled: boolean;
  end: (e: WatchEnd) => void;
  ended: boolean;
}

export interface FakeAction {
  verb: "get" | "list" | "create" | "update" | "updateStatus" | "patch" | "delete" | "createSubresource" | "watch";
  kind: string;
  namespace?: string | undefined;
  name?: string | undefined;
  subresource?: string | undefined;
}

const clone = <T>(o: T): T => structuredClone(o);
const specOf = (o: KubeObject): string => {
  const { metadata: _m, status: _s, ...rest } = o as KubeObject & { status?: unknown };
  return canonicalJson(rest);
};

export class FakeClient implements KubeClient {
  readonly namespace: string;
  private rv = 0;
  private compactedRV = 0;
  private readonly store = new Map<string, Map<string, KubeObject>>();
  private readonly history: HistoryEntry[] = [];
  private readonly watchers = new Set<FakeWatcher>();
  /** Every call, in order (tests assert on what a controller did). */
  readonly actions: FakeAction[] = [];
  /** Return an ApiError to make a call fail (tests of error paths); undefined lets it through. */
  failWith: ((a: FakeAction) => ApiError | undefined) | undefined;
  now: () => Date = () => new Date();

  constructor(opts: { namespace?: string; objects?: KubeObject[] } = {}) {
    this.namespace = opts.namespace ?? "default";
    for (const o of opts.objects ?? []) this.seed(o);
  }

  // ---- test helpers (synchronous) -------------------------------------------------------------

  /** Creates an object synchronously (throws on error). */
  seed<T extends KubeObject>(obj: T): T {
    const r = this.doCreate(obj);
    if (!r.ok) throw r.error;
    return r.value;
  }

  /** The stored object (a copy) or undefined. */
  peek<T extends KubeObject = KubeObject>(kind: string, namespace: string | undefined, name: string): T | undefined {
    const o = this.bucket(kind).get(keyOf(resourceFor(kind).namespaced ? namespace : undefined, name));
    return o ? (clone(o) as T) : undefined;
  }

  /** All stored objects of a kind (copies), sorted by key. */
  all<T extends KubeObject = KubeObject>(kind: string): T[] {
    return [...this.bucket(kind).entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([, o]) => clone(o) as T);
  }

  currentResourceVersion(): string {
    return String(this.rv);
  }

  /** Compacts all history and ends every watch with an ERROR 410, as after apiserver compaction. */
  expireWatches(): void {
    this.compactedRV = this.rv;
    this.history.length = 0;
    const st = makeStatus(410, "Expired", `too old resource version`);
    for (const w of [...this.watchers]) this.endWatch(w, { reason: "error", error: new ApiError(st) });
  }

  /** Ends every watch as a server timeout would (clients re-watch from their last RV). */
  closeWatches(): void {
    for (const w of [...this.watchers]) this.endWatch(w, { reason: "closed" });
  }

  watcherCount(): number {
    return this.watchers.size;
  }

  // ---- KubeClient -------------------------------------------------------------------------------

  async get<K extends string>(
    kind: K,
    namespace: string | undefined,
    name: string,
    opts: { subresource?: string } = {},
  ) {
    const err = this.check({ verb: "get", kind, namespace, name, subresource: opts.subresource });
    if (err) return fail<ObjectOf<K>>(err);
    const rt = resourceFor(kind);
    const o = this.bucket(kind).get(keyOf(rt.namespaced ? namespace : undefined, name));
    if (!o) return fail<ObjectOf<K>>(this.notFound(rt, name));
    if (opts.subresource === "scale") return ok(this.scaleOf(o) as unknown as ObjectOf<K>);
    return ok(clone(o) as ObjectOf<K>);
  }

  async list<K extends string>(kind: K, opts: ListOptions = {}): Promise<Result<KubeList<ObjectOf<K>>>> {
    const err = this.check({ verb: "list", kind, namespace: opts.namespace });
    if (err) return fail(err);
    let match: (o: KubeObject) => boolean;
    try {
      match = this.matcher(kind, opts);
    } catch (e) {
      return fail(new ApiError(makeStatus(400, "BadRequest", (e as Error).message)));
    }
    const rt = resourceFor(kind);
    const items = this.all(kind).filter(match) as ObjectOf<K>[];
    return ok({
      kind: `${kind}List`,
      apiVersion: apiVersionOf(rt),
      metadata: { resourceVersion: String(this.rv) },
      items,
    });
  }

  listAll<K extends string>(kind: K, opts: ListOptions = {}) {
    return this.list(kind, opts);
  }

  async create<T extends KubeObject>(obj: T, opts: WriteOptions = {}): Promise<Result<T>> {
    const err = this.check({ verb: "create", kind: obj.kind ?? "", namespace: obj.metadata.namespace });
    if (err) return fail(err);
    return this.doCreate(obj, opts.dryRun);
  }

  async update<T extends KubeObject>(obj: T, opts: WriteOptions = {}): Promise<Result<T>> {
    const a: FakeAction = {
      verb: "update",
      kind: obj.kind ?? "",
      namespace: obj.metadata.namespace,
      name: obj.metadata.name,
    };
    const err = this.check(a);
    if (err) return fail(err);
    return this.doUpdate(obj, false, opts.dryRun);
  }

  async updateStatus<T extends KubeObject>(obj: T, opts: WriteOptions = {}): Promise<Result<T>> {
    const a: FakeAction = {
      verb: "updateStatus",
      kind: obj.kind ?? "",
      namespace: obj.metadata.namespace,
      name: obj.metadata.name,
      subresource: "status",
    };
    const err = this.check(a);
    if (err) return fail(err);
    return this.doUpdate(obj, true, opts.dryRun);
  }

  async patch<K extends string>(
    kind: K,
    namespace: string | undefined,
    name: string,
    patch: unknown,
    type: PatchType,
    opts: WriteOptions & { subresource?: string } = {},
  ): Promise<Result<ObjectOf<K>>> {
    const err = this.check({ verb: "patch", kind, namespace, name, subresource: opts.subresource });
    if (err) return fail(err);
    const rt = resourceFor(kind);
    const cur = this.bucket(kind).get(keyOf(rt.namespaced ? namespace : undefined, name));
    if (!cur) return fail(this.notFound(rt, name));
    let base: unknown = clone(cur);
    if (opts.subresource === "scale") base = this.scaleOf(cur);
    let next: KubeObject;
    try {
      if (type === "merge") next = mergePatch(base, patch) as KubeObject;
      else if (type === "strategic") next = strategicMergePatch(base, patch) as KubeObject;
      else next = jsonPatch(base, patch as JsonPatchOp[]) as KubeObject;
    } catch (e) {
      return fail(new ApiError(makeStatus(422, "Invalid", (e as Error).message)));
    }
    if (opts.subresource === "scale") {
      const replicas = (next as unknown as { spec?: { replicas?: number } }).spec?.replicas;
      const withSpec = clone(cur) as KubeObject & { spec: { replicas?: number } };
      withSpec.spec.replicas = replicas;
      withSpec.metadata.resourceVersion = undefined;
      const r = this.doUpdate(withSpec, false, opts.dryRun);
      return r.ok ? ok(this.scaleOf(r.value) as unknown as ObjectOf<K>) : r;
    }
    // A patch is conditional only when it names a resourceVersion itself.
    const patchRV = (patch as { metadata?: { resourceVersion?: string } })?.metadata?.resourceVersion;
    if (!patchRV) next.metadata.resourceVersion = undefined;
    return this.doUpdate(next as ObjectOf<K>, opts.subresource === "status", opts.dryRun);
  }

  async delete(
    kind: string,
    namespace: string | undefined,
    name: string,
    opts: DeleteOptions = {},
  ): Promise<Result<KubeObject | Status>> {
    const err = this.check({ verb: "delete", kind, namespace, name });
    if (err) return fail(err);
    const rt = resourceFor(kind);
    const key = keyOf(rt.namespaced ? namespace : undefined, name);
    const cur = this.bucket(kind).get(key);
    if (!cur) return fail(this.notFound(rt, name));
    if (opts.preconditions?.uid && opts.preconditions.uid !== cur.metadata.uid)
      return fail(new ApiError(makeStatus(409, "Conflict", `Precondition failed: UID in precondition does not match`)));
    if (opts.preconditions?.resourceVersion && opts.preconditions.resourceVersion !== cur.metadata.resourceVersion)
      return fail(new ApiError(makeStatus(409, "Conflict", `Precondition failed: resourceVersion does not match`)));
    if (cur.metadata.finalizers?.length) {
      if (cur.metadata.deletionTimestamp) return ok(clone(cur));
      const next = clone(cur);
      next.metadata.deletionTimestamp = this.timestamp();
      next.metadata.deletionGracePeriodSeconds = opts.gracePeriodSeconds ?? 0;
      return ok(clone(this.write(kind, "MODIFIED", next, cur)));
    }
    this.bucket(kind).delete(key);
    const gone = clone(cur);
    this.write(kind, "DELETED", gone, cur);
    return ok(clone(gone));
  }

  async createSubresource<R = Status>(
    kind: string,
    namespace: string | undefined,
    name: string,
    subresource: string,
    body: unknown,
  ): Promise<Result<R>> {
    const err = this.check({ verb: "createSubresource", kind, namespace, name, subresource });
    if (err) return fail(err);
    const rt = resourceFor(kind);
    const cur = this.bucket(kind).get(keyOf(rt.namespaced ? namespace : undefined, name));
    if (!cur) return fail(this.notFound(rt, name));
    if (kind === "Pod" && subresource === "binding") {
      const pod = clone(cur) as KubeObject & { spec: { nodeName?: string } };
      if (pod.spec.nodeName)
        return fail(
          new ApiError(
            makeStatus(
              409,
              "Conflict",
              `Operation cannot be fulfilled on pods/binding "${name}": pod ${name} is already assigned to node "${pod.spec.nodeName}"`,
            ),
          ),
        );
      pod.spec.nodeName = (body as Binding).target?.name;
      this.write("Pod", "MODIFIED", pod, cur);
      return ok({ kind: "Status", apiVersion: "v1", metadata: {}, status: "Success", code: 201 } as unknown as R);
    }
    return fail(new ApiError(makeStatus(404, "NotFound", `subresource ${subresource} not supported by the fake`)));
  }

  watch<K extends string>(kind: K, opts: WatchOptions, onEvent: (ev: WatchEvent<ObjectOf<K>>) => void): WatchHandle {
    let end!: (e: WatchEnd) => void;
    const done = new Promise<WatchEnd>((r) => {
      end = r;
    });
    const w: FakeWatcher = {
      kind,
      opts,
      onEvent: onEvent as (ev: WatchEvent<KubeObject>) => void,
      queue: [],
      scheduled: false,
      end,
      ended: false,
    };
    const err = this.check({ verb: "watch", kind, namespace: opts.namespace });
    if (err) {
      w.ended = true;
      end({ reason: "error", error: err });
      return { started: Promise.resolve(), done, stop: () => {} };
    }
    let match: (o: KubeObject) => boolean;
    try {
      match = this.matcher(kind, opts);
    } catch (e) {
      end({ reason: "error", error: new ApiError(makeStatus(400, "BadRequest", (e as Error).message)) });
      return { started: Promise.resolve(), done, stop: () => {} };
    }
    const from = opts.resourceVersion;
    if (!from || from === "0") {
      for (const o of this.all(kind)) if (match(o)) w.queue.push({ type: "ADDED", object: o });
    } else {
      const n = Number(from);
      if (n < this.compactedRV) {
        end({
          reason: "error",
          error: new ApiError(makeStatus(410, "Expired", `too old resource version: ${n} (${this.compactedRV})`)),
        });
        return { started: Promise.resolve(), done, stop: () => {} };
      }
      for (const h of this.history) if (h.kind === kind && h.rv > n) this.enqueue(w, h);
    }
    this.watchers.add(w);
    this.flushSoon(w);
    return {
      started: Promise.resolve(),
      done,
      stop: () => this.endWatch(w, { reason: "stopped" }),
    };
  }

  close(): void {
    for (const w of [...this.watchers]) this.endWatch(w, { reason: "stopped" });
  }

  // ---- internals ----------------------------------------------------------------------------------

  private check(a: FakeAction): ApiError | undefined {
    this.actions.push(a);
    try {
      resourceFor(a.kind);
    } catch {
      return new ApiError(makeStatus(404, "NotFound", `the server could not find the requested resource (${a.kind})`));
    }
    return this.failWith?.(a);
  }

  private bucket(kind: string): Map<string, KubeObject> {
    let b = this.store.get(kind);
    if (!b) this.store.set(kind, (b = new Map()));
    return b;
  }

  private notFound(rt: ResourceType, name: string): ApiError {
    return new ApiError(makeStatus(404, "NotFound", `${rt.plural} "${name}" not found`, { name, kind: rt.plural }));
  }

  private timestamp(): string {
    return this.now()
      .toISOString()
      .replace(/\.\d+Z$/, "Z");
  }

  private matcher(kind: string, opts: ListOptions | WatchOptions): (o: KubeObject) => boolean {
    const ls = opts.labelSelector ? parseLabelSelector(opts.labelSelector) : undefined;
    const fs = opts.fieldSelector ? parseFieldSelector(opts.fieldSelector) : undefined;
    const ns = resourceFor(kind).namespaced ? opts.namespace : undefined;
    return (o) =>
      (!ns || o.metadata.namespace === ns) &&
      (!ls || ls.matches(o.metadata.labels)) &&
      (!fs || fs.matches(objectFields(o)));
  }

  private scaleOf(o: KubeObject): KubeObject {
    const x = o as KubeObject & { spec?: { replicas?: number }; status?: { replicas?: number } };
    return {
      apiVersion: "autoscaling/v1",
      kind: "Scale",
      metadata: { name: o.metadata.name, namespace: o.metadata.namespace, resourceVersion: o.metadata.resourceVersion },
      spec: { replicas: x.spec?.replicas ?? 0 },
      status: { replicas: x.status?.replicas ?? 0 },
    } as KubeObject;
  }

  private doCreate<T extends KubeObject>(obj: T, dryRun = false): Result<T> {
    const kind = obj.kind ?? "";
    let rt: ResourceType;
    try {
      rt = resourceFor(kind);
    } catch (e) {
      return fail(new ApiError(makeStatus(404, "NotFound", (e as Error).message)));
    }
    const o = clone(obj);
    o.apiVersion ??= apiVersionOf(rt);
    if (rt.namespaced) o.metadata.namespace ??= this.namespace;
    else delete o.metadata.namespace;
    if (!o.metadata.name) {
      if (!o.metadata.generateName)
        return fail(
          new ApiError(
            makeStatus(422, "Invalid", `${rt.plural}: metadata.name: Required value: name or generateName is required`),
          ),
        );
      const alphabet = "bcdfghjklmnpqrstvwxz2456789";
      let suffix = "";
      for (let i = 0; i < 5; i++) suffix += alphabet[Math.floor(Math.random() * alphabet.length)];
      o.metadata.name = o.metadata.generateName + suffix;
    }
    const key = objectKey(o);
    if (this.bucket(kind).has(key))
      return fail(
        new ApiError(
          makeStatus(409, "AlreadyExists", `${rt.plural} "${o.metadata.name}" already exists`, {
            name: o.metadata.name,
            kind: rt.plural,
          }),
        ),
      );
    o.metadata.uid = randomUUID();
    o.metadata.creationTimestamp = this.timestamp();
    o.metadata.generation = 1;
    delete o.metadata.resourceVersion;
    delete o.metadata.deletionTimestamp;
    if (dryRun) return ok(o);
    return ok(clone(this.write(kind, "ADDED", o, undefined)) as T);
  }

  private doUpdate<T extends KubeObject>(obj: T, statusOnly: boolean, dryRun = false): Result<T> {
    const kind = obj.kind ?? "";
    const rt = resourceFor(kind);
    const key = keyOf(rt.namespaced ? (obj.metadata.namespace ?? this.namespace) : undefined, obj.metadata.name ?? "");
    const cur = this.bucket(kind).get(key);
    if (!cur) return fail(this.notFound(rt, obj.metadata.name ?? ""));
    const rv = obj.metadata.resourceVersion;
    if (rv && rv !== cur.metadata.resourceVersion)
      return fail(
        new ApiError(
          makeStatus(
            409,
            "Conflict",
            `Operation cannot be fulfilled on ${rt.plural} "${obj.metadata.name}": the object has been modified; please apply your changes to the latest version and try again`,
            { name: obj.metadata.name, kind: rt.plural },
          ),
        ),
      );
    let next: KubeObject & { status?: unknown };
    if (statusOnly) {
      next = clone(cur) as KubeObject & { status?: unknown };
      next.status = clone((obj as KubeObject & { status?: unknown }).status);
    } else {
      next = clone(obj) as KubeObject & { status?: unknown };
      next.metadata = {
        ...next.metadata,
        uid: cur.metadata.uid,
        creationTimestamp: cur.metadata.creationTimestamp,
        namespace: cur.metadata.namespace,
        generation: cur.metadata.generation,
      };
      if (cur.metadata.deletionTimestamp) next.metadata.deletionTimestamp = cur.metadata.deletionTimestamp;
      if (statusKinds.has(kind)) next.status = clone((cur as KubeObject & { status?: unknown }).status);
      if (specOf(next) !== specOf(cur)) next.metadata.generation = (cur.metadata.generation ?? 1) + 1;
    }
    next.apiVersion ??= cur.apiVersion;
    if (dryRun) return ok(next as T);
    if (next.metadata.deletionTimestamp && !next.metadata.finalizers?.length) {
      this.bucket(kind).delete(key);
      return ok(clone(this.write(kind, "DELETED", next, cur)) as T);
    }
    if (
      canonicalJson({ ...next, metadata: { ...next.metadata, resourceVersion: undefined } }) ===
      canonicalJson({ ...cur, metadata: { ...cur.metadata, resourceVersion: undefined } })
    )
      return ok(clone(cur) as T); // no-op writes keep the RV, as the apiserver does
    return ok(clone(this.write(kind, "MODIFIED", next, cur)) as T);
  }

  /** Stores (unless DELETED), assigns the next RV, records history and fans out to watchers. */
  private write(kind: string, type: HistoryEntry["type"], obj: KubeObject, old: KubeObject | undefined): KubeObject {
    this.rv++;
    obj.metadata.resourceVersion = String(this.rv);
    if (type !== "DELETED") this.bucket(kind).set(objectKey(obj), obj);
    const h: HistoryEntry = { rv: this.rv, kind, type, object: clone(obj), old: old ? clone(old) : undefined };
    this.history.push(h);
    if (this.history.length > 10_000) this.history.splice(0, this.history.length - 10_000);
    for (const w of this.watchers)
      if (w.kind === kind) {
        this.enqueue(w, h);
        this.flushSoon(w);
      }
    return obj;
  }

  private enqueue(w: FakeWatcher, h: HistoryEntry): void {
    const match = this.matcher(w.kind, w.opts);
    const now = h.type !== "DELETED" && match(h.object);
    const before = h.old !== undefined && match(h.old);
    if (h.type === "DELETED") {
      if (before) w.queue.push({ type: "DELETED", object: clone(h.object) });
    } else if (now && before) w.queue.push({ type: "MODIFIED", object: clone(h.object) });
    else if (now) w.queue.push({ type: "ADDED", object: clone(h.object) });
    else if (before) w.queue.push({ type: "DELETED", object: clone(h.object) });
  }

  private flushSoon(w: FakeWatcher): void {
    if (w.scheduled || w.ended) return;
    w.scheduled = true;
    setImmediate(() => {
      w.scheduled = false;
      while (!w.ended && w.queue.length) w.onEvent(w.queue.shift()!);
    });
  }

  private endWatch(w: FakeWatcher, e: WatchEnd): void {
    if (w.ended) return;
    // Deliver what is queued before a server-side end, as a stream would; a stopped watch delivers nothing more.
    if (e.reason !== "stopped") while (w.queue.length) w.onEvent(w.queue.shift()!);
    w.ended = true;
    this.watchers.delete(w);
    w.end(e);
  }
}
