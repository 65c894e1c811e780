/**
 * ApiInformer: list+watch with resourceVersion into a local cache (the client-go reflector algorithm).
 * - list (paged) → replace the cache, emitting only differences → RV = list RV → synced
 * - watch from RV with bookmarks; every event advances RV
 * - server closes the stream → re-watch from RV (no relist)
 * - 410 Gone (HTTP or ERROR event) → relist at once; any other failure → back-off, then relist
 */
import type { KubeObject } from "../api/index.js";
import { Backoff, sleep } from "./backoff.js";
import {
  type ClientLogger,
  type Informer,
  InformerCache,
  type InformerOptions,
  type InformerSource,
  informerKey,
  silentLogger,
} from "./cache.js";
import { type ApiError, isGone } from "./errors.js";
import type { KubeClient, WatchEvent } from "./types.js";

export interface ApiInformerOptions extends InformerOptions {
  log?: ClientLogger;
  /** Called on list/watch failures (after logging); the informer keeps retrying. */
  onError?: (err: ApiError) => void;
  /** Back-off bounds in ms (tests shorten them). */
  backoffInitialMs?: number;
  backoffMaxMs?: number;
  /** Watch timeoutSeconds range; a fresh random value per watch spreads reconnects (default 300-600). */
  watchTimeoutSeconds?: [number, number];
}

export class ApiInformer<T extends KubeObject> extends InformerCache<T> {
  private readonly ac = new AbortController();
  private rv: string | undefined;
  private stopWatch: (() => void) | undefined;
  /** Counts for tests and metrics. */
  readonly stats = { lists: 0, watches: 0, errors: 0 };
  readonly done: Promise<void>;

  constructor(
    private readonly client: KubeClient,
    kind: string,
    private readonly opts: ApiInformerOptions = {},
  ) {
    super(kind, opts.log ?? silentLogger, opts.transform);
    this.done = this.run();
  }

  override stop(): void {
    this.ac.abort();
    this.stopWatch?.();
    super.stop();
  }

  private failed(err: ApiError, what: string): void {
    this.stats.errors++;
    this.log.warn({ kind: this.kind, code: err.code, reason: err.reason, err: err.message }, `informer ${what} failed`);
    this.opts.onError?.(err);
  }

  private async run(): Promise<void> {
    const backoff = new Backoff(this.opts.backoffInitialMs ?? 200, this.opts.backoffMaxMs ?? 30_000);
    const signal = this.ac.signal;
    const [tmin, tmax] = this.opts.watchTimeoutSeconds ?? [300, 600];
    const sel = {
      namespace: this.opts.namespace,
      labelSelector: this.opts.labelSelector,
      fieldSelector: this.opts.fieldSelector,
    };
    while (!signal.aborted) {
      if (this.rv === undefined) {
        this.stats.lists++;
        const r = await this.client.listAll(this.kind, sel);
        if (signal.aborted) return;
        if (!r.ok) {
          this.failed(r.error, "list");
          await sleep(backoff.next(), signal);
          continue;
        }
        this.replace(r.value.items as T[]);
        this.rv = r.value.metadata?.resourceVersion ?? "";
        this.markSynced();
      }
      this.stats.watches++;
      const startedAt = Date.now();
      const h = this.client.watch(
        this.kind,
        {
          ...sel,
          resourceVersion: this.rv,
          allowWatchBookmarks: true,
          timeoutSeconds: tmin + Math.floor(Math.random() * (tmax - tmin + 1)),
        },
        (ev) => this.onEvent(ev as WatchEvent<T>),
      );
      this.stopWatch = h.stop;
      const end = await h.done;
      this.stopWatch = undefined;
      if (signal.aborted) return;
      if (end.reason === "closed") {
        backoff.reset();
        // A server that closes at once must not make us spin.
        if (Date.now() - startedAt < 1000) await sleep(backoff.next(), signal);
        continue;
      }
      if (end.reason === "error") {
        this.rv = undefined; // relist
        if (isGone(end.error)) {
          this.log.debug?.({ kind: this.kind }, "watch expired (410), relisting");
          continue;
        }
        this.failed(end.error, "watch");
        await sleep(backoff.next(), signal);
      }
    }
  }

  private onEvent(ev: WatchEvent<T>): void {
    const rv = ev.object?.metadata?.resourceVersion;
    if (ev.type === "BOOKMARK") {
      if (rv) this.rv = rv;
      return;
    }
    if (!ev.object?.metadata) return;
    if (ev.type === "DELETED") this.remove(ev.object);
    else this.upsert(ev.object);
    if (rv) this.rv = rv;
  }
}

/** Informers against an apiserver, shared per kind + options (like client-go's SharedInformerFactory). */
export class ApiSource implements InformerSource {
  private readonly informers = new Map<string, ApiInformer<KubeObject>>();
  constructor(
    readonly client: KubeClient,
    private readonly defaults: Omit<ApiInformerOptions, keyof InformerOptions> = {},
  ) {}

  informer<T extends KubeObject = KubeObject>(kind: string, opts: InformerOptions = {}): Informer<T> {
    const key = informerKey(kind, opts);
    let inf = this.informers.get(key);
    if (!inf) {
      inf = new ApiInformer<KubeObject>(this.client, kind, { ...this.defaults, ...opts });
      this.informers.set(key, inf);
    }
    return inf as unknown as Informer<T>;
  }

  /** Every informer made so far (e.g. to wait for all of them to sync). */
  all(): Informer<KubeObject>[] {
    return [...this.informers.values()];
  }

  stop(): void {
    for (const i of this.informers.values()) i.stop();
    this.informers.clear();
  }
}
