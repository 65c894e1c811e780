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
  EDNS_PAYLOAD_CAP,
  errorReply,
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

/**
 * One pre-encoded reply. A complete reply (all records in) serves every query with the same question and EDNS mode whose
 * size limit it fits, over UDP or TCP alike; a truncated one only queries with the same limit.
 */
interface FastEntry {
  reply: Buffer;
  /** The size limit a reply that left records out (TC, or dropped additional records) was cut for; 0 = complete. */
  truncatedAt: number;
}

/** EDNS modes of the fast-path maps: no OPT, OPT, OPT with DO (the reply's OPT record differs). */
const MODES = 3;

export class DnsHandler {
  private view: ZoneView | undefined;
  private readonly fast: Map<string, FastEntry>[] = Array.from({ length: MODES }, () => new Map());
  private fastSize = 0;
  private readonly fastMax: number;
  fastHits = 0;

  constructor(private readonly opts: HandlerOptions) {
    this.fastMax = opts.fastPathEntries ?? 50000;
  }

  /** Installs a new zone view (first call = first full sync) and drops every pre-encoded reply. */
  setView(view: ZoneView): void {
    this.view = view;
    for (const m of this.fast) m.clear();
    this.fastSize = 0;
  }

  get synced(): boolean {
    return this.view !== undefined;
  }

  /**
   * The fast path, straight on the packet: a plain query (QR=0, OPCODE=0, one question, at most an EDNS0 OPT)
   * whose question was answered before gets a copy of that reply with the ID, RD/CD and — only if the client
   * used capitals — the question's letters patched in. No parse objects, no dns2; undefined = take handle().
   */
  fastReply(msg: Buffer, proto: "udp" | "tcp", family: 4 | 6): Buffer | undefined {
    const len = msg.length;
    if (len < 17 || this.fastSize === 0) return undefined;
    const b2 = msg[2] as number;
    // QR=0, OPCODE=0; QDCOUNT=1, ANCOUNT=NSCOUNT=0, ARCOUNT≤1.
    if (b2 & 0xf8 || msg[4] !== 0 || msg[5] !== 1 || msg[6] || msg[7] || msg[8] || msg[9] || msg[10]) return undefined;
    const ar = msg[11] as number;
    if (ar > 1) return undefined;
    let off = 12;
    let upper = false;
    for (;;) {
      const l = msg[off] as number;
      if (l === 0) break;
      const end = off + 1 + l;
      if (l > 63 || end >= len || end > 12 + 255) return undefined; // pointers, bad or long names: handle()
      for (let i = off + 1; i < end; i++) {
        const c = msg[i] as number;
        if (c >= 0x41 && c <= 0x5a) upper = true;
        else if (c >= 0x80) return undefined; // non-ASCII: handle() lower-cases exactly as the key wants
      }
      off = end;
    }
    const nameEnd = off + 1;
    const qEnd = nameEnd + 4;
    if (qEnd > len) return undefined;
    let mode = 0;
    let limit = 512;
    if (ar === 1) {
      // OPT: root name, type 41, class = payload size, TTL = ext-RCODE | version | DO…, RDLENGTH, options.
      if (qEnd + 11 > len || msg[qEnd] !== 0 || msg[qEnd + 1] !== 0 || msg[qEnd + 2] !== 41 || msg[qEnd + 6] !== 0)
        return undefined;
      if (qEnd + 11 + (((msg[qEnd + 9] as number) << 8) | (msg[qEnd + 10] as number)) > len) return undefined;
      const payload = ((msg[qEnd + 3] as number) << 8) | (msg[qEnd + 4] as number);
      limit = Math.min(Math.max(payload, 512), EDNS_PAYLOAD_CAP);
      mode = (msg[qEnd + 7] as number) & 0x80 ? 2 : 1;
    }
    if (proto === "tcp") limit = TCP_LIMIT;
    const key = upper
      ? msg.toString("latin1", 12, nameEnd).toLowerCase() + msg.toString("latin1", nameEnd, qEnd)
      : msg.toString("latin1", 12, qEnd);
    const e = (this.fast[mode] as Map<string, FastEntry>).get(key);
    if (e === undefined) return undefined;
    const cached = e.reply;
    if (e.truncatedAt !== 0 ? e.truncatedAt !== limit : cached.length > limit) return undefined;
    const started = this.opts.metrics ? performance.now() : 0;
    const out = Buffer.allocUnsafe(cached.length);
    cached.copy(out, 0, 0, cached.length);
    out[0] = msg[0] as number;
    out[1] = msg[1] as number;
    out[2] = ((cached[2] as number) & 0xfe) | (b2 & 0x01); // RD echoed
    out[3] = ((cached[3] as number) & 0xef) | ((msg[3] as number) & 0x10); // CD echoed
    if (upper) msg.copy(out, 12, 12, nameEnd); // the client's letter case
    this.fastHits++;
    const m = this.opts.metrics;
    if (m) {
      const qtype = ((msg[nameEnd] as number) << 8) | (msg[nameEnd + 1] as number);
      m.request(proto, family, qtype);
      m.response((cached[3] as number) & 0xf, "kubernetes", qtype, (performance.now() - started) / 1000);
    }
    return out;
  }

  /** Answers one DNS message; undefined = send nothing. Synchronous on the fast path. */
  handle(msg: Buffer, client: ClientInfo): HandleResult {
    return this.fastReply(msg, client.proto, client.family) ?? this.handleSlow(msg, client);
  }

  /** handle() without the fast path (for callers that tried fastReply themselves). */
  handleSlow(msg: Buffer, client: ClientInfo): HandleResult {
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
      if (q.edns && q.edns.version > 0) return this.finish(q, client, limit, started, "", replyOf(16, false));
      const res = q.qclass === 1 || q.qclass === 255 ? lookup(this.view, this.opts.zone, q.labels, q.qtype) : PASS;
      if (res !== PASS && res.chase === undefined) {
        const reply = this.zoneReply(res);
        const out = buildReply(q, reply, limit);
        if (this.view && res.rcode !== "SERVFAIL") {
          // Complete = nothing left out (not even additional records): then it serves any limit it fits.
          const complete =
            out.readUInt16BE(6) === reply.answers.length &&
            out.readUInt16BE(8) === reply.authority.length &&
            out.readUInt16BE(10) === reply.additional.length + (q.edns ? 1 : 0);
          this.remember(q, complete ? 0 : limit, out);
        }
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

  /** Keeps a reply for the fast path; `cutAt` = the limit it was cut for, 0 when it is complete. */
  private remember(q: Query, cutAt: number, reply: Buffer): void {
    const map = this.fast[q.edns ? (q.edns.dnssecOk ? 2 : 1) : 0] as Map<string, FastEntry>;
    const entry = { reply, truncatedAt: cutAt };
    if (map.has(q.key)) {
      map.set(q.key, entry); // e.g. a TCP reply replacing a truncated UDP one
      return;
    }
    if (this.fastSize >= this.fastMax) {
      // Drop the oldest entry of the fullest map (insertion order).
      let big = map;
      for (const m of this.fast) if (m.size > big.size) big = m;
      const oldest = big.keys().next().value;
      if (oldest !== undefined) {
        big.delete(oldest);
        this.fastSize--;
      }
    }
    map.set(q.key, entry);
    this.fastSize++;
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
