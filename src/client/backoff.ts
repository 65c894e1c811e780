/** Exponential back-off with jitter, and a sleep that a stop signal cuts short. */
export class Backoff {
  private attempt = 0;
  constructor(
    private readonly initialMs = 200,
    private readonly maxMs = 30_000,
  ) {}
  next(): number {
    const base = Math.min(this.maxMs, this.initialMs * 2 ** this.attempt);
    this.attempt++;
    return Math.round(base * (0.75 + Math.random() * 0.5));
  }
  reset(): void {
    this.attempt = 0;
  }
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}
