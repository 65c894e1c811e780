/**
 * Round-robin load balancer with ClientIP affinity, as kube-proxy's userspace LoadBalancerRR did:
 * per service port a list of endpoints, shuffled whenever the set changes (so restarts and changes do not
 * pile every proxy onto the first endpoint), and a map client IP → endpoint whose entries live for the
 * affinity timeout since their last use. Pure: the clock and the shuffle are injected.
 */

export interface LoadBalancerOptions {
  /** Milliseconds clock (default Date.now). */
  now?: () => number;
  /** Random in [0,1) used by the shuffle (default Math.random). */
  random?: () => number;
}

interface AffinityEntry {
  endpoint: string;
  lastUsed: number;
}

interface ServiceState {
  endpoints: string[];
  index: number;
  affinityMs: number;
  affinity: Map<string, AffinityEntry>;
}

export class RoundRobinBalancer {
  private readonly services = new Map<string, ServiceState>();
  private readonly now: () => number;
  private readonly random: () => number;

  constructor(opts: LoadBalancerOptions = {}) {
    this.now = opts.now ?? Date.now;
    this.random = opts.random ?? Math.random;
  }

  /**
   * Sets a service port's ready endpoints and affinity timeout (0 = none). A changed endpoint set is
   * reshuffled and the index reset; affinity entries pointing at removed endpoints are dropped.
   */
  setService(key: string, endpoints: readonly string[], affinitySeconds: number): void {
    const affinityMs = affinitySeconds * 1000;
    const st = this.services.get(key);
    if (!st) {
      this.services.set(key, {
        endpoints: this.shuffle([...endpoints]),
        index: 0,
        affinityMs,
        affinity: new Map(),
      });
      return;
    }
    if (st.affinityMs !== affinityMs) {
      st.affinityMs = affinityMs;
      st.affinity.clear();
    }
    if (!sameSet(st.endpoints, endpoints)) {
      st.endpoints = this.shuffle([...endpoints]);
      st.index = 0;
      const live = new Set(endpoints);
      for (const [ip, a] of st.affinity) if (!live.has(a.endpoint)) st.affinity.delete(ip);
    }
  }

  removeService(key: string): void {
    this.services.delete(key);
  }

  /** Whether the service uses ClientIP affinity (callers skip looking up the client address otherwise). */
  usesAffinity(key: string): boolean {
    return (this.services.get(key)?.affinityMs ?? 0) > 0;
  }

  has(key: string): boolean {
    return this.services.has(key);
  }

  endpoints(key: string): readonly string[] {
    return this.services.get(key)?.endpoints ?? [];
  }

  /**
   * The endpoint for a new connection from clientIP, or null when the service has none.
   * `resetAffinity` (set after a failed dial) skips the affinity lookup so a dead endpoint is not retried;
   * the choice made is still recorded as the client's new affinity.
   */
  next(key: string, clientIP: string | null, resetAffinity = false): string | null {
    const st = this.services.get(key);
    if (!st || st.endpoints.length === 0) return null;
    const sticky = st.affinityMs > 0 && clientIP !== null;
    if (!sticky) {
      const ep = st.endpoints[st.index % st.endpoints.length]!;
      st.index = (st.index + 1) % st.endpoints.length;
      return ep;
    }
    const now = this.now(); // only affinity needs the clock (no Date.now() per connection otherwise)
    if (!resetAffinity) {
      const a = st.affinity.get(clientIP);
      if (a && now - a.lastUsed < st.affinityMs) {
        a.lastUsed = now;
        return a.endpoint;
      }
    }
    const ep = st.endpoints[st.index % st.endpoints.length]!;
    st.index = (st.index + 1) % st.endpoints.length;
    st.affinity.set(clientIP, { endpoint: ep, lastUsed: now });
    return ep;
  }

  /** Drops affinity entries whose age reached the timeout (kube-proxy's CleanupStaleStickySessions). */
  cleanupStaleSessions(): number {
    const now = this.now();
    let n = 0;
    for (const st of this.services.values()) {
      for (const [ip, a] of st.affinity) {
        if (now - a.lastUsed >= st.affinityMs) {
          st.affinity.delete(ip);
          n++;
        }
      }
    }
    return n;
  }

  /** Number of affinity entries of a service (for tests and metrics). */
  affinityCount(key: string): number {
    return this.services.get(key)?.affinity.size ?? 0;
  }

  private shuffle<T>(a: T[]): T[] {
    for (let i = a.length - 1; i > 0; i--) {
      const j = Math.floor(this.random() * (i + 1));
      [a[i], a[j]] = [a[j]!, a[i]!];
    }
    return a;
  }
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  const s = new Set(a);
  return b.every((x) => s.has(x));
}
