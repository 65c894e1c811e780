/**
 * UDP and TCP listeners on one address and port, handing raw messages to a handler. TCP follows RFC 7766:
 * two-octet length framing, pipelined queries answered as they complete, idle connections closed after 10 s, a
 * cap on connections and on queries in flight per connection. Nothing here knows DNS beyond framing.
 */
import dgram from "node:dgram";
import net from "node:net";
import type { ClientInfo, HandleResult } from "./handler.js";

export interface MessageHandler {
  handle(msg: Buffer, client: ClientInfo): HandleResult;
  /** Optional allocation-free path for repeated questions, tried first on UDP (then handleSlow, else handle). */
  fastReply?(msg: Buffer, proto: "udp" | "tcp", family: 4 | 6): Buffer | undefined;
  handleSlow?(msg: Buffer, client: ClientInfo): HandleResult;
}

export interface ListenAddress {
  host: string;
  port: number;
}

const TCP_IDLE_MS = 10_000;
const MAX_TCP_CONNECTIONS = 1000;
const MAX_TCP_INFLIGHT = 64;

/** Parses `HOST:PORT`, `[V6]:PORT` or `:PORT` (all addresses). */
export function parseHostPort(s: string): ListenAddress | undefined {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(s);
  if (!m) return undefined;
  const port = Number(m[3]);
  if (port > 65535) return undefined;
  const host = m[1] ?? (m[2] || "0.0.0.0");
  if (!net.isIP(host)) return undefined;
  return { host, port };
}

export class DnsTransport {
  private udp: dgram.Socket | undefined;
  private tcp: net.Server | undefined;
  private readonly conns = new Set<net.Socket>();
  /** Unexpected errors of the handler promise (should not happen: the handler catches). */
  errors = 0;

  constructor(private readonly handler: MessageHandler) {}

  /** Binds UDP and TCP on the same port (port 0: a free port for both). Returns the bound address. */
  async listen(addr: ListenAddress): Promise<ListenAddress> {
    for (let attempt = 0; ; attempt++) {
      const udp = await this.bindUdp(addr);
      const port = udp.address().port;
      try {
        this.tcp = await this.bindTcp({ host: addr.host, port });
        this.udp = udp;
        return { host: addr.host, port };
      } catch (e) {
        udp.close();
        if (addr.port !== 0 || attempt > 20) throw e;
      }
    }
  }

  private bindUdp(addr: ListenAddress): Promise<dgram.Socket> {
    const family = net.isIPv6(addr.host) ? 6 : 4;
    const sock = dgram.createSocket({ type: family === 6 ? "udp6" : "udp4" });
    return new Promise((resolve, reject) => {
      sock.once("error", reject);
      sock.bind(addr.port, addr.host, () => {
        sock.removeListener("error", reject);
        sock.on("error", () => {});
        try {
          sock.setRecvBufferSize(4 << 20);
          sock.setSendBufferSize(4 << 20);
        } catch {
          // best effort
        }
        sock.on("message", (msg, rinfo) => this.onDatagram(sock, msg, rinfo));
        resolve(sock);
      });
    });
  }

  private onDatagram(sock: dgram.Socket, msg: Buffer, rinfo: dgram.RemoteInfo): void {
    const family = rinfo.family === "IPv6" ? 6 : 4;
    const h = this.handler;
    let r: HandleResult;
    try {
      const quick = h.fastReply?.(msg, "udp", family);
      if (quick) {
        sock.send(quick, rinfo.port, rinfo.address);
        return;
      }
      const client: ClientInfo = { address: rinfo.address, family, proto: "udp" };
      r = h.fastReply && h.handleSlow ? h.handleSlow(msg, client) : h.handle(msg, client);
    } catch {
      this.errors++;
      return;
    }
    if (r === undefined) return;
    if (r instanceof Promise) {
      r.then(
        (out) => {
          if (out) sock.send(out, rinfo.port, rinfo.address);
        },
        () => {
          this.errors++;
        },
      );
    } else sock.send(r, rinfo.port, rinfo.address);
  }

  private bindTcp(addr: ListenAddress): Promise<net.Server> {
    const srv = net.createServer((s) => this.onConnection(s));
    srv.maxConnections = MAX_TCP_CONNECTIONS;
    return new Promise((resolve, reject) => {
      srv.once("error", reject);
      srv.listen(addr.port, addr.host, () => {
        srv.removeListener("error", reject);
        srv.on("error", () => {});
        resolve(srv);
      });
    });
  }

  private onConnection(sock: net.Socket): void {
    this.conns.add(sock);
    sock.setNoDelay(true);
    sock.setTimeout(TCP_IDLE_MS, () => sock.destroy());
    const client: ClientInfo = {
      address: sock.remoteAddress ?? "",
      family: sock.remoteFamily === "IPv6" ? 6 : 4,
      proto: "tcp",
    };
    let buf = Buffer.alloc(0);
    let inflight = 0;
    const write = (out: Buffer | undefined) => {
      if (!out || sock.destroyed) return;
      const len = Buffer.allocUnsafe(2);
      len.writeUInt16BE(out.length);
      sock.write(Buffer.concat([len, out]));
    };
    sock.on("data", (chunk) => {
      buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
      while (buf.length >= 2) {
        const n = buf.readUInt16BE(0);
        if (buf.length < 2 + n) break;
        const msg = buf.subarray(2, 2 + n);
        buf = buf.subarray(2 + n);
        if (inflight >= MAX_TCP_INFLIGHT) {
          sock.destroy();
          return;
        }
        let r: HandleResult;
        try {
          r = this.handler.handle(Buffer.from(msg), client);
        } catch {
          this.errors++;
          continue;
        }
        if (r instanceof Promise) {
          inflight++;
          r.then(
            (out) => {
              inflight--;
              write(out);
            },
            () => {
              inflight--;
              this.errors++;
            },
          );
        } else write(r);
      }
    });
    sock.on("error", () => sock.destroy());
    sock.on("close", () => this.conns.delete(sock));
  }

  async close(): Promise<void> {
    this.udp?.close();
    this.udp = undefined;
    for (const s of this.conns) s.destroy();
    const tcp = this.tcp;
    this.tcp = undefined;
    if (tcp) await new Promise<void>((resolve) => tcp.close(() => resolve()));
  }
}
