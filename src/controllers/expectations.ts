/**
 * Controller expectations (as in kube-controller-manager): after a controller creates or deletes pods it
 * must not act on that owner again until its informer has seen those changes, or it would create twice.
 * Expectations lapse after a timeout so a lost event cannot wedge a controller.
 */
export class Expectations {
  private readonly pending = new Map<string, { adds: number; deletes: number; at: number }>();
  constructor(
    private readonly timeoutMs = 60_000,
    private readonly now: () => number = Date.now,
  ) {}

  expect(key: string, adds: number, deletes: number): void {
    this.pending.set(key, { adds, deletes, at: this.now() });
  }

  observeAdd(key: string): void {
    const e = this.pending.get(key);
    if (e) e.adds--;
  }

  observeDelete(key: string): void {
    const e = this.pending.get(key);
    if (e) e.deletes--;
  }

  /** A create or delete that failed will never be observed. */
  lowerAdds(key: string, n = 1): void {
    const e = this.pending.get(key);
    if (e) e.adds -= n;
  }

  lowerDeletes(key: string, n = 1): void {
    const e = this.pending.get(key);
    if (e) e.deletes -= n;
  }

  satisfied(key: string): boolean {
    const e = this.pending.get(key);
    if (!e) return true;
    if ((e.adds <= 0 && e.deletes <= 0) || this.now() - e.at > this.timeoutMs) {
      this.pending.delete(key);
      return true;
    }
    return false;
  }

  forget(key: string): void {
    this.pending.delete(key);
  }
}
