/** Runs a level-driven reconcile loop: workers take keys from a WorkQueue and call reconcile(key). */
import type { ClientLogger } from "../client/index.js";
import { WorkQueue } from "./workqueue.js";

/** What a reconcile asks for: nothing (done), a later visit, or a retry with back-off (an error). */
export type ReconcileResult = undefined | { requeueAfterMs?: number; retry?: boolean };

export interface ReconcileLoop {
  readonly name: string;
  readonly queue: WorkQueue;
  /** Resolves when every worker has exited after stop(). */
  stop(): Promise<void>;
}

export function runReconcileLoop(
  name: string,
  reconcile: (key: string) => Promise<ReconcileResult>,
  opts: { workers?: number; log: ClientLogger; queue?: WorkQueue },
): ReconcileLoop {
  const queue = opts.queue ?? new WorkQueue();
  const workers: Promise<void>[] = [];
  for (let i = 0; i < (opts.workers ?? 1); i++) {
    workers.push(
      (async () => {
        for (;;) {
          const key = await queue.get();
          if (key === undefined) return;
          try {
            const r = await reconcile(key);
            if (r?.retry) queue.addRateLimited(key);
            else {
              queue.forget(key);
              if (r?.requeueAfterMs !== undefined) queue.addAfter(key, r.requeueAfterMs);
            }
          } catch (e) {
            opts.log.warn({ controller: name, key, err: (e as Error).message }, "reconcile failed");
            queue.addRateLimited(key);
          } finally {
            queue.done(key);
          }
        }
      })(),
    );
  }
  return {
    name,
    queue,
    stop: async () => {
      queue.shutDown();
      await Promise.all(workers);
    },
  };
}
