/**
 * The request path, in one place: parse (bounded) → fast path (pre-encoded replies for repeated questions) →
 * cluster zone → cache → forward. Any error on the way becomes SERVFAIL; a rejected promise never escapes.
 *
 * The fast path keeps the encoded reply of every authoritative answer, keyed by the lower-cased question and
 * the reply's size class; a repeat question costs one map lookup and a copy with the ID, RD/CD bits and the
 * question's letter case patched in. Any change of the zone view drops all of them, so they are never stale.
 */
import { type ZoneAnswer, RCode, type ZoneRecord } from "../records.js";
import { lookup, PASS } from "../zone/lookup.js";
import type { ZoneOptions, ZoneView } from "../zone/view.js";
import {
  buildReply,
  errorReply,
  patchCachedReply,
  type Reply,
  TCP_LIMIT,
  udpLimit,
  type WireRR,
} from "../wire/message.js";
import { makeQuery, parseQuery, type Query } from "../wire/query.js";
import type { UpstreamReply } from "../wire/reply.js";
import { toWire } from "../wire/rr.js";
import type { AnswerCache } from "./cache.js";
import type { DnsMetrics } from "./metrics.js";

export interface Resolver {
  resolve(q: Query): Promise<UpstreamReply>;
}

export interface ClientInfo {
  address: string;
  family: 4 | 6;
  proto: "udp" | "tcp";
}

export interface HandlerOptions {
  zone: ZoneOptions;
  /** Upstream resolution; absent = no forwarding (out-of-zone names are REFUSED). */
  forwarder?: Resolver;
  /** Stub domains: names under `suffix` (lower case, no trailing dot) go to their own resolver (longest wins). */
  stubs?: readonly { suffix: string; resolver: Resolver }[];
  cache?: AnswerCache;
  /** May this client use the forward chain? */
  allowRecursion(address: string): boolean;
  metrics?: DnsMetrics;
  /** Most pre-encoded replies kept (oldest dropped first). */
  fastPathEntries?: number;
}

export type HandleResult = Buffer | undefined | Promise<Buffer | undefined>;

const empty: readonly WireRR[] = [];

export class DnsHandler {
  private view: ZoneView | undefined;
  private readonly fast = new Map<string, Buffer>();
  private readonly fastMax: number;
  fastHits = 0;

  constructor(private readonly opts: HandlerOptions) {
    this.fastMax = opts.fastPathEntries ?? 50000;
  }

  /** Installs a new zone view (first call = first full sync) and drops every pre-encoded reply. */
  setView(view: ZoneView): void {
    this.view = view;
    this.fast.clear();
  }

  get synced(): boolean {
    return this.view !== undefined;
  }

  /** Answers one DNS message; undefined = send nothing. Synchronous on the fast path. */
  handle(msg: Buffer, client: ClientInfo): HandleResult {
    const started = this.opts.metrics ? performance.now() : 0;
    const p = parseQuery(msg);
    if (p.kind === "drop") return undefined;
    if (p.kind === "error") {
      this.count(client, 0, p.rcode, "", started);
      return errorReply(p.id, p.flags, p.rcode);
    }
    const q = p.query;
    const limit = client.proto === "tcp" ? TCP_LIMIT : udpLimit(q);
    try {
      const key = `${q.key}|${limit}|${q.edns ? (q.edns.dnssecOk ? "D" : "E") : "N"}`;
      const hit = this.fast.get(key);
      if (hit) {
        this.fastHits++;
        this.count(client, q.qtype, (hit[3] as number) & 0xf, "kubernetes", started);
        return patchCachedReply(hit, q);
      }
      if (q.edns && q.edns.version > 0) return this.finish(q, client, limit, started, "", replyOf(16, false));
      const res = q.qclass === 1 || q.qclass === 255 ? lookup(this.view, this.opts.zone, q.labels, q.qtype) : PASS;
      if (res !== PASS && res.chase === undefined) {
        const reply = this.zoneReply(res);
        const out = buildReply(q, reply, limit);
        if (this.view && res.rcode !== "SERVFAIL") this.remember(key, out);
        this.count(client, q.qtype, reply.rcode, "kubernetes", started);
        return out;
      }
      return this.recurse(q, client, limit, started, res === PASS ? undefined : res).catch(() =>
        this.finish(q, client, limit, started, "", replyOf(RCode.SERVFAIL, false)),
      );
    } catch {
      return this.finish(q, client, limit, started, "", replyOf(RCode.SERVFAIL, false));
    }
  }

  private zoneReply(res: ZoneAnswer): Reply {
    const w = (rs: ZoneRecord[]) => rs.map(toWire);
    return {
      rcode: RCode[res.rcode],
      aa: res.rcode !== "SERVFAIL" && res.rcode !== "REFUSED",
      ra: this.opts.forwarder !== undefined || (this.opts.stubs?.length ?? 0) > 0,
      answers: w(res.answers),
      authority: w(res.authority),
      additional: w(res.additional),
    };
  }

  private finish(q: Query, client: ClientInfo, limit: number, started: number, plugin: string, r: Reply): Buffer {
    try {
      const out = buildReply(q, r, limit);
      this.count(client, q.qtype, r.rcode, plugin, started);
      return out;
    } catch {
      return errorReply(q.id, q.flags, RCode.SERVFAIL);
    }
  }

  /** Forward chain for names outside our zones, and for CNAMEs of ExternalName services pointing out. */
  private async recurse(
    q: Query,
    client: ClientInfo,
    limit: number,
    started: number,
    partial: ZoneAnswer | undefined,
  ): Promise<Buffer | undefined> {
    const target = partial?.chase ?? q.labels.join(".");
    const allowed = this.resolverFor(target) !== undefined && this.opts.allowRecursion(client.address);
    if (partial) {
      // ExternalName: the CNAME is ours; its target's records come from upstream when the client may recurse.
      const base = this.zoneReply(partial);
      if (!allowed || partial.chase === undefined) return this.finish(q, client, limit, started, "kubernetes", base);
      try {
        const up = await this.upstream(makeQuery(partial.chase, q.qtype, q));
        return this.finish(q, client, limit, started, "kubernetes", {
          ...base,
          rcode: up.rcode,
          answers: [...base.answers, ...up.answers],
        });
      } catch {
        return this.finish(q, client, limit, started, "kubernetes", base);
      }
    }
    if (!allowed) return this.finish(q, client, limit, started, "", replyOf(RCode.REFUSED, false));
    try {
      const up = await this.upstream(q);
      return this.finish(q, client, limit, started, "forward", {
        rcode: up.rcode,
        aa: false,
        ra: true,
        answers: up.answers,
        authority: up.authority,
        additional: up.additional,
      });
    } catch (e) {
      const refused = (e as { refused?: boolean }).refused === true;
      return this.finish(q, client, limit, started, "forward", replyOf(refused ? RCode.REFUSED : RCode.SERVFAIL, true));
    }
  }

  private async upstream(q: Query): Promise<UpstreamReply> {
    const cacheKey = `${q.key}|${q.flags & 0x0010 ? "cd" : ""}`;
    const cache = this.opts.cache;
    const cached = cache?.get(cacheKey);
    if (this.opts.metrics) {
      if (cached) this.opts.metrics.cacheHits++;
      else this.opts.metrics.cacheMisses++;
    }
    if (cached) return cached;
    if (this.opts.metrics) this.opts.metrics.forwardRequests++;
    const resolver = this.resolverFor(q.labels.join("."));
    if (!resolver) throw new Error("no resolver");
    const r = await resolver.resolve(q);
    cache?.put(cacheKey, r);
    return r;
  }

  /** The stub domain resolver with the longest suffix matching `name`, else the default forwarder. */
  private resolverFor(name: string): Resolver | undefined {
    let best: { suffix: string; resolver: Resolver } | undefined;
    for (const s of this.opts.stubs ?? []) {
      const matches = name === s.suffix || name.endsWith(`.${s.suffix}`);
      if (matches && (!best || s.suffix.length > best.suffix.length)) best = s;
    }
    return best?.resolver ?? this.opts.forwarder;
  }

  private remember(key: string, reply: Buffer): void {
    if (this.fast.size >= this.fastMax) {
      const oldest = this.fast.keys().next().value;
      if (oldest !== undefined) this.fast.delete(oldest);
    }
    this.fast.set(key, reply);
  }

  private count(client: ClientInfo, qtype: number, rcode: number, plugin: string, started: number): void {
    const m = this.opts.metrics;
    if (!m) return;
    m.request(client.proto, client.family, qtype);
    m.response(rcode, plugin, qtype, (performance.now() - started) / 1000);
  }
}

function replyOf(rcode: number, ra: boolean): Reply {
  return { rcode, aa: false, ra, answers: empty, authority: empty, additional: empty };
}
