/**
 * One UDP portal socket. Each client address gets its own connected backend socket (so replies find their way
 * back, and a backend sees one steady peer per client) in a client table. An entry dies after `idleMs`
 * (`--udp-timeout`, default 250 ms like kube-proxy) without traffic — but, unlike kube-proxy, not while a
 * request is still waiting for its answer: an entry with unanswered datagrams lives until `replyWaitMs`
 * after the last one, so a DNS backend that takes 1–2 s to forward still reaches the client
 * (kubernetes/kubernetes#14939). A backend that reports ICMP unreachable is dropped and the next datagram
 * of that client goes to another endpoint (affinity reset).
 */
import dgram from "node:dgram";
import type { RoundRobinBalancer } from "./loadbalancer.js";
import type { PortMetricChildren, UserspaceMetrics } from "./metrics.js";
import { splitHostPort } from "./model.js";
import type { ProxyPortIdentity } from "./tcp.js";

export const DEFAULT_UDP_IDLE_MS = 250;
export const DEFAULT_UDP_REPLY_WAIT_MS = 5000;

interface ClientEntry {
  backend: dgram.Socket;
  endpoint: string;
  connected: boolean;
  queue: Buffer[];
  lastActivity: number;
  lastRequest: number;
  /** Datagrams sent to the backend since its last reply. */
  unanswered: number;
  timer: NodeJS.Timeout | null;
}

export interface UdpProxyOptions {
  idleMs?: number;
  replyWaitMs?: number;
  now?: () => number;
}

export class UdpProxySocket {
  private readonly socket: dgram.Socket;
  private readonly clients = new Map<string, ClientEntry>();
  private readonly idleMs: number;
  private readonly replyWaitMs: number;
  private readonly now: () => number;
  private readonly failedClients = new Set<string>();
  private readonly m: PortMetricChildren;
  port = 0;

  constructor(
    readonly id: ProxyPortIdentity,
    private readonly lb: RoundRobinBalancer,
    metrics: UserspaceMetrics,
    opts: UdpProxyOptions = {},
  ) {
    this.idleMs = opts.idleMs ?? DEFAULT_UDP_IDLE_MS;
    this.replyWaitMs = Math.max(opts.replyWaitMs ?? DEFAULT_UDP_REPLY_WAIT_MS, this.idleMs);
    this.now = opts.now ?? Date.now;
    this.m = metrics.portChildren(id.name, "udp");
    this.socket = dgram.createSocket({ type: "udp4", reuseAddr: false });
    this.socket.on("message", (msg, rinfo) => this.onClientDatagram(msg, rinfo.address, rinfo.port));
    this.socket.on("error", () => {});
  }

  listen(host: string, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      const onErr = (e: Error) => reject(e);
      this.socket.once("error", onErr);
      this.socket.bind({ address: host, port, exclusive: true }, () => {
        this.socket.removeListener("error", onErr);
        this.port = this.socket.address().port;
        resolve(this.port);
      });
    });
  }

  /** Closes the portal socket and every client entry (UDP has no connection to leave running). */
  async close(): Promise<void> {
    for (const k of [...this.clients.keys()]) this.drop(k);
    await new Promise<void>((resolve) => this.socket.close(() => resolve()));
  }

  get clientCount(): number {
    return this.clients.size;
  }

  private onClientDatagram(msg: Buffer, addr: string, port: number): void {
    const key = `${addr}:${port}`;
    let e = this.clients.get(key);
    if (!e) {
      const reset = this.failedClients.delete(key);
      const created = this.newEntry(key, addr, port, reset);
      if (!created) {
        this.m.noEp.inc();
        return;
      }
      e = created;
    }
    const now = this.now();
    e.lastActivity = now;
    e.lastRequest = now;
    e.unanswered++;
    this.m.bytesIn.inc(msg.length);
    if (e.connected) e.backend.send(msg);
    else e.queue.push(msg);
  }

  private newEntry(key: string, addr: string, port: number, resetAffinity: boolean): ClientEntry | null {
    const ep = this.lb.next(this.id.key, addr, resetAffinity);
    if (!ep) return null;
    const { host, port: bport } = splitHostPort(ep);
    const backend = dgram.createSocket("udp4");
    const e: ClientEntry = {
      backend,
      endpoint: ep,
      connected: false,
      queue: [],
      lastActivity: this.now(),
      lastRequest: this.now(),
      unanswered: 0,
      timer: null,
    };
    this.clients.set(key, e);
    this.m.accepted.inc();
    this.m.active.inc();
    backend.on("message", (reply) => {
      e.lastActivity = this.now();
      e.unanswered = 0;
      this.m.bytesOut.inc(reply.length);
      this.socket.send(reply, port, addr);
    });
    backend.on("error", () => {
      // ECONNREFUSED from an ICMP port unreachable: the endpoint is gone; the client's next datagram picks another.
      this.m.dialFail.inc();
      if (this.clients.get(key) === e) {
        this.drop(key);
        this.failedClients.add(key);
        if (this.failedClients.size > 4096) this.failedClients.clear();
      }
    });
    backend.connect(bport, host, () => {
      e.connected = true;
      for (const m of e.queue) backend.send(m);
      e.queue = [];
    });
    this.arm(key, e, this.idleMs);
    return e;
  }

  private arm(key: string, e: ClientEntry, ms: number): void {
    e.timer = setTimeout(() => this.check(key, e), ms);
    e.timer.unref();
  }

  private check(key: string, e: ClientEntry): void {
    if (this.clients.get(key) !== e) return;
    const now = this.now();
    const idleLeft = e.lastActivity + this.idleMs - now;
    const replyLeft = e.unanswered > 0 ? e.lastRequest + this.replyWaitMs - now : 0;
    const left = Math.max(idleLeft, replyLeft);
    // While a request is unanswered, look again every idle period: once answered, the entry goes idle-fast.
    if (left > 0) this.arm(key, e, e.unanswered > 0 ? Math.min(left, Math.max(idleLeft, this.idleMs)) : left);
    else this.drop(key);
  }

  private drop(key: string): void {
    const e = this.clients.get(key);
    if (!e) return;
    this.clients.delete(key);
    this.m.active.dec();
    if (e.timer) clearTimeout(e.timer);
    try {
      e.backend.close();
    } catch {
      // already closed
    }
  }
}
