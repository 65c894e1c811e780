/**
 * A bounded-frequency runner (kube's async.BoundedFrequencyRunner, burst 1): `run()` asks for the function to
 * run soon, but runs start at least `minIntervalMs` apart (start to start) and never overlap; without requests it
 * still runs every `maxIntervalMs`. `retryAfter(ms)` schedules an earlier run after a failure.
 */
export class BoundedFrequencyRunner {
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Number.POSITIVE_INFINITY;
  private running = false;
  private pending = false;
  private lastStart = Number.NEGATIVE_INFINITY;
  private stopped = true;
  /** Resolves when the current run (if any) finishes. */
  private current: Promise<void> = Promise.resolve();

  constructor(
    private readonly fn: () => Promise<void>,
    private readonly minIntervalMs: number,
    private readonly maxIntervalMs: number,
    /** Monotonic by default (wall-clock steps would shift the intervals). */
    private readonly now: () => number = () => performance.now(),
  ) {}

  start(): void {
    this.stopped = false;
    this.schedule(this.maxIntervalMs);
  }

  /** Requests a run as soon as the minimum interval allows. */
  run(): void {
    if (this.stopped) return;
    if (this.running) {
      this.pending = true;
      return;
    }
    const wait = Math.max(0, this.lastStart + this.minIntervalMs - this.now());
    this.schedule(wait);
  }

  retryAfter(ms: number): void {
    if (!this.stopped) this.schedule(Math.max(ms, this.minIntervalMs));
  }

  private schedule(delay: number): void {
    const at = this.now() + delay;
    if (this.timer && at >= this.timerAt) return;
    if (this.timer) clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(() => this.fire(), delay);
    this.timer.unref?.();
  }

  private fire(): void {
    this.timer = undefined;
    this.timerAt = Number.POSITIVE_INFINITY;
    if (this.stopped) return;
    if (this.running) {
      this.pending = true;
      return;
    }
    // A timer counts from the event loop's cached time, taken when the current loop turn began: set after a long
    // synchronous stretch (a render), it fires that much early. Keep the minimum interval anyway.
    const early = this.lastStart + this.minIntervalMs - this.now();
    if (early > 0) {
      this.schedule(early);
      return;
    }
    this.running = true;
    this.pending = false;
    this.lastStart = this.now();
    this.current = (async () => {
      try {
        await this.fn();
      } finally {
        this.running = false;
        if (!this.stopped) {
          this.schedule(this.maxIntervalMs);
          if (this.pending) this.run();
        }
      }
    })();
  }

  /** Stops scheduling and waits for a run in progress. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.current;
  }
}
