/**
 * Generic REST semantics over the store for every served resource: get, list (selectors, limit/continue),
 * create (generateName, uid, defaults, validation, allocators in the same transaction), update (409 on a stale
 * resourceVersion, status subresource split), patch (three flavours), delete (graceful pods, finalizers,
 * minimal garbage collection) and watch (selector-aware ADDED/MODIFIED/DELETED).
 */
import { randomUUID } from "node:crypto";
import type { Service } from "../api/core.js";
import { applyDefaults } from "../api/defaults.js";
import type { KubeObject, OwnerReference } from "../api/meta.js";
import {
  type FieldSelectorMatcher,
  type LabelSelectorMatcher,
  parseFieldSelector,
  parseLabelSelector,
  SelectorParseError,
} from "../api/selectors.js";
import { invalidStatus, validate } from "../api/validation.js";
import { CompactedError, type KeyValue, type Store, type TxnOp, type WatchHandle } from "../storage/types.js";
import type { ServiceAllocator } from "./allocator.js";
import { checkMetadata, guardDecode } from "./decode.js";
import { ApiError, errors } from "./errors.js";
import { objectFields, supportedFields } from "./fields.js";
import { applyConfig } from "./apply.js";
import type { NamespaceLookup } from "./namespace-cache.js";
import { jsonPatch, mergePatch, strategicMergePatch } from "./patch.js";
import {
  apiVersionOf,
  findResource,
  listPrefix,
  objectKey,
  qualifiedName,
  type ResourceInfo,
  resources,
} from "./resources.js";

// biome-ignore lint/suspicious/noExplicitAny: objects are schemaless JSON inside the registry
type Obj = KubeObject & Record<string, any>;

export interface ListQuery {
  labelSelector?: string;
  fieldSelector?: string;
  limit?: number;
  continue?: string;
  resourceVersion?: string;
}

export interface ListResult {
  items: Obj[];
  resourceVersion: string;
  continue?: string;
}

export interface WriteOptions {
  dryRun?: boolean;
  subresource?: string;
  /** Keep `metadata.managedFields` of the body on create (server-side apply's own entry). */
  keepManagedFields?: boolean;
}

export interface DeleteOptions {
  gracePeriodSeconds?: number;
  propagationPolicy?: "Background" | "Foreground" | "Orphan";
  preconditions?: { uid?: string; resourceVersion?: string };
  dryRun?: boolean;
}

export type PatchType = "merge" | "strategic" | "json";

export type WatchEventType = "ADDED" | "MODIFIED" | "DELETED";

export interface WatchSink {
  event(type: WatchEventType, obj: Obj): void;
  error(err: ApiError): void;
}

export interface Filter {
  label: LabelSelectorMatcher;
  field: FieldSelectorMatcher;
}

const nameChars = "bcdfghjklmnpqrstvwxz2456789";
function randomSuffix(): string {
  let s = "";
  for (let i = 0; i < 5; i++) s += nameChars[Math.floor(Math.random() * nameChars.length)];
  return s;
}

function nowRFC3339(offsetMs = 0): string {
  return new Date(Math.floor((Date.now() + offsetMs) / 1000) * 1000).toISOString().replace(".000Z", "Z");
}

function clone<T>(v: T): T {
  return JSON.parse(JSON.stringify(v)) as T;
}

/**
 * A Secret's `stringData` is write-only: kube-apiserver merges each key into `data` base64-encoded (stringData
 * wins over data for the same key) and never stores or returns `stringData` itself.
 */
function foldStringData(res: ResourceInfo, obj: Obj): Obj {
  if (res.kind !== "Secret" || obj.stringData === undefined) return obj;
  const sd = obj.stringData;
  const { stringData: _, ...rest } = obj;
  if (sd === null) return rest as Obj;
  if (typeof sd !== "object" || Array.isArray(sd)) throw errors.badRequest("stringData: expected a map of strings");
  const data: Record<string, string> = { ...(obj.data ?? {}) };
  for (const [k, v] of Object.entries(sd as Record<string, unknown>)) {
    if (typeof v !== "string") throw errors.badRequest(`stringData.${k}: expected a string`);
    data[k] = Buffer.from(v, "utf8").toString("base64");
  }
  return { ...rest, data } as Obj;
}

/** Fields that belong to the object but not to its "spec" for generation counting. */
function specPart(o: Obj): string {
  const { metadata: _m, status: _s, ...rest } = o;
  return JSON.stringify(rest);
}

export function encodeContinue(rv: number, lastKey: string): string {
  return Buffer.from(JSON.stringify({ v: "meta.k8s.io/v1", rv, start: lastKey })).toString("base64url");
}

function decodeContinue(token: string): { rv: number; start: string } {
  try {
    const t = JSON.parse(Buffer.from(token, "base64url").toString()) as { rv: number; start: string };
    if (typeof t.rv !== "number" || typeof t.start !== "string") throw new Error("bad");
    return t;
  } catch {
    throw errors.badRequest("invalid continue token");
  }
}

export interface RegistryOptions {
  allocator: ServiceAllocator;
  /** Extra validation of a Service beyond src/api (range checks), from the allocator. */
}

export class Registry {
  constructor(
    readonly store: Store,
    readonly allocator: ServiceAllocator,
    /** Namespace existence/termination for creates (a watch-fed cache in the server); default: read the store. */
    private readonly namespaceLookup?: NamespaceLookup,
  ) {}

  /** One decoded object per stored event, shared by every watcher of it (read-only downstream). */
  private decoded = new WeakMap<KeyValue, Obj>();

  private decodeShared(kv: KeyValue): Obj {
    let o = this.decoded.get(kv);
    if (!o) {
      o = this.decode(kv);
      this.decoded.set(kv, o);
    }
    return o;
  }

  decode(kv: KeyValue): Obj {
    const o = JSON.parse(kv.value) as Obj;
    o.metadata.resourceVersion = String(kv.modRevision);
    return o;
  }

  private encode(o: Obj): string {
    const copy = { ...o, metadata: { ...o.metadata } };
    delete copy.metadata.resourceVersion;
    return JSON.stringify(copy);
  }

  parseFilter(res: ResourceInfo, q: ListQuery): Filter {
    try {
      const label = parseLabelSelector(q.labelSelector ?? "");
      const field = parseFieldSelector(q.fieldSelector ?? "");
      const ok = new Set(supportedFields(res));
      for (const r of field.requirements)
        if (!ok.has(r.field)) throw errors.badRequest(`field label not supported: ${r.field}`);
      return { label, field };
    } catch (e) {
      if (e instanceof SelectorParseError) throw errors.badRequest(`unable to parse requirement: ${e.message}`);
      throw e;
    }
  }

  matches(res: ResourceInfo, f: Filter, o: Obj): boolean {
    return f.label.matches(o.metadata.labels) && (f.field.empty() || f.field.matches(objectFields(res, o)));
  }

  async get(res: ResourceInfo, ns: string | undefined, name: string): Promise<Obj> {
    if (res.virtual) {
      const item = componentStatuses().find((c) => c.metadata.name === name);
      if (!item) throw errors.notFound(res.plural, name, res.group);
      return item;
    }
    const kv = await this.store.get(objectKey(res, ns, name));
    if (!kv) throw errors.notFound(res.plural, name, res.group);
    return this.decode(kv);
  }

  async list(res: ResourceInfo, ns: string | undefined, q: ListQuery = {}): Promise<ListResult> {
    const filter = this.parseFilter(res, q);
    if (res.virtual) {
      const rv = String(await this.store.currentRevision());
      return { items: componentStatuses().filter((o) => this.matches(res, filter, o)), resourceVersion: rv };
    }
    const prefix = listPrefix(res, ns);
    let startAfter: string | undefined;
    let revision: number | undefined;
    if (q.continue) {
      const t = decodeContinue(q.continue);
      startAfter = prefix + t.start;
      revision = t.rv;
    }
    const limit = q.limit && q.limit > 0 ? q.limit : undefined;
    const items: Obj[] = [];
    let more = false;
    let lastKey = "";
    let rv = 0;
    try {
      // With selectors, keep reading pages until `limit` matches are found (the store cannot filter).
      for (;;) {
        const page = await this.store.list(prefix, {
          startAfter,
          limit: limit ? Math.max(limit - items.length, limit) : undefined,
          revision,
        });
        rv = page.revision;
        revision = page.revision;
        for (const kv of page.kvs) {
          lastKey = kv.key;
          const o = this.decode(kv);
          if (!this.matches(res, filter, o)) continue;
          o.apiVersion = apiVersionOf(res);
          o.kind = res.kind;
          items.push(o);
          if (limit && items.length >= limit) break;
        }
        if (limit && items.length >= limit) {
          more = page.more || lastKey !== page.kvs[page.kvs.length - 1]?.key;
          break;
        }
        if (!page.more) break;
        startAfter = lastKey;
      }
    } catch (e) {
      if (e instanceof CompactedError)
        throw errors.expired(
          "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.",
        );
      throw e;
    }
    const out: ListResult = { items, resourceVersion: String(rv) };
    if (more) out.continue = encodeContinue(rv, lastKey.slice(prefix.length));
    return out;
  }

  private prepareMeta(res: ResourceInfo, ns: string | undefined, body: Obj): void {
    if (body === null || typeof body !== "object" || Array.isArray(body))
      throw errors.badRequest("the body must be a JSON object");
    if (body.kind !== undefined && body.kind !== res.kind)
      throw errors.badRequest(
        `the API version in the data (${body.apiVersion}) does not match the expected API version (${apiVersionOf(res)}) or kind ${body.kind} is not ${res.kind}`,
      );
    if (body.apiVersion !== undefined && body.apiVersion !== apiVersionOf(res))
      throw errors.badRequest(
        `the API version in the data (${body.apiVersion}) does not match the expected API version (${apiVersionOf(res)})`,
      );
    body.apiVersion = apiVersionOf(res);
    body.kind = res.kind;
    if (body.metadata === null || body.metadata === undefined) body.metadata = {};
    checkMetadata(body.metadata);
    if (res.namespaced) {
      if (body.metadata.namespace && ns && body.metadata.namespace !== ns)
        throw errors.badRequest(
          "the namespace of the provided object does not match the namespace sent on the request",
        );
      body.metadata.namespace = ns ?? body.metadata.namespace;
    } else delete body.metadata.namespace;
  }

  private invalid(res: ResourceInfo, obj: Obj): void {
    const errs = validate(obj);
    const causes = obj.kind === "Service" ? this.allocator.rangeErrors(obj as unknown as Service) : [];
    if (errs.length === 0 && causes.length === 0) return;
    const status = invalidStatus(res.kind, obj.metadata.name ?? "", errs, res.group);
    if (causes.length) {
      status.details = status.details ?? {};
      status.details.causes = [...(status.details.causes ?? []), ...causes];
      const msgs = [...errs.map(String), ...causes.map((c) => `${c.field}: ${c.message}`)];
      status.message = `${res.kind}${res.group ? `.${res.group}` : ""} "${obj.metadata.name ?? ""}" is invalid: ${msgs.length === 1 ? msgs[0] : `[${msgs.join(", ")}]`}`;
    }
    throw new ApiError(status);
  }

  private async requireNamespace(res: ResourceInfo, ns: string | undefined): Promise<void> {
    if (!res.namespaced) return;
    if (!ns) throw errors.badRequest("a namespace is required");
    let state: { terminating: boolean } | undefined;
    if (this.namespaceLookup) state = await this.namespaceLookup(ns);
    else {
      const nsRes = findResource("", "v1", "namespaces") as ResourceInfo;
      const kv = await this.store.get(objectKey(nsRes, undefined, ns));
      const n = kv ? this.decode(kv) : undefined;
      state = n && { terminating: !!n.metadata.deletionTimestamp || n.status?.phase === "Terminating" };
    }
    if (!state) throw errors.notFound("namespaces", ns);
    if (state.terminating)
      throw errors.forbidden(
        `${res.plural} "${""}" is forbidden: unable to create new content in namespace ${ns} because it is being terminated`,
        res.plural,
      );
  }

  async create(res: ResourceInfo, ns: string | undefined, input: unknown, opts: WriteOptions = {}): Promise<Obj> {
    if (res.virtual) throw errors.methodNotAllowed();
    const body = clone(input) as Obj;
    this.prepareMeta(res, ns, body);
    const meta = body.metadata;
    if (meta.resourceVersion) delete meta.resourceVersion;
    await this.requireNamespace(res, meta.namespace);
    const generated = !meta.name && !!meta.generateName;
    if (generated) meta.name = `${meta.generateName}${randomSuffix()}`;
    meta.uid = randomUUID();
    meta.creationTimestamp = nowRFC3339();
    meta.generation = 1;
    delete meta.deletionTimestamp;
    delete meta.deletionGracePeriodSeconds;
    if (!opts.keepManagedFields) delete meta.managedFields;
    let obj = guardDecode(() => applyDefaults(body) as Obj);
    obj = foldStringData(res, obj);
    obj = guardDecode(() => this.createStatus(res, obj));
    guardDecode(() => this.invalid(res, obj));
    if (opts.dryRun) return obj;
    for (let attempt = 0; ; attempt++) {
      // The allocator fills in the Service it is given; a retry must start from the unallocated object.
      const candidate = res.kind === "Service" ? clone(obj) : obj;
      const plan =
        res.kind === "Service" ? await this.allocator.plan(undefined, candidate as unknown as Service) : undefined;
      const ops: TxnOp[] = [
        {
          op: "create",
          key: objectKey(res, meta.namespace, candidate.metadata.name as string),
          value: this.encode(candidate),
        },
      ];
      if (plan) ops.push(...plan.ops);
      const r = await this.store.txn(ops);
      if (r.ok) {
        candidate.metadata.resourceVersion = String((r.kvs[0] as KeyValue).modRevision);
        return candidate;
      }
      if (r.failedIndex === 0) {
        if (generated && attempt < 5) {
          obj.metadata.name = `${meta.generateName}${randomSuffix()}`;
          continue;
        }
        throw errors.alreadyExists(res.plural, candidate.metadata.name as string, res.group);
      }
      this.allocationFailure(res, candidate, plan, r.failedIndex - 1, attempt);
    }
  }

  private allocationFailure(
    res: ResourceInfo,
    obj: Obj,
    plan: Awaited<ReturnType<ServiceAllocator["plan"]>> | undefined,
    index: number,
    attempt: number,
  ): void {
    const req = plan?.requested.get(index);
    if (req)
      throw this.allocErr(
        res,
        obj,
        req.field,
        req.value,
        req.field.includes("nodePort") ? "provided port is already allocated" : "provided IP is already allocated",
      );
    if (attempt > 10) throw errors.internal("could not allocate a ClusterIP/NodePort after 10 attempts");
  }

  private allocErr(res: ResourceInfo, obj: Obj, field: string, value: string | number, what: string): ApiError {
    const shown = typeof value === "string" ? `[]string{"${value}"}` : String(value);
    const message = `Invalid value: ${shown}: ${what}`;
    return new ApiError({
      kind: "Status",
      apiVersion: "v1",
      metadata: {},
      status: "Failure",
      message: `${res.kind} "${obj.metadata.name}" is invalid: ${field}: ${message}`,
      reason: "Invalid",
      details: { name: obj.metadata.name, kind: res.kind, causes: [{ reason: "FieldValueInvalid", message, field }] },
      code: 422,
    });
  }

  /** The status an object starts with (what kube-apiserver's strategies' PrepareForCreate do). */
  private createStatus(res: ResourceInfo, o: Obj): Obj {
    switch (res.kind) {
      case "Pod":
        o.status = { phase: "Pending", qosClass: o.status?.qosClass ?? qosClass(o) };
        break;
      case "Namespace":
        o.status = { phase: "Active" };
        o.spec = o.spec ?? {};
        o.spec.finalizers = o.spec.finalizers ?? ["kubernetes"];
        break;
      case "Service":
        o.status = { loadBalancer: {} };
        break;
      case "Deployment":
      case "ReplicaSet":
      case "ReplicationController":
        o.status = {};
        break;
    }
    return o;
  }

  /** PUT. `subresource: "status"` replaces only .status; the main resource keeps the stored .status. */
  async update(
    res: ResourceInfo,
    ns: string | undefined,
    name: string,
    input: unknown,
    opts: WriteOptions = {},
  ): Promise<Obj> {
    if (res.virtual) throw errors.methodNotAllowed();
    const body = clone(input) as Obj;
    this.prepareMeta(res, ns, body);
    if (body.metadata.name && body.metadata.name !== name)
      throw errors.badRequest(
        `the name of the object (${body.metadata.name}) does not match the name on the URL (${name})`,
      );
    body.metadata.name = name;
    const requestedRV = body.metadata.resourceVersion;
    for (let attempt = 0; ; attempt++) {
      const current = await this.get(res, ns, name);
      if (requestedRV && requestedRV !== current.metadata.resourceVersion)
        throw errors.conflict(res.plural, name, res.group);
      try {
        return await this.write(res, current, body, opts);
      } catch (e) {
        if (e instanceof RetryConflict && !requestedRV && attempt < 10) continue;
        if (e instanceof RetryConflict) throw errors.conflict(res.plural, name, res.group);
        throw e;
      }
    }
  }

  /** Turns `current` into the object to store from a client's full `body`, then writes it with CAS. */
  private async write(res: ResourceInfo, current: Obj, body: Obj, opts: WriteOptions): Promise<Obj> {
    let next: Obj;
    if (opts.subresource === "status") {
      next = clone(current);
      next.status = body.status;
      // kube-apiserver lets status writers change nothing else; labels/annotations too stay as stored.
    } else {
      next = clone(body);
      const m = current.metadata;
      // A writer that sends no managedFields keeps the stored ones (kube-apiserver's rule).
      if (next.metadata?.managedFields === undefined && m.managedFields !== undefined)
        next.metadata = { ...next.metadata, managedFields: m.managedFields };
      next.metadata = {
        ...next.metadata,
        namespace: m.namespace,
        uid: m.uid,
        creationTimestamp: m.creationTimestamp,
        generation: m.generation,
      };
      if (m.deletionTimestamp) {
        next.metadata.deletionTimestamp = m.deletionTimestamp;
        if (m.deletionGracePeriodSeconds !== undefined)
          next.metadata.deletionGracePeriodSeconds = m.deletionGracePeriodSeconds;
      } else {
        delete next.metadata.deletionTimestamp;
        delete next.metadata.deletionGracePeriodSeconds;
      }
      if (!m.namespace) delete next.metadata.namespace;
      if (res.hasStatus) {
        if (current.status === undefined) delete next.status;
        else next.status = current.status;
      }
      next = guardDecode(() => applyDefaults(next) as Obj);
      next = foldStringData(res, next);
      if (specPart(next) !== specPart(current)) next.metadata.generation = (m.generation ?? 1) + 1;
    }
    delete next.metadata.resourceVersion;
    guardDecode(() => this.invalid(res, next));
    const currentRV = Number(current.metadata.resourceVersion);
    // The last finalizer removed from an object being deleted (pods finish through a grace-0 delete instead).
    const finished =
      !!next.metadata.deletionTimestamp &&
      !next.metadata.finalizers?.length &&
      !!current.metadata.finalizers?.length &&
      res.kind !== "Pod";
    const unchanged = this.encode({ ...current, metadata: { ...current.metadata } }) === this.encode(next);
    if (unchanged && !finished) {
      return current;
    }
    if (opts.dryRun) {
      next.metadata.resourceVersion = current.metadata.resourceVersion;
      return next;
    }
    const key = objectKey(res, current.metadata.namespace, current.metadata.name as string);
    if (finished) {
      await this.removeNow(res, current, currentRV);
      next.metadata.resourceVersion = current.metadata.resourceVersion;
      return next;
    }
    const plan =
      res.kind === "Service"
        ? await this.allocator.plan(current as unknown as Service, next as unknown as Service)
        : undefined;
    const ops: TxnOp[] = [{ op: "update", key, value: this.encode(next), expectedRevision: currentRV }];
    if (plan) ops.push(...plan.ops);
    const r = await this.store.txn(ops);
    if (!r.ok) {
      if (r.failedIndex === 0) {
        if (r.reason === "notfound") throw errors.notFound(res.plural, current.metadata.name as string, res.group);
        throw new RetryConflict();
      }
      const req = plan?.requested.get(r.failedIndex - 1);
      if (req)
        throw this.allocErr(
          res,
          next,
          req.field,
          req.value,
          req.field.includes("nodePort") ? "provided port is already allocated" : "provided IP is already allocated",
        );
      throw new RetryConflict();
    }
    next.metadata.resourceVersion = String((r.kvs[0] as KeyValue).modRevision);
    return next;
  }

  async patch(
    res: ResourceInfo,
    ns: string | undefined,
    name: string,
    type: PatchType,
    patch: unknown,
    opts: WriteOptions = {},
  ): Promise<Obj> {
    if (res.virtual) throw errors.methodNotAllowed();
    for (let attempt = 0; ; attempt++) {
      const current = await this.get(res, ns, name);
      let patched: Obj;
      if (type === "json") patched = jsonPatch(current, patch) as Obj;
      else if (type === "merge") patched = mergePatch(current, patch) as Obj;
      else patched = strategicMergePatch(res.kind, current, patch) as Obj;
      if (patched === null || typeof patched !== "object" || Array.isArray(patched))
        throw errors.badRequest("the patch produced a non-object");
      patched.metadata = patched.metadata ?? {};
      const rv = patched.metadata.resourceVersion;
      if (rv && rv !== current.metadata.resourceVersion) throw errors.conflict(res.plural, name, res.group);
      if (patched.metadata.name !== name) throw errors.badRequest("the name of a patched object cannot change");
      this.prepareMeta(res, ns, patched);
      try {
        return await this.write(res, current, patched, opts);
      } catch (e) {
        if (e instanceof RetryConflict && attempt < 10 && !(rv && rv === patchRV(patch))) continue;
        if (e instanceof RetryConflict) throw errors.conflict(res.plural, name, res.group);
        throw e;
      }
    }
  }

  /** Server-side apply (`application/apply-patch+yaml`): create-or-merge as `manager`, see apply.ts. */
  async apply(
    res: ResourceInfo,
    ns: string | undefined,
    name: string,
    input: unknown,
    opts: WriteOptions & { manager: string; force: boolean },
  ): Promise<{ obj: Obj; created: boolean }> {
    if (res.virtual) throw errors.methodNotAllowed();
    if (opts.subresource) throw errors.badRequest("server-side apply of a subresource is not supported");
    const applied = clone(input) as Obj;
    this.prepareMeta(res, ns, applied);
    if (applied.metadata.name !== undefined && applied.metadata.name !== name)
      throw errors.badRequest(
        `the name of the object (${applied.metadata.name}) does not match the name on the URL (${name})`,
      );
    applied.metadata.name = name;
    for (let attempt = 0; ; attempt++) {
      const live = await this.get(res, ns, name).catch((e) => {
        if (e instanceof ApiError && e.code === 404) return undefined;
        throw e;
      });
      const rv = applied.metadata.resourceVersion;
      if (rv && live && rv !== live.metadata.resourceVersion) throw errors.conflict(res.plural, name, res.group);
      const merged = applyConfig({
        kind: res.kind,
        group: res.group,
        plural: res.plural,
        apiVersion: apiVersionOf(res),
        live,
        applied,
        manager: opts.manager,
        force: opts.force,
        now: nowRFC3339(),
      });
      try {
        if (!live) {
          delete merged.metadata.resourceVersion;
          return { obj: await this.create(res, ns, merged, { ...opts, keepManagedFields: true }), created: true };
        }
        this.prepareMeta(res, ns, merged);
        return { obj: await this.write(res, live, merged, opts), created: false };
      } catch (e) {
        const retry =
          e instanceof RetryConflict ||
          (e instanceof ApiError && e.code === 409 && e.status.reason === "AlreadyExists");
        if (retry && attempt < 10 && !rv) continue;
        if (e instanceof RetryConflict) throw errors.conflict(res.plural, name, res.group);
        throw e;
      }
    }
  }

  private async removeNow(res: ResourceInfo, obj: Obj, rv: number): Promise<void> {
    const ops: TxnOp[] = [
      { op: "delete", key: objectKey(res, obj.metadata.namespace, obj.metadata.name as string), expectedRevision: rv },
    ];
    if (res.kind === "Service") ops.push(...(await this.allocator.plan(obj as unknown as Service, undefined)).ops);
    const r = await this.store.txn(ops);
    if (!r.ok) {
      if (r.reason === "notfound") throw errors.notFound(res.plural, obj.metadata.name as string, res.group);
      throw new RetryConflict();
    }
    if (res.kind === "Namespace") return;
    this.collectGarbage(obj, "Background");
  }

  /**
   * DELETE. Returns the object as stored afterwards and whether it is gone. Pods bound to a node get a
   * deletionTimestamp `grace` seconds ahead (the kubelet finishes with grace 0); objects with finalizers wait.
   */
  async delete(
    res: ResourceInfo,
    ns: string | undefined,
    name: string,
    opts: DeleteOptions = {},
  ): Promise<{ obj: Obj; gone: boolean }> {
    if (res.virtual) throw errors.methodNotAllowed();
    for (let attempt = 0; ; attempt++) {
      const current = await this.get(res, ns, name);
      const pre = opts.preconditions;
      if (pre?.uid && pre.uid !== current.metadata.uid)
        throw errors.conflict(
          res.plural,
          name,
          res.group,
          `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${current.metadata.uid}`,
        );
      if (pre?.resourceVersion && pre.resourceVersion !== current.metadata.resourceVersion)
        throw errors.conflict(
          res.plural,
          name,
          res.group,
          `Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object meta: ${current.metadata.resourceVersion}`,
        );
      try {
        return await this.deleteOnce(res, current, opts);
      } catch (e) {
        if (e instanceof RetryConflict && attempt < 10) continue;
        if (e instanceof RetryConflict) throw errors.conflict(res.plural, name, res.group);
        throw e;
      }
    }
  }

  private async deleteOnce(res: ResourceInfo, current: Obj, opts: DeleteOptions): Promise<{ obj: Obj; gone: boolean }> {
    const rv = Number(current.metadata.resourceVersion);
    const key = objectKey(res, current.metadata.namespace, current.metadata.name as string);
    const markDeleting = async (grace: number, when: string): Promise<{ obj: Obj; gone: boolean }> => {
      const next = clone(current);
      next.metadata.deletionTimestamp = when;
      next.metadata.deletionGracePeriodSeconds = grace;
      if (res.kind === "Namespace") next.status = { ...(next.status ?? {}), phase: "Terminating" };
      if (opts.dryRun) return { obj: next, gone: false };
      delete next.metadata.resourceVersion;
      const r = await this.store.txn([{ op: "update", key, value: this.encode(next), expectedRevision: rv }]);
      if (!r.ok) throw new RetryConflict();
      next.metadata.resourceVersion = String((r.kvs[0] as KeyValue).modRevision);
      return { obj: next, gone: false };
    };
    if (res.kind === "Namespace") {
      if (current.metadata.deletionTimestamp) return { obj: current, gone: false };
      const out = await markDeleting(0, nowRFC3339());
      if (!opts.dryRun) void this.finishNamespace(current.metadata.name as string);
      return out;
    }
    if (res.kind === "Pod") {
      const grace = opts.gracePeriodSeconds ?? current.spec?.terminationGracePeriodSeconds ?? 30;
      const phase = current.status?.phase;
      const graceful = grace > 0 && !!current.spec?.nodeName && phase !== "Succeeded" && phase !== "Failed";
      if (graceful) {
        const existing = current.metadata.deletionTimestamp;
        if (existing && (current.metadata.deletionGracePeriodSeconds ?? 0) <= grace)
          return { obj: current, gone: false };
        return markDeleting(grace, nowRFC3339(grace * 1000));
      }
    }
    if (current.metadata.finalizers?.length) {
      if (current.metadata.deletionTimestamp) return { obj: current, gone: false };
      return markDeleting(0, nowRFC3339());
    }
    if (opts.dryRun) return { obj: current, gone: true };
    const ops: TxnOp[] = [{ op: "delete", key, expectedRevision: rv }];
    if (res.kind === "Service") ops.push(...(await this.allocator.plan(current as unknown as Service, undefined)).ops);
    const r = await this.store.txn(ops);
    if (!r.ok) {
      if (r.failedIndex === 0 && r.reason === "notfound")
        throw errors.notFound(res.plural, current.metadata.name as string, res.group);
      throw new RetryConflict();
    }
    this.collectGarbage(current, opts.propagationPolicy ?? "Background");
    return { obj: current, gone: true };
  }

  /** Minimal garbage collector: dependents (by ownerReferences uid) of a deleted object go too, or are orphaned. */
  private collectGarbage(owner: Obj, policy: string): void {
    const uid = owner.metadata.uid;
    const ns = owner.metadata.namespace;
    if (!uid || !ns) return;
    const dependentKinds: Record<string, string[]> = {
      Deployment: ["replicasets"],
      ReplicaSet: ["pods"],
      ReplicationController: ["pods"],
      Service: ["endpointslices"],
    };
    const plurals = dependentKinds[owner.kind ?? ""];
    if (!plurals) return;
    void (async () => {
      for (const plural of plurals) {
        const res = resources.find((r) => r.plural === plural) as ResourceInfo;
        const { items } = await this.list(res, ns);
        for (const dep of items) {
          const refs: OwnerReference[] = dep.metadata.ownerReferences ?? [];
          if (!refs.some((r) => r.uid === uid)) continue;
          try {
            if (policy === "Orphan") {
              await this.patch(res, ns, dep.metadata.name as string, "merge", {
                metadata: { ownerReferences: refs.filter((r) => r.uid !== uid) },
              });
            } else await this.delete(res, ns, dep.metadata.name as string, { propagationPolicy: "Background" });
          } catch {
            // already gone or changed; the next delete will catch up
          }
        }
      }
    })().catch(() => {});
  }

  /** Namespace deletion: empty it (pods without grace), then remove it. */
  private async finishNamespace(name: string): Promise<void> {
    for (const res of resources) {
      if (!res.namespaced || res.virtual) continue;
      for (;;) {
        const { items } = await this.list(res, name).catch(() => ({ items: [] as Obj[] }));
        if (items.length === 0) break;
        for (const o of items) {
          await this.delete(res, name, o.metadata.name as string, { gracePeriodSeconds: 0 }).catch(() => {});
          if (o.metadata.finalizers?.length)
            await this.patch(res, name, o.metadata.name as string, "merge", { metadata: { finalizers: null } }).catch(
              () => {},
            );
        }
      }
    }
    const nsRes = findResource("", "v1", "namespaces") as ResourceInfo;
    const kv = await this.store.get(objectKey(nsRes, undefined, name));
    if (kv) await this.store.txn([{ op: "delete", key: kv.key, expectedRevision: kv.modRevision }]);
  }

  /**
   * Watches a collection from `resourceVersion` (unset/"0": synthetic ADDED for the current state first).
   * Events are filtered by the selectors per event, turning objects that stop/start matching into DELETED/ADDED.
   */
  async watch(res: ResourceInfo, ns: string | undefined, q: ListQuery, sink: WatchSink): Promise<WatchHandle> {
    const filter = this.parseFilter(res, q);
    const prefix = listPrefix(res, ns);
    let from = q.resourceVersion && q.resourceVersion !== "0" ? Number(q.resourceVersion) : Number.NaN;
    if (q.resourceVersion && q.resourceVersion !== "0" && !Number.isFinite(from))
      throw errors.badRequest(`invalid resource version: ${q.resourceVersion}`);
    if (Number.isFinite(from)) {
      const compacted = await this.store.compactedRevision();
      if (from < compacted) throw errors.expired(`too old resource version: ${from} (${compacted})`);
    } else {
      const page = await this.store.list(prefix);
      for (const kv of page.kvs) {
        const o = this.decode(kv);
        if (this.matches(res, filter, o)) sink.event("ADDED", this.typed(res, o));
      }
      from = page.revision;
    }
    return this.store.watch(prefix, from, {
      onEvent: (ev) => {
        const obj = this.decodeShared(ev.kv);
        const prev = ev.prevKv ? this.decodeShared(ev.prevKv) : undefined;
        const now = this.matches(res, filter, obj);
        const before = prev ? this.matches(res, filter, prev) : false;
        if (ev.type === "delete") {
          if (now) sink.event("DELETED", this.typed(res, obj));
          return;
        }
        if (!prev) {
          if (now) sink.event("ADDED", this.typed(res, obj));
        } else if (now && before) sink.event("MODIFIED", this.typed(res, obj));
        else if (now) sink.event("ADDED", this.typed(res, obj));
        else if (before) sink.event("DELETED", this.typed(res, obj));
      },
      onError: (err) => {
        if (err instanceof CompactedError) sink.error(errors.expired(err.message));
        else sink.error(errors.internal(err.message));
      },
    });
  }

  typed(res: ResourceInfo, o: Obj): Obj {
    o.apiVersion = apiVersionOf(res);
    o.kind = res.kind;
    return o;
  }
}

class RetryConflict extends Error {}

function patchRV(patch: unknown): string | undefined {
  const p = patch as { metadata?: { resourceVersion?: string } } | null;
  return p && typeof p === "object" && !Array.isArray(p) ? p.metadata?.resourceVersion : undefined;
}

function qosClass(pod: Obj): string {
  const cs: Obj[] = pod.spec?.containers ?? [];
  let any = false;
  let guaranteed = cs.length > 0;
  for (const c of cs) {
    const req = c.resources?.requests ?? {};
    const lim = c.resources?.limits ?? {};
    if (Object.keys(req).length || Object.keys(lim).length) any = true;
    for (const r of ["cpu", "memory"]) if (!lim[r] || (req[r] && req[r] !== lim[r])) guaranteed = false;
  }
  if (!any) return "BestEffort";
  return guaranteed ? "Guaranteed" : "Burstable";
}

/** componentstatuses are synthesised on read: this process is the scheduler, controller manager and store. */
function componentStatuses(): Obj[] {
  return ["controller-manager", "etcd-0", "scheduler"].map((name) => ({
    kind: "ComponentStatus",
    apiVersion: "v1",
    metadata: { name },
    conditions: [{ type: "Healthy", status: "True", message: name === "etcd-0" ? "ok" : "ok", error: "" }],
  }));
}

export { qualifiedName };
