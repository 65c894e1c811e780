/**
 * The storage interface the apiserver writes through: a revisioned key-value store with prefix lists,
 * multi-key conditional transactions and resumable watches (the subset of etcd v3 the apiserver needs).
 * Two backends implement it: sqlite (kine-style revision log, the default) and etcd v3.
 */

/** One stored key at one revision. `modRevision` is the object's resourceVersion. */
export interface KeyValue {
  key: string;
  value: string;
  createRevision: number;
  modRevision: number;
}

/** One operation of an atomic transaction. `expectedRevision` makes it compare-and-swap. */
export type TxnOp =
  | { op: "create"; key: string; value: string }
  | { op: "update"; key: string; value: string; expectedRevision?: number }
  | { op: "delete"; key: string; expectedRevision?: number /** no failure when absent */; ifExists?: boolean };

export type TxnFailure = "exists" | "notfound" | "conflict";

export type TxnResult =
  | { ok: true; revision: number; kvs: (KeyValue | undefined)[] }
  | { ok: false; failedIndex: number; reason: TxnFailure; current?: KeyValue };

export interface ListOptions {
  /** Only keys strictly greater than this (pagination). */
  startAfter?: string;
  limit?: number;
  /** Read the state at this revision (0/undefined = latest). Throws CompactedError if compacted. */
  revision?: number;
}

export interface ListResult {
  kvs: KeyValue[];
  /** The revision the list was read at (the List's resourceVersion). */
  revision: number;
  /** True when `limit` cut the list short. */
  more: boolean;
}

export interface WatchEvent {
  type: "put" | "delete";
  /** For "delete", the last value before deletion, with modRevision = the deletion revision. */
  kv: KeyValue;
  prevKv?: KeyValue;
}

export interface WatchHandle {
  cancel(): void;
}

export interface WatchCallbacks {
  onEvent(ev: WatchEvent): void;
  /** Fatal watch error: CompactedError (→ 410) or a backend failure; the watch is over. */
  onError(err: Error): void;
}

export interface Store {
  readonly backend: "sqlite" | "etcd" | "memory";
  get(key: string): Promise<KeyValue | undefined>;
  list(prefix: string, opts?: ListOptions): Promise<ListResult>;
  /** All ops commit atomically or none do. The revision is the new store revision. */
  txn(ops: TxnOp[]): Promise<TxnResult>;
  /** Events with modRevision > afterRevision under prefix, history first then live. */
  watch(prefix: string, afterRevision: number, cb: WatchCallbacks): WatchHandle;
  currentRevision(): Promise<number>;
  /** Drops history at or below `revision` (keeping live keys). */
  compact(revision: number): Promise<void>;
  compactedRevision(): Promise<number>;
  close(): Promise<void>;
}

/** A read or watch asked for history that compaction removed (the apiserver answers 410 Expired). */
export class CompactedError extends Error {
  override name = "CompactedError";
  constructor(
    readonly requested: number,
    readonly compacted: number,
  ) {
    super(`too old resource version: ${requested} (${compacted})`);
  }
}

/** Exclusive end key for a prefix scan. */
export function prefixEnd(prefix: string): string {
  return prefix.slice(0, -1) + String.fromCharCode(prefix.charCodeAt(prefix.length - 1) + 1);
}
