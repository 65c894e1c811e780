/**
 * Container restart back-off (CrashLoopBackOff): 10 s doubling up to 5 min, reset once a container has run
 * cleanly for 10 min — the kubelet's defaults. Pure: the caller passes the clock.
 */
export interface BackoffPolicy {
  initialMs: number;
  maxMs: number;
  resetAfterMs: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = { initialMs: 10_000, maxMs: 300_000, resetAfterMs: 600_000 };

export class RestartBackoff {
  private current = 0;
  constructor(private readonly policy: BackoffPolicy = DEFAULT_BACKOFF) {}

  /** Delay before the next start, given how long the last run lasted. */
  next(ranForMs: number): number {
    if (ranForMs >= this.policy.resetAfterMs) this.current = 0;
    this.current = this.current === 0 ? this.policy.initialMs : Math.min(this.current * 2, this.policy.maxMs);
    return this.current;
  }

  reset(): void {
    this.current = 0;
  }
}

/** Whether a container that exited with `exitCode` restarts under the pod's restartPolicy. */
export function shouldRestart(policy: "Always" | "OnFailure" | "Never" | undefined, exitCode: number): boolean {
  const p = policy ?? "Always";
  return p === "Always" || (p === "OnFailure" && exitCode !== 0);
}
