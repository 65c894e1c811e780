/**
 * Namespaces as the create path needs them (exists? terminating?), kept in memory from a store watch so a
 * create does not read and decode its namespace from the store (one SELECT, or an etcd round trip, per write).
 * Like kube-apiserver's NamespaceLifecycle admission (an informer): a namespace missing from the cache is looked
 * up in the store before a create is refused, so a just-created namespace is never refused because of lag.
 * With sqlite the watch is delivered synchronously at commit, so the cache is never behind.
 */
import type { Store, WatchHandle } from "../storage/types.js";

export interface NamespaceState {
  terminating: boolean;
}

export type NamespaceLookup = (name: string) => Promise<NamespaceState | undefined>;

function stateOf(value: string): NamespaceState {
  const o = JSON.parse(value) as { metadata?: { deletionTimestamp?: string }; status?: { phase?: string } };
  return { terminating: !!o.metadata?.deletionTimestamp || o.status?.phase === "Terminating" };
}

export class NamespaceCache {
  private items = new Map<string, NamespaceState>();
  private handle: WatchHandle | undefined;
  private live = false;
  private stopped = false;
  private retry: NodeJS.Timeout | undefined;

  constructor(
    private readonly store: Store,
    private readonly prefix = "/registry/namespaces/",
  ) {}

  /** Lists and then watches the namespaces; until it is live (and after a watch failure) lookups read the store. */
  async start(): Promise<void> {
    if (this.stopped) return;
    try {
      const page = await this.store.list(this.prefix);
      const items = new Map<string, NamespaceState>();
      for (const kv of page.kvs) items.set(kv.key.slice(this.prefix.length), stateOf(kv.value));
      this.items = items;
      this.handle = this.store.watch(this.prefix, page.revision, {
        onEvent: (ev) => {
          const name = ev.kv.key.slice(this.prefix.length);
          if (ev.type === "delete") this.items.delete(name);
          else this.items.set(name, stateOf(ev.kv.value));
        },
        onError: () => this.restart(),
      });
      this.live = true;
    } catch {
      this.restart();
    }
  }

  private restart(): void {
    this.live = false;
    this.handle?.cancel();
    this.handle = undefined;
    if (this.stopped || this.retry) return;
    this.retry = setTimeout(() => {
      this.retry = undefined;
      void this.start();
    }, 1000);
    this.retry.unref();
  }

  /** The namespace's state, or undefined when it does not exist. */
  lookup: NamespaceLookup = async (name) => {
    if (this.live) {
      const hit = this.items.get(name);
      if (hit) return hit;
    }
    const kv = await this.store.get(this.prefix + name);
    return kv ? stateOf(kv.value) : undefined;
  };

  stop(): void {
    this.stopped = true;
    this.live = false;
    this.handle?.cancel();
    if (this.retry) clearTimeout(this.retry);
  }
}
