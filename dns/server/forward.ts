/**
 * Forwarding to upstream resolvers (CoreDNS `forward`): UDP first, TCP when the reply is truncated, the next
 * upstream on timeout or error, at most `maxConcurrent` queries in flight (above that: REFUSED, like CoreDNS).
 * Replies are matched by ID and question; anything else arriving on the socket is ignored.
 */
import { randomInt } from "node:crypto";
import dgram from "node:dgram";
import net from "node:net";
import { readFileSync } from "node:fs";
import { EDNS_PAYLOAD_CAP } from "../wire/message.js";
import type { Query } from "../wire/query.js";
import { parseUpstreamReply, type UpstreamReply } from "../wire/reply.js";

export interface Upstream {
  host: string;
  port: number;
}

export interface ForwardOptions {
  timeoutMs?: number;
  maxConcurrent?: number;
}

export class ForwardError extends Error {
  constructor(
    message: string,
    readonly refused = false,
  ) {
    super(message);
  }
}

interface Pending {
  key: string;
  resolve(r: UpstreamReply): void;
  reject(e: Error): void;
  timer: NodeJS.Timeout;
}

/** The nameservers of a resolv.conf (port 53). */
export function upstreamsFromResolvConf(path = "/etc/resolv.conf"): Upstream[] {
  let text = "";
  try {
    text = readFileSync(path, "utf8");
  } catch {
    return [];
  }
  const out: Upstream[] = [];
  for (const line of text.split("\n")) {
    const m = /^\s*nameserver\s+(\S+)/.exec(line);
    if (m?.[1]) out.push({ host: m[1].replace(/%.*$/, ""), port: 53 });
  }
  return out;
}

/** Encodes our query to an upstream: RD=1, the client's question (case kept), an OPT advertising 1232. */
function upstreamPacket(q: Query, id: number): Buffer {
  const buf = Buffer.alloc(12 + q.question.length + 11);
  buf.writeUInt16BE(id, 0);
  buf.writeUInt16BE(0x0100 | (q.flags & 0x0010), 2);
  buf.writeUInt16BE(1, 4);
  buf.writeUInt16BE(1, 10);
  q.question.copy(buf, 12);
  const o = 12 + q.question.length;
  buf[o] = 0;
  buf.writeUInt16BE(41, o + 1);
  buf.writeUInt16BE(EDNS_PAYLOAD_CAP, o + 3);
  return buf;
}

export class Forwarder {
  private readonly sockets = new Map<4 | 6, dgram.Socket>();
  private readonly pending = new Map<number, Pending>();
  private inFlight = 0;
  private next = 0;
  private closed = false;
  readonly timeoutMs: number;
  readonly maxConcurrent: number;

  constructor(
    readonly upstreams: readonly Upstream[],
    opts: ForwardOptions = {},
  ) {
    this.timeoutMs = opts.timeoutMs ?? 2000;
    this.maxConcurrent = opts.maxConcurrent ?? 1000;
  }

  /** Resolves `q` at the upstreams, trying each once in turn. Rejects with ForwardError. */
  async resolve(q: Query): Promise<UpstreamReply> {
    if (this.upstreams.length === 0) throw new ForwardError("no upstreams");
    if (this.inFlight >= this.maxConcurrent) throw new ForwardError("too many queries in flight", true);
    this.inFlight++;
    try {
      let last: Error = new ForwardError("no upstream answered");
      const start = this.next++ % this.upstreams.length;
      for (let i = 0; i < this.upstreams.length; i++) {
        const up = this.upstreams[(start + i) % this.upstreams.length] as Upstream;
        try {
          const r = await this.viaUdp(up, q);
          if (r.flags & 0x0200) return await this.viaTcp(up, q);
          return r;
        } catch (e) {
          last = e as Error;
        }
      }
      throw last;
    } finally {
      this.inFlight--;
    }
  }

  private socketFor(family: 4 | 6): dgram.Socket {
    let s = this.sockets.get(family);
    if (s) return s;
    s = dgram.createSocket(family === 6 ? "udp6" : "udp4");
    s.on("message", (msg) => this.onMessage(msg));
    s.on("error", () => {});
    s.unref();
    this.sockets.set(family, s);
    return s;
  }

  private onMessage(msg: Buffer): void {
    if (msg.length < 12) return;
    const p = this.pending.get(msg.readUInt16BE(0));
    if (!p) return;
    const r = parseUpstreamReply(msg);
    if (!r || r.questionKey !== p.key) return; // spoofed or stray: keep waiting
    this.pending.delete(r.id);
    clearTimeout(p.timer);
    p.resolve(r);
  }

  private freeId(): number {
    for (;;) {
      const id = randomInt(0, 65536);
      if (!this.pending.has(id)) return id;
    }
  }

  private viaUdp(up: Upstream, q: Query): Promise<UpstreamReply> {
    if (this.closed) return Promise.reject(new ForwardError("closed"));
    const id = this.freeId();
    const sock = this.socketFor(net.isIPv6(up.host) ? 6 : 4);
    return new Promise<UpstreamReply>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new ForwardError(`upstream ${up.host}:${up.port} timed out`));
      }, this.timeoutMs);
      this.pending.set(id, { key: q.key, resolve, reject, timer });
      sock.send(upstreamPacket(q, id), up.port, up.host, (err) => {
        if (!err) return;
        clearTimeout(timer);
        this.pending.delete(id);
        reject(new ForwardError(`upstream ${up.host}:${up.port}: ${err.message}`));
      });
    });
  }

  private viaTcp(up: Upstream, q: Query): Promise<UpstreamReply> {
    const id = this.freeId();
    const pkt = upstreamPacket(q, id);
    return new Promise<UpstreamReply>((resolve, reject) => {
      const sock = net.connect({ host: up.host, port: up.port });
      let data = Buffer.alloc(0);
      const fail = (msg: string) => {
        sock.destroy();
        reject(new ForwardError(`upstream ${up.host}:${up.port} (tcp): ${msg}`));
      };
      sock.setTimeout(this.timeoutMs, () => fail("timed out"));
      sock.on("error", (e) => fail(e.message));
      sock.on("connect", () => {
        const len = Buffer.alloc(2);
        len.writeUInt16BE(pkt.length);
        sock.write(Buffer.concat([len, pkt]));
      });
      sock.on("data", (chunk) => {
        data = Buffer.concat([data, chunk]);
        if (data.length < 2) return;
        const n = data.readUInt16BE(0);
        if (data.length < 2 + n) return;
        sock.destroy();
        const r = parseUpstreamReply(data.subarray(2, 2 + n));
        if (!r || r.id !== id || r.questionKey !== q.key) reject(new ForwardError("bad tcp reply"));
        else resolve(r);
      });
      sock.on("close", () => reject(new ForwardError("connection closed")));
    });
  }

  close(): void {
    this.closed = true;
    for (const s of this.sockets.values()) s.close();
    this.sockets.clear();
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(new ForwardError("closed"));
    }
    this.pending.clear();
  }
}
