/**
 * Embedded storage: one append-only table of revisions like k3s's kine (row id = revision), in SQLite with WAL.
 * better-sqlite3 is synchronous and this process is the only writer, so the store revision is a counter kept in
 * memory (each insert takes the next id explicitly) and watchers are notified right after commit (no polling as
 * kine needs for many writers).
 *
 * Group commit: transactions requested in the same turn of the event loop (concurrent requests) are run as
 * savepoints inside one SQLite transaction, and each caller is answered only after that one commit. A commit
 * writes every touched page to the WAL once, so N concurrent writes cost about one commit instead of N, and an
 * acknowledged write is in the WAL exactly as before (see the durability note at the pragmas).
 */
import Database from "better-sqlite3";
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

interface Row {
  id: number;
  name: string;
  created: number;
  deleted: number;
  create_revision: number;
  prev_revision: number;
  value: string;
  old_value: string | null;
}

interface Watcher {
  prefix: string;
  end: string;
  cb: WatchCallbacks;
}

const schema = `
CREATE TABLE IF NOT EXISTS kine (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL,
  created INTEGER NOT NULL,
  deleted INTEGER NOT NULL,
  create_revision INTEGER NOT NULL,
  prev_revision INTEGER NOT NULL,
  value TEXT NOT NULL,
  old_value TEXT
);
-- kine also has an index on (name) alone; every query here is served by (name, id), and one index less
-- is one B-tree less to write per revision.
DROP INDEX IF EXISTS kine_name_index;
CREATE INDEX IF NOT EXISTS kine_name_id_index ON kine (name, id);
CREATE UNIQUE INDEX IF NOT EXISTS kine_name_prev_revision_uindex ON kine (name, prev_revision);
CREATE TABLE IF NOT EXISTS kine_meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
`;

function toKv(r: Row): KeyValue {
  return { key: r.name, value: r.value, createRevision: r.create_revision, modRevision: r.id };
}

type StoreEvent = { type: "put" | "delete"; kv: KeyValue; prevKv?: KeyValue };

interface PendingTxn {
  ops: TxnOp[];
  resolve(r: TxnResult): void;
  reject(e: unknown): void;
}

export class SqliteStore implements Store {
  readonly backend = "sqlite" as const;
  private db: Database.Database;
  private watchers = new Set<Watcher>();
  private stmts;
  /** The highest revision handed out (sqlite_sequence), kept in memory: this process is the only writer. */
  private revision = 0;
  private pending: PendingTxn[] = [];
  private flushScheduled = false;
  private closed = false;
  private runBatch: Database.Transaction<
    (batch: PendingTxn[], out: (TxnResult | Error)[], events: StoreEvent[][]) => void
  >;
  private runOne: Database.Transaction<(ops: TxnOp[], events: StoreEvent[]) => TxnResult>;

  constructor(path: string) {
    this.db = new Database(path);
    this.db.pragma("journal_mode = WAL");
    // Durability promise: an acknowledged write survives kill -9 of this process. With WAL + synchronous=NORMAL
    // a commit has been written (write(2)) to the WAL file before txn() resolves, and the OS keeps written data
    // when a process dies, so that holds; what NORMAL gives up is an fsync per commit, so a power loss or kernel
    // crash may lose the last commits (never corrupt the database). kine (k3s) makes the same choice.
    this.db.pragma("synchronous = NORMAL");
    // Checkpoints (WAL → database file, with an fsync) run inside a committing write; every 4000 pages rather
    // than sqlite's 1000 spreads that cost thinner under a stream of writes.
    this.db.pragma("wal_autocheckpoint = 4000");
    this.db.pragma("busy_timeout = 30000");
    // Lists walk the whole key range: keep it in memory (64 MiB page cache, the file memory-mapped).
    this.db.pragma("cache_size = -65536");
    this.db.pragma("mmap_size = 268435456");
    this.db.exec(schema);
    this.stmts = {
      latest: this.db.prepare<[string], Row>("SELECT * FROM kine WHERE name = ? ORDER BY id DESC LIMIT 1"),
      insert: this.db.prepare(
        "INSERT INTO kine (id, name, created, deleted, create_revision, prev_revision, value, old_value) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
      ),
      maxId: this.db.prepare<[], { m: number | null }>("SELECT MAX(id) AS m FROM kine"),
      seq: this.db.prepare<[], { seq: number }>("SELECT seq FROM sqlite_sequence WHERE name = 'kine'"),
      // The newest row of each key at or below the read revision, in key order: walks the (name, id) index and
      // stops at LIMIT, so a page costs O(page) instead of grouping the whole prefix as kine's MAX(id) query does.
      list: this.db.prepare<[string, string, string, number, number, number], Row>(
        `SELECT k.* FROM kine k
          WHERE k.name >= ? AND k.name > ? AND k.name < ? AND k.id <= ? AND k.deleted = 0
            AND NOT EXISTS (SELECT 1 FROM kine n WHERE n.name = k.name AND n.id > k.id AND n.id <= ?)
          ORDER BY k.name LIMIT ?`,
      ),
      after: this.db.prepare<[string, string, number], Row>(
        "SELECT * FROM kine WHERE name >= ? AND name < ? AND id > ? ORDER BY id",
      ),
      getMeta: this.db.prepare<[string], { value: number }>("SELECT value FROM kine_meta WHERE key = ?"),
      setMeta: this.db.prepare("INSERT OR REPLACE INTO kine_meta (key, value) VALUES (?, ?)"),
      compactSuperseded: this.db.prepare(
        `DELETE FROM kine WHERE id IN (
           SELECT k.prev_revision FROM kine k WHERE k.id <= ? AND k.prev_revision > 0)`,
      ),
      compactTombstones: this.db.prepare("DELETE FROM kine WHERE deleted = 1 AND id <= ?"),
    };
    // sqlite_sequence keeps the highest id ever handed out, also after compaction removed the rows.
    this.revision = Math.max(this.stmts.seq.get()?.seq ?? 0, this.stmts.maxId.get()?.m ?? 0);
    // One caller's ops: a nested better-sqlite3 transaction, i.e. a SAVEPOINT inside the batch's transaction,
    // so a failed compare rolls back only this caller's ops.
    this.runOne = this.db.transaction((ops: TxnOp[], events: StoreEvent[]) => this.applyOps(ops, events));
    this.runBatch = this.db.transaction((batch: PendingTxn[], out: (TxnResult | Error)[], events: StoreEvent[][]) => {
      for (const t of batch) {
        const before = this.revision;
        const evs: StoreEvent[] = [];
        try {
          out.push(this.runOne(t.ops, evs));
          events.push(evs);
        } catch (e) {
          this.revision = before;
          events.push([]);
          out.push(e instanceof RollbackSignal ? e.result : e instanceof Error ? e : new Error(String(e)));
        }
      }
    });
  }

  private rev(): number {
    return this.revision;
  }

  private compactRev(): number {
    return this.stmts.getMeta.get("compact_rev")?.value ?? 0;
  }

  async get(key: string): Promise<KeyValue | undefined> {
    const r = this.stmts.latest.get(key);
    return r && !r.deleted ? toKv(r) : undefined;
  }

  async list(prefix: string, opts: ListOptions = {}): Promise<ListResult> {
    return this.listSync(prefix, opts);
  }

  private listSync(prefix: string, opts: ListOptions): ListResult {
    const current = this.rev();
    let at = current;
    if (opts.revision && opts.revision > 0) {
      const c = this.compactRev();
      if (opts.revision < c) throw new CompactedError(opts.revision, c);
      at = Math.min(opts.revision, current);
    }
    const limit = opts.limit && opts.limit > 0 ? opts.limit : -1;
    const rows = this.stmts.list.all(
      prefix,
      opts.startAfter ?? "",
      prefixEnd(prefix),
      at,
      at,
      limit === -1 ? -1 : limit + 1,
    );
    const more = limit !== -1 && rows.length > limit;
    const kvs = (more ? rows.slice(0, limit) : rows).map(toKv);
    return { kvs, revision: at, more };
  }

  txn(ops: TxnOp[]): Promise<TxnResult> {
    if (this.closed) return Promise.reject(new Error("storage closed"));
    return new Promise((resolve, reject) => {
      this.pending.push({ ops, resolve, reject });
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        // After the I/O callbacks of this loop turn: every request that reached its write by then shares the commit.
        setImmediate(() => this.flush());
      }
    });
  }

  /** Commits every pending transaction in one SQLite transaction, then notifies watchers and answers callers. */
  private flush(): void {
    this.flushScheduled = false;
    const batch = this.pending;
    this.pending = [];
    if (batch.length === 0) return;
    const out: (TxnResult | Error)[] = [];
    const events: StoreEvent[][] = [];
    const start = this.revision;
    try {
      this.runBatch.immediate(batch, out, events);
    } catch (e) {
      // The commit itself failed: nothing of the batch is stored.
      this.revision = start;
      for (const t of batch) t.reject(e);
      return;
    }
    for (let i = 0; i < batch.length; i++) {
      for (const ev of events[i] ?? []) this.emit(ev);
      const r = out[i] as TxnResult | Error;
      const t = batch[i] as PendingTxn;
      if (r instanceof Error) t.reject(r);
      else t.resolve(r);
    }
  }

  /** Runs one caller's ops inside the current transaction; throws RollbackSignal on a failed compare. */
  private applyOps(ops: TxnOp[], events: StoreEvent[]): TxnResult {
    const results: (KeyValue | undefined)[] = [];
    for (let i = 0; i < ops.length; i++) {
      const op = ops[i] as TxnOp;
      const latest = this.stmts.latest.get(op.key);
      const live = latest && !latest.deleted ? latest : undefined;
      if (op.op === "create") {
        if (live) fail({ ok: false, failedIndex: i, reason: "exists", current: toKv(live) });
        const id = ++this.revision;
        this.stmts.insert.run(id, op.key, 1, 0, id, latest?.id ?? 0, op.value, null);
        const kv = { key: op.key, value: op.value, createRevision: id, modRevision: id };
        results.push(kv);
        events.push({ type: "put", kv });
      } else if (op.op === "update") {
        if (!live) fail({ ok: false, failedIndex: i, reason: "notfound" });
        if (op.expectedRevision !== undefined && op.expectedRevision !== live.id)
          fail({ ok: false, failedIndex: i, reason: "conflict", current: toKv(live) });
        const id = ++this.revision;
        this.stmts.insert.run(id, op.key, 0, 0, live.create_revision, live.id, op.value, live.value);
        const kv = { key: op.key, value: op.value, createRevision: live.create_revision, modRevision: id };
        results.push(kv);
        events.push({ type: "put", kv, prevKv: toKv(live) });
      } else {
        if (!live && op.ifExists) {
          results.push(undefined);
          continue;
        }
        if (!live) fail({ ok: false, failedIndex: i, reason: "notfound" });
        if (op.expectedRevision !== undefined && op.expectedRevision !== live.id)
          fail({ ok: false, failedIndex: i, reason: "conflict", current: toKv(live) });
        const id = ++this.revision;
        this.stmts.insert.run(id, op.key, 0, 1, live.create_revision, live.id, live.value, live.value);
        const kv = { key: op.key, value: live.value, createRevision: live.create_revision, modRevision: id };
        results.push(toKv(live));
        events.push({ type: "delete", kv, prevKv: toKv(live) });
      }
    }
    return { ok: true, revision: this.revision, kvs: results };
  }

  private emit(ev: StoreEvent): void {
    for (const w of this.watchers) {
      if (ev.kv.key >= w.prefix && ev.kv.key < w.end) {
        try {
          w.cb.onEvent(ev);
        } catch {
          // a broken watcher must not break the writer
        }
      }
    }
  }

  watch(prefix: string, afterRevision: number, cb: WatchCallbacks): WatchHandle {
    const w: Watcher = { prefix, end: prefixEnd(prefix), cb };
    const compacted = this.compactRev();
    if (afterRevision > 0 && afterRevision < compacted) {
      queueMicrotask(() => cb.onError(new CompactedError(afterRevision, compacted)));
      return { cancel() {} };
    }
    // History and registration happen in one synchronous step, so no write can fall between them.
    const history = afterRevision < this.rev() ? this.stmts.after.all(prefix, w.end, afterRevision) : [];
    const backlog = history.map((r) => {
      const kv = toKv(r);
      if (r.deleted) return { type: "delete" as const, kv, prevKv: { ...kv } };
      return {
        type: "put" as const,
        kv,
        prevKv: r.old_value !== null ? { ...kv, value: r.old_value, modRevision: r.prev_revision } : undefined,
      };
    });
    let live = true;
    const queued: WatchCallbacks = {
      onEvent: (ev) => live && cb.onEvent(ev),
      onError: (err) => live && cb.onError(err),
    };
    const buffer: { type: "put" | "delete"; kv: KeyValue; prevKv?: KeyValue }[] = [];
    let replaying = true;
    const entry: Watcher = {
      prefix,
      end: w.end,
      cb: {
        onEvent: (ev) => (replaying ? buffer.push(ev) : queued.onEvent(ev)),
        onError: queued.onError,
      },
    };
    this.watchers.add(entry);
    queueMicrotask(() => {
      for (const ev of backlog) if (live) cb.onEvent(ev);
      for (const ev of buffer) if (live) cb.onEvent(ev);
      replaying = false;
    });
    return {
      cancel: () => {
        live = false;
        this.watchers.delete(entry);
      },
    };
  }

  async currentRevision(): Promise<number> {
    return this.rev();
  }

  async compact(revision: number): Promise<void> {
    const target = Math.min(revision, this.rev());
    if (target <= this.compactRev()) return;
    this.db
      .transaction(() => {
        this.stmts.compactSuperseded.run(target);
        this.stmts.compactTombstones.run(target);
        this.stmts.setMeta.run("compact_rev", target);
      })
      .immediate();
  }

  async compactedRevision(): Promise<number> {
    return this.compactRev();
  }

  async close(): Promise<void> {
    if (this.flushScheduled || this.pending.length) this.flush();
    this.closed = true;
    for (const w of this.watchers) w.cb.onError(new Error("storage closed"));
    this.watchers.clear();
    this.db.close();
  }
}

/** Throwing inside a better-sqlite3 transaction rolls it back; this carries the failure out. */
function fail(result: TxnResult): never {
  throw new RollbackSignal(result);
}

class RollbackSignal extends Error {
  constructor(readonly result: TxnResult) {
    super("rollback");
  }
}
