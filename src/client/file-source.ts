/**
 * FileSource: informers fed by `--objects FILE…` instead of an apiserver. The files are read with the one
 * objects loader (src/objects/load.ts); when they change (fs.watch on their directories, plus a stat poll as
 * fallback for filesystems where watch events go missing), they are reloaded and each informer receives the
 * difference as add/update/delete events. A reload that fails keeps the last good objects and reports the error.
 */
import { type FSWatcher, statSync, watch } from "node:fs";
import { basename, dirname, resolve } from "node:path";
import type { KubeObject } from "../api/index.js";
import { parseFieldSelector, parseLabelSelector } from "../api/selectors.js";
import { loadObjectsFiles } from "../objects/load.js";
import { objectFields } from "./fields.js";
import {
  type ClientLogger,
  type Informer,
  InformerCache,
  type InformerOptions,
  type InformerSource,
  informerKey,
} from "./cache.js";

export interface FileSourceOptions {
  /** Stat poll interval (default 1000 ms); 0 disables polling. */
  pollIntervalMs?: number;
  /** Quiet time after a change before reloading, so an editor's several writes make one reload (default 50 ms). */
  debounceMs?: number;
  /** Disable fs.watch (poll only). */
  noWatch?: boolean;
  log?: ClientLogger;
  onReloadError?: (err: Error) => void;
  /** Called after every successful reload (after informers emitted their events). */
  onReload?: () => void;
  /**
   * Keep the parsed objects between reloads (default true). With false they are dropped once the informers made
   * in the same turn have been fed, so only the informers' (possibly transformed) copies stay in memory; an
   * informer made later, or all(), reads the files again.
   */
  retainObjects?: boolean;
}

class FileInformer<T extends KubeObject> extends InformerCache<T> {
  private readonly matches: (o: KubeObject) => boolean;
  constructor(
    kind: string,
    opts: InformerOptions,
    log: ClientLogger | undefined,
    private readonly detach: () => void,
  ) {
    super(kind, log, opts.transform);
    const ls = opts.labelSelector ? parseLabelSelector(opts.labelSelector) : undefined;
    const fs = opts.fieldSelector ? parseFieldSelector(opts.fieldSelector) : undefined;
    this.matches = (o) =>
      o.kind === kind &&
      (opts.namespace === undefined || o.metadata.namespace === opts.namespace) &&
      (!ls || ls.matches(o.metadata.labels)) &&
      (!fs || fs.matches(objectFields(o)));
  }
  /** Feeds the complete current object set; the cache emits the differences. */
  feed(all: readonly KubeObject[]): void {
    this.replace(all.filter(this.matches) as T[]);
    this.markSynced();
  }
  override stop(): void {
    super.stop();
    this.detach();
  }
}

export class FileSource implements InformerSource {
  readonly paths: string[];
  private objects: KubeObject[] | undefined;
  private releaseTimer: NodeJS.Immediate | undefined;
  private readonly informers = new Map<string, FileInformer<KubeObject>>();
  private readonly watchers: FSWatcher[] = [];
  private pollTimer: NodeJS.Timeout | undefined;
  private debounceTimer: NodeJS.Timeout | undefined;
  private stamps: string;
  private stopped = false;
  /** Successful reloads after the first load (tests and metrics). */
  reloads = 0;

  /** Loads the files at once; throws ObjectsFileError when they cannot be read or parsed. */
  constructor(
    paths: readonly string[],
    private readonly opts: FileSourceOptions = {},
  ) {
    this.paths = paths.map((p) => resolve(p));
    this.stamps = this.statStamps();
    this.objects = loadObjectsFiles(this.paths);
    this.releaseSoon();
    this.startWatching();
  }

  /** The objects as last loaded (all kinds); read again from the files when they were not retained. */
  all(): readonly KubeObject[] {
    return this.current();
  }

  private current(): KubeObject[] {
    if (!this.objects) {
      this.objects = loadObjectsFiles(this.paths);
      this.releaseSoon();
    }
    return this.objects;
  }

  private releaseSoon(): void {
    if (this.opts.retainObjects !== false || this.releaseTimer) return;
    this.releaseTimer = setImmediate(() => {
      this.releaseTimer = undefined;
      this.objects = undefined;
    });
    this.releaseTimer.unref?.();
  }

  informer<T extends KubeObject = KubeObject>(kind: string, opts: InformerOptions = {}): Informer<T> {
    const key = informerKey(kind, opts);
    let inf = this.informers.get(key);
    if (!inf) {
      inf = new FileInformer<KubeObject>(kind, opts, this.opts.log, () => this.informers.delete(key));
      this.informers.set(key, inf);
      inf.feed(this.current());
    }
    return inf as unknown as Informer<T>;
  }

  /** Re-reads the files now; returns false (keeping the old objects) when they do not parse. */
  reload(): boolean {
    if (this.stopped) return false;
    this.stamps = this.statStamps();
    let next: KubeObject[];
    try {
      next = loadObjectsFiles(this.paths);
    } catch (e) {
      this.opts.log?.warn({ err: (e as Error).message }, "objects files reload failed; keeping the last good set");
      this.opts.onReloadError?.(e as Error);
      return false;
    }
    this.objects = next;
    this.releaseSoon();
    this.reloads++;
    for (const inf of [...this.informers.values()]) inf.feed(next);
    this.opts.onReload?.();
    return true;
  }

  stop(): void {
    this.stopped = true;
    for (const w of this.watchers) w.close();
    this.watchers.length = 0;
    clearInterval(this.pollTimer);
    clearTimeout(this.debounceTimer);
    if (this.releaseTimer) clearImmediate(this.releaseTimer);
    for (const inf of [...this.informers.values()]) inf.stop();
  }

  private statStamps(): string {
    return this.paths
      .map((p) => {
        try {
          const s = statSync(p);
          return `${s.ino}:${s.size}:${s.mtimeMs}`;
        } catch {
          return "missing";
        }
      })
      .join("|");
  }

  private schedule(): void {
    if (this.stopped) return;
    clearTimeout(this.debounceTimer);
    this.debounceTimer = setTimeout(() => this.reload(), this.opts.debounceMs ?? 50);
    this.debounceTimer.unref?.();
  }

  private startWatching(): void {
    if (!this.opts.noWatch) {
      // Watch directories, not files: editors and `kubectl get > f` replace files, which ends a file watch.
      const byDir = new Map<string, Set<string>>();
      for (const p of this.paths) {
        const d = dirname(p);
        if (!byDir.has(d)) byDir.set(d, new Set());
        byDir.get(d)!.add(basename(p));
      }
      for (const [dir, names] of byDir) {
        try {
          const w = watch(dir, { persistent: false }, (_ev, name) => {
            if (name === null || names.has(String(name))) this.schedule();
          });
          w.on("error", () => w.close());
          this.watchers.push(w);
        } catch (e) {
          this.opts.log?.warn({ dir, err: (e as Error).message }, "fs.watch unavailable; polling only");
        }
      }
    }
    const every = this.opts.pollIntervalMs ?? 1000;
    if (every > 0) {
      this.pollTimer = setInterval(() => {
        const now = this.statStamps();
        if (now !== this.stamps) {
          this.stamps = now; // so the next poll does not push the debounce further out
          this.schedule();
        }
      }, every);
    }
  }
}
