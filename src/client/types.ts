/** The client interface every component codes against; RestClient talks HTTP(S), FakeClient is in memory. */
import type { KubeList, KubeObject, Status } from "../api/index.js";
import type { ApiError, Result } from "./errors.js";
import type { ObjectOf } from "./resources.js";

export interface ListOptions {
  /** Omit for all namespaces (namespaced kinds) or for cluster-scoped kinds. */
  namespace?: string | undefined;
  labelSelector?: string | undefined;
  fieldSelector?: string | undefined;
  limit?: number | undefined;
  continue?: string | undefined;
  resourceVersion?: string | undefined;
}

export interface WatchOptions {
  namespace?: string | undefined;
  labelSelector?: string | undefined;
  fieldSelector?: string | undefined;
  /** Changes strictly after this RV; unset or "0" = synthetic ADDED for every current object first. */
  resourceVersion?: string | undefined;
  allowWatchBookmarks?: boolean | undefined;
  timeoutSeconds?: number | undefined;
}

export type WatchEventType = "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK";

export interface WatchEvent<T extends KubeObject = KubeObject> {
  type: WatchEventType;
  object: T;
}

/** Why a watch ended: the server closed it (re-watch from the last RV), the caller stopped it, or an error (410 = relist). */
export type WatchEnd = { reason: "closed" } | { reason: "stopped" } | { reason: "error"; error: ApiError };

export interface WatchHandle {
  /** Resolves once the stream is established (HTTP 200) or has failed. */
  readonly started: Promise<void>;
  readonly done: Promise<WatchEnd>;
  stop(): void;
}

export type PatchType = "merge" | "strategic" | "json";

export interface DeleteOptions {
  gracePeriodSeconds?: number;
  propagationPolicy?: "Background" | "Foreground" | "Orphan";
  preconditions?: { uid?: string; resourceVersion?: string };
}

export interface WriteOptions {
  dryRun?: boolean;
  fieldManager?: string;
}

/** The typed REST surface: errors come back as values (`Result`), never thrown. */
export interface KubeClient {
  /** Default namespace of the kubeconfig context. */
  readonly namespace: string;
  get<K extends string>(
    kind: K,
    namespace: string | undefined,
    name: string,
    opts?: { subresource?: string },
  ): Promise<Result<ObjectOf<K>>>;
  list<K extends string>(kind: K, opts?: ListOptions): Promise<Result<KubeList<ObjectOf<K>>>>;
  /** Follows `continue` tokens until the whole collection is read (pages of `limit`, default 500). */
  listAll<K extends string>(kind: K, opts?: ListOptions): Promise<Result<KubeList<ObjectOf<K>>>>;
  /** POST to the collection of `obj.kind` in `obj.metadata.namespace` (or the client's namespace). */
  create<T extends KubeObject>(obj: T, opts?: WriteOptions): Promise<Result<T>>;
  /** PUT; carries `metadata.resourceVersion` for optimistic concurrency (409 Conflict when stale). */
  update<T extends KubeObject>(obj: T, opts?: WriteOptions): Promise<Result<T>>;
  /** PUT to the `/status` subresource. */
  updateStatus<T extends KubeObject>(obj: T, opts?: WriteOptions): Promise<Result<T>>;
  patch<K extends string>(
    kind: K,
    namespace: string | undefined,
    name: string,
    patch: unknown,
    type: PatchType,
    opts?: WriteOptions & { subresource?: string },
  ): Promise<Result<ObjectOf<K>>>;
  delete(
    kind: string,
    namespace: string | undefined,
    name: string,
    opts?: DeleteOptions,
  ): Promise<Result<KubeObject | Status>>;
  /** POST to a subresource, e.g. `pods/binding`. */
  createSubresource<R = Status>(
    kind: string,
    namespace: string | undefined,
    name: string,
    subresource: string,
    body: unknown,
  ): Promise<Result<R>>;
  watch<K extends string>(kind: K, opts: WatchOptions, onEvent: (ev: WatchEvent<ObjectOf<K>>) => void): WatchHandle;
  close(): void;
}
