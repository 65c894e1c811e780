/**
 * Local proxy-port allocation (kube-proxy's port_allocator.go): with no `--proxy-port-range` every listener
 * binds port 0 and the kernel picks; with a range, a random start then a linear scan with wrap-around
 * over the ports not yet handed out. Pure apart from the injected random source.
 */

export interface PortRange {
  base: number;
  size: number;
}

/** Parses `A-B` or `A+N` (kube-proxy's `--proxy-port-range` forms). Throws on junk or out-of-range values. */
export function parsePortRange(s: string): PortRange {
  const m = /^\s*(\d+)\s*([-+])\s*(\d+)\s*$/.exec(s);
  if (!m) throw new Error(`invalid port range ${JSON.stringify(s)}: expected A-B or A+N`);
  const a = Number(m[1]);
  const b = Number(m[3]);
  const base = a;
  const size = m[2] === "-" ? b - a + 1 : b + 1;
  if (a < 1 || a > 65535 || size < 1 || base + size - 1 > 65535)
    throw new Error(`invalid port range ${JSON.stringify(s)}: must lie within 1-65535 with start ≤ end`);
  return { base, size };
}

export class PortAllocator {
  private readonly used = new Set<number>();

  constructor(
    readonly range: PortRange | null,
    private readonly random: () => number = Math.random,
  ) {}

  /** A free port from the range, or 0 (kernel's choice) without a range. Throws when the range is exhausted. */
  allocate(): number {
    if (!this.range) return 0;
    const { base, size } = this.range;
    const start = Math.floor(this.random() * size);
    for (let i = 0; i < size; i++) {
      const p = base + ((start + i) % size);
      if (!this.used.has(p)) {
        this.used.add(p);
        return p;
      }
    }
    throw new Error(`no remaining ports in range ${base}-${base + size - 1}`);
  }

  /** Marks a port taken (e.g. one the kernel picked, or one found busy when binding). */
  markUsed(port: number): void {
    if (this.range && this.inRange(port)) this.used.add(port);
  }

  release(port: number): void {
    this.used.delete(port);
  }

  inRange(port: number): boolean {
    return !!this.range && port >= this.range.base && port < this.range.base + this.range.size;
  }

  get inUse(): number {
    return this.used.size;
  }
}
