/**
 * Embedded storage: one append-only table of revisions like k3s's kine (row id = revision), in SQLite with WAL.
 * better-sqlite3 is synchronous and this process is the only writer, so a transaction's revision is its
 * lastInsertRowid and watchers are notified right after commit (no polling as kine needs for many writers).
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
CREATE INDEX IF NOT EXISTS kine_name_index ON kine (name);
CREATE INDEX IF NOT EXISTS kine_name_id_index ON kine (name, id);
CREATE UNIQUE INDEX IF NOT EXISTS kine_name_prev_revision_uindex ON kine (name, prev_revision);
CREATE TABLE IF NOT EXISTS kine_meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
`;

function toKv(r: Row): KeyValue {
  return { key: r.name, value: r.value, createRevision: r.create_revision, modRevision: r.id };
}

export class SqliteStore implements Store {
  readonly backend = "sqlite" as const;
  private db: Database.Database;
  private watchers = new Set<Watcher>();
  private stmts;

  constructor(path: string) {
    this.db = new Database(path);
    this.db.pragma("journal_mode = WAL");
    // NORMAL: a commit is in the WAL before we acknowledge, so it survives a process crash (kill -9);
    // only an OS crash may lose the last commits (the same trade-off kine makes).
    this.db.pragma("synchronous = NORMAL");
    this.db.pragma("busy_timeout = 30000");
    // Lists walk the whole key range: keep it in memory (64 MiB page cache, the file memory-mapped).
    this.db.pragma("cache_size = -65536");
    this.db.pragma("mmap_size = 268435456");
    this.db.exec(schema);
    this.stmts = {
      latest: this.db.prepare<[string], Row>("SELECT * FROM kine WHERE name = ? ORDER BY id DESC LIMIT 1"),
      insert: this.db.prepare(
        "INSERT INTO kine (name, created, deleted, create_revision, prev_revision, value, old_value) VALUES (?, ?, ?, ?, ?, ?, ?)",
      ),
      setCreateRev: this.db.prepare("UPDATE kine SET create_revision = id WHERE id = ?"),
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
  }

  private rev(): number {
    // sqlite_sequence keeps the highest id ever handed out, also after compaction removed the rows.
    const s = this.stmts.seq.get();
    return s?.seq ?? 0;
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

  async txn(ops: TxnOp[]): Promise<TxnResult> {
    const run = this.db.transaction((): TxnResult => {
      const results: (KeyValue | undefined)[] = [];
      const events: { type: "put" | "delete"; kv: KeyValue; prevKv?: KeyValue }[] = [];
      for (let i = 0; i < ops.length; i++) {
        const op = ops[i] as TxnOp;
        const latest = this.stmts.latest.get(op.key);
        const live = latest && !latest.deleted ? latest : undefined;
        if (op.op === "create") {
          if (live) fail({ ok: false, failedIndex: i, reason: "exists", current: toKv(live) });
          const info = this.stmts.insert.run(op.key, 1, 0, 0, latest?.id ?? 0, op.value, null);
          const id = Number(info.lastInsertRowid);
          this.stmts.setCreateRev.run(id);
          const kv = { key: op.key, value: op.value, createRevision: id, modRevision: id };
          results.push(kv);
          events.push({ type: "put", kv });
        } else if (op.op === "update") {
          if (!live) return fail({ ok: false, failedIndex: i, reason: "notfound" });
          if (op.expectedRevision !== undefined && op.expectedRevision !== live.id)
            fail({ ok: false, failedIndex: i, reason: "conflict", current: toKv(live) });
          const info = this.stmts.insert.run(op.key, 0, 0, live.create_revision, live.id, op.value, live.value);
          const id = Number(info.lastInsertRowid);
          const kv = { key: op.key, value: op.value, createRevision: live.create_revision, modRevision: id };
          results.push(kv);
          events.push({ type: "put", kv, prevKv: toKv(live) });
        } else {
          if (!live && op.ifExists) {
            results.push(undefined);
            continue;
          }
          if (!live) return fail({ ok: false, failedIndex: i, reason: "notfound" });
          if (op.expectedRevision !== undefined && op.expectedRevision !== live.id)
            fail({ ok: false, failedIndex: i, reason: "conflict", current: toKv(live) });
          const info = this.stmts.insert.run(op.key, 0, 1, live.create_revision, live.id, live.value, live.value);
          const id = Number(info.lastInsertRowid);
          const kv = { key: op.key, value: live.value, createRevision: live.create_revision, modRevision: id };
          results.push(toKv(live));
          events.push({ type: "delete", kv, prevKv: toKv(live) });
        }
      }
      pending = events;
      return { ok: true, revision: this.rev(), kvs: results };
    });
    let pending: { type: "put" | "delete"; kv: KeyValue; prevKv?: KeyValue }[] = [];
    let result: TxnResult;
    try {
      result = run.immediate();
    } catch (e) {
      if (e instanceof RollbackSignal) return e.result;
      throw e;
    }
    for (const ev of pending) this.emit(ev);
    return result;
  }

  private emit(ev: { type: "put" | "delete"; kv: KeyValue; prevKv?: KeyValue }): void {
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
