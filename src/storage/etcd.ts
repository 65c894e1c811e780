/**
 * etcd v3 storage (npm etcd3 over gRPC): keys under /registry/…, values JSON. Object resourceVersion =
 * the key's mod_revision and list resourceVersion = header.revision, exactly as kube-apiserver uses etcd,
 * so several apiservers can share one etcd cluster.
 */
import { Etcd3, type IKeyValue, type IRequestOp, type ICompare, type Watcher } from "etcd3";
import {
  CompactedError,
  type KeyValue,
  type ListOptions,
  type ListResult,
  type Store,
  type TxnOp,
  type TxnResult,
  type WatchCallbacks,
  type WatchHandle,
  prefixEnd,
} from "./types.js";

function toKv(kv: IKeyValue, valueFrom?: IKeyValue): KeyValue {
  return {
    key: kv.key.toString(),
    value: (valueFrom ?? kv).value.toString(),
    createRevision: Number(kv.create_revision),
    modRevision: Number(kv.mod_revision),
  };
}

function isCompactedError(e: unknown): boolean {
  return e instanceof Error && /compacted/i.test(e.message);
}

export class EtcdStore implements Store {
  readonly backend = "etcd" as const;
  private client: Etcd3;
  private compacted = 0;
  private watchers = new Set<Watcher>();

  constructor(endpoints: string[]) {
    this.client = new Etcd3({
      hosts: endpoints,
      dialTimeout: 5000,
      grpcOptions: { "grpc.max_receive_message_length": 64 * 1024 * 1024 },
    });
  }

  async get(key: string): Promise<KeyValue | undefined> {
    const res = await this.client.kv.range({ key: Buffer.from(key) });
    const kv = res.kvs[0];
    return kv ? toKv(kv) : undefined;
  }

  async list(prefix: string, opts: ListOptions = {}): Promise<ListResult> {
    let start = opts.startAfter !== undefined && opts.startAfter >= prefix ? `${opts.startAfter}\0` : prefix;
    // Large lists are read in pages at one revision, so no single gRPC message grows without bound.
    const page = 2000;
    const want = opts.limit && opts.limit > 0 ? opts.limit : Number.POSITIVE_INFINITY;
    const kvs: KeyValue[] = [];
    let revision = opts.revision ?? 0;
    try {
      for (;;) {
        const n = Math.min(page, want - kvs.length);
        const res = await this.client.kv.range({
          key: Buffer.from(start),
          range_end: Buffer.from(prefixEnd(prefix)),
          limit: n,
          revision,
        });
        revision = Number(res.header.revision) && revision === 0 ? Number(res.header.revision) : revision;
        for (const kv of res.kvs) kvs.push(toKv(kv));
        if (!res.more) return { kvs, revision, more: false };
        if (kvs.length >= want) return { kvs, revision, more: true };
        start = `${(kvs[kvs.length - 1] as KeyValue).key}\0`;
      }
    } catch (e) {
      if (isCompactedError(e)) throw new CompactedError(opts.revision ?? 0, this.compacted);
      throw e;
    }
  }

  async txn(ops: TxnOp[]): Promise<TxnResult> {
    const compare: ICompare[] = [];
    const success: IRequestOp[] = [];
    for (const op of ops) {
      const key = Buffer.from(op.key);
      if (op.op === "create") {
        compare.push({ key, target: "Version", result: "Equal", version: 0 });
      } else if (op.op === "delete" && op.ifExists) {
        // no compare: deleting an absent key is a no-op in etcd
      } else if (op.expectedRevision !== undefined) {
        compare.push({ key, target: "Mod", result: "Equal", mod_revision: op.expectedRevision });
      } else {
        compare.push({ key, target: "Version", result: "Greater", version: 0 });
      }
      if (op.op === "delete") success.push({ request_delete_range: { key, prev_kv: true } });
      else success.push({ request_put: { key, value: Buffer.from(op.value), prev_kv: true } });
    }
    const failure: IRequestOp[] = ops.map((op) => ({ request_range: { key: Buffer.from(op.key) } }));
    const res = await this.client.kv.txn({ compare, success, failure });
    const revision = Number(res.header.revision);
    if (!res.succeeded) {
      for (let i = 0; i < ops.length; i++) {
        const op = ops[i] as TxnOp;
        const cur = res.responses[i]?.response_range?.kvs[0];
        const current = cur ? toKv(cur) : undefined;
        if (op.op === "create" && current) return { ok: false, failedIndex: i, reason: "exists", current };
        if (op.op !== "create" && !current && !(op.op === "delete" && op.ifExists))
          return { ok: false, failedIndex: i, reason: "notfound" };
        if (op.op !== "create" && op.expectedRevision !== undefined && current?.modRevision !== op.expectedRevision)
          return { ok: false, failedIndex: i, reason: "conflict", current };
      }
      return { ok: false, failedIndex: 0, reason: "conflict" };
    }
    const kvs = ops.map((op, i): KeyValue | undefined => {
      const r = res.responses[i];
      if (op.op === "delete") {
        const prev = r?.response_delete_range?.prev_kvs[0];
        return prev ? toKv(prev) : undefined;
      }
      const prev = r?.response_put?.prev_kv;
      return {
        key: op.key,
        value: op.value,
        createRevision: prev && op.op === "update" ? Number(prev.create_revision) : revision,
        modRevision: revision,
      };
    });
    return { ok: true, revision, kvs };
  }

  watch(prefix: string, afterRevision: number, cb: WatchCallbacks): WatchHandle {
    let cancelled = false;
    let watcher: Watcher | undefined;
    const fail = (err: Error) => {
      if (cancelled) return;
      cancelled = true;
      if (watcher) {
        this.watchers.delete(watcher);
        void watcher.cancel().catch(() => {});
      }
      cb.onError(err);
    };
    let builder = this.client.watch().prefix(prefix).withPreviousKV();
    if (afterRevision > 0) builder = builder.startRevision(String(afterRevision + 1));
    builder
      .create()
      .then((w) => {
        watcher = w;
        if (cancelled) {
          void w.cancel().catch(() => {});
          return;
        }
        this.watchers.add(w);
        w.on("data", (res) => {
          if (Number(res.compact_revision) > 0) fail(new CompactedError(afterRevision, Number(res.compact_revision)));
        });
        w.on("put", (kv, prev) => {
          if (!cancelled) cb.onEvent({ type: "put", kv: toKv(kv), prevKv: prev ? toKv(prev) : undefined });
        });
        w.on("delete", (kv, prev) => {
          if (cancelled) return;
          const last = prev ? toKv(prev) : undefined;
          cb.onEvent({
            type: "delete",
            kv: {
              key: kv.key.toString(),
              value: last?.value ?? "",
              createRevision: last?.createRevision ?? 0,
              modRevision: Number(kv.mod_revision),
            },
            prevKv: last,
          });
        });
        w.on("error", (err: Error) => {
          if (/canceled/i.test(err.message) || isCompactedError(err))
            fail(new CompactedError(afterRevision, this.compacted));
          else fail(err);
        });
      })
      .catch((err: Error) => fail(isCompactedError(err) ? new CompactedError(afterRevision, this.compacted) : err));
    return {
      cancel: () => {
        cancelled = true;
        if (watcher) {
          this.watchers.delete(watcher);
          void watcher.cancel().catch(() => {});
        }
      },
    };
  }

  async currentRevision(): Promise<number> {
    const res = await this.client.kv.range({ key: Buffer.from("/registry/\0revision-probe"), count_only: true });
    return Number(res.header.revision);
  }

  async compact(revision: number): Promise<void> {
    try {
      await this.client.kv.compact({ revision, physical: false });
      this.compacted = Math.max(this.compacted, revision);
    } catch (e) {
      if (!isCompactedError(e)) throw e;
    }
  }

  async compactedRevision(): Promise<number> {
    return this.compacted;
  }

  async close(): Promise<void> {
    for (const w of this.watchers) await w.cancel().catch(() => {});
    this.watchers.clear();
    this.client.close();
  }
}
