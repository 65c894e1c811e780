/**
 * Cache of forwarded answers (CoreDNS `cache` for `.`): positive answers live for the smallest TTL of their
 * answer records (capped at 3600 s); negative answers (NXDOMAIN, NODATA) for min(SOA TTL, SOA minimum) from the
 * authority section (RFC 2308 §5, capped at 1800 s) and are not cached without an SOA. Served copies carry TTLs
 * reduced by the time spent in the cache. Never used for the cluster zone (answers there are always current).
 */
import type { WireRR } from "../wire/message.js";
import type { UpstreamReply } from "../wire/reply.js";

const MAX_POSITIVE_TTL = 3600;
const MAX_NEGATIVE_TTL = 1800;
const TYPE_SOA = 6;

interface Entry {
  reply: UpstreamReply;
  storedAt: number;
  ttl: number;
}

export interface Clock {
  now(): number;
}
const systemClock: Clock = { now: () => Date.now() };

/** TTL (s) to cache `reply` for, 0 meaning not cacheable. */
export function cacheTtl(reply: UpstreamReply): number {
  if (reply.rcode !== 0 && reply.rcode !== 3) return 0;
  if (reply.rcode === 0 && reply.answers.length > 0) {
    let min = MAX_POSITIVE_TTL;
    for (const rr of reply.answers) min = Math.min(min, rr.ttl);
    return min;
  }
  const soa = reply.authority.find((rr) => rr.type === TYPE_SOA);
  if (!soa || soa.rdata.length < 20) return 0;
  const minimum = soa.rdata.readUInt32BE(soa.rdata.length - 4);
  return Math.min(soa.ttl, minimum, MAX_NEGATIVE_TTL);
}

function aged(rrs: readonly WireRR[], by: number): WireRR[] {
  return rrs.map((rr) => ({ ...rr, ttl: Math.max(0, rr.ttl - by) }));
}

export class AnswerCache {
  private readonly entries = new Map<string, Entry>();
  hits = 0;
  misses = 0;

  constructor(
    readonly capacity = 9984,
    private readonly clock: Clock = systemClock,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  get(key: string): UpstreamReply | undefined {
    const e = this.entries.get(key);
    if (!e) {
      this.misses++;
      return undefined;
    }
    const elapsed = Math.floor((this.clock.now() - e.storedAt) / 1000);
    if (elapsed >= e.ttl) {
      this.entries.delete(key);
      this.misses++;
      return undefined;
    }
    this.hits++;
    const r = e.reply;
    return {
      ...r,
      answers: aged(r.answers, elapsed),
      authority: aged(r.authority, elapsed),
      additional: aged(r.additional, elapsed),
    };
  }

  /** Stores `reply` if it is cacheable; returns the TTL used (0 = not stored). */
  put(key: string, reply: UpstreamReply): number {
    const ttl = cacheTtl(reply);
    if (ttl <= 0) return 0;
    if (this.entries.size >= this.capacity && !this.entries.has(key)) {
      const oldest = this.entries.keys().next().value;
      if (oldest !== undefined) this.entries.delete(oldest);
    }
    this.entries.delete(key);
    this.entries.set(key, { reply, storedAt: this.clock.now(), ttl });
    return ttl;
  }

  clear(): void {
    this.entries.clear();
  }
}
