/**
 * One TCP portal listener: accepts redirected connections, dials a backend chosen by the load balancer and
 * splices the two sockets — on Node's TCP handles directly (rawtcp.ts), because net.Socket's per-connection cost
 * was the limit of the new-connection rate. This file is also the specification of the native splice engine
 * (nativetcp.ts + native/splice.c), which createTcpProxySocket prefers when the addon is built; the net.Socket
 * implementation (nettcp.ts) is the last fallback, when the handles are not reachable.
 *
 * Dialing follows kube-proxy's tryConnect: up to 4 attempts with timeouts 250 ms, 500 ms, 1 s, 2 s, each to the
 * next endpoint, with affinity ignored after a failed dial. Accepted sockets are not read before a backend is
 * connected. Half-close is forwarded (a FIN from one side shuts down the write side of the other); when both
 * directions are done, or either side errors or resets, both sockets are closed. Back-pressure: while a side's
 * write queue is not empty, the other side is not read.
 */
import type { RoundRobinBalancer } from "./loadbalancer.js";
import type { PortMetricChildren, UserspaceMetrics } from "./metrics.js";
import { splitHostPort } from "./model.js";
import { NativeTcpPortal, nativeSplice } from "./nativetcp.js";
import { NetTcpProxySocket } from "./nettcp.js";
import {
  type RawConnectReq,
  type RawShutdownReq,
  type RawTcp,
  type RawTcpHandle,
  type RawWriteReq,
  UV_EOF,
  errnoError,
  rawTcp,
} from "./rawtcp.js";
import { DEFAULT_DIAL_TIMEOUTS_MS, LISTEN_BACKLOG, type ProxyPortIdentity, clientIPOf } from "./tcpcommon.js";

export { DEFAULT_DIAL_TIMEOUTS_MS, type ProxyPortIdentity, clientIPOf };

/** A TCP portal listener, whichever implementation. */
export interface TcpPortal {
  readonly id: ProxyPortIdentity;
  readonly protocol: "tcp";
  port: number;
  /** Binds host:port (port 0 = kernel's choice) and resolves with the bound port. */
  listen(host: string, port: number): Promise<number>;
  /** Accepts on a listening socket another process bound and shared (see shareable()). */
  listenOn(handle: unknown): Promise<void>;
  /** What worker processes get over IPC to accept on the same socket. */
  shareable(): unknown;
  /**
   * A worker accepts on this socket now: stop accepting here and keep `spare` (this process's unwatched
   * descriptor of the same socket, sent back by the worker) for re-sharing or accepting again. False (and
   * `spare` is closed) when there is nothing to hand off — already done, or not supported.
   */
  handOff(spare: unknown): boolean;
  /** Accept in this process again (the socket is no longer shared: ClientIP affinity lives here). */
  acceptHere(): void;
  /** Stops accepting. Established connections are left alone (endpoint or service changes never cut them). */
  close(): Promise<void>;
  /** Destroys every proxied connection (process shutdown). */
  destroyConnections(): void;
  readonly connectionCount: number;
}

export function createTcpProxySocket(
  id: ProxyPortIdentity,
  lb: RoundRobinBalancer,
  metrics: UserspaceMetrics,
  dialTimeoutsMs: readonly number[] = DEFAULT_DIAL_TIMEOUTS_MS,
): TcpPortal {
  if (tcpImplementation === "native")
    return new NativeTcpPortal(nativeSplice!, rawTcp, id, lb, metrics, dialTimeoutsMs);
  return rawTcp
    ? new TcpProxySocket(rawTcp, id, lb, metrics, dialTimeoutsMs)
    : new NetTcpProxySocket(id, lb, metrics, dialTimeoutsMs);
}

export type TcpImplementation = "native" | "handles" | "net";

/**
 * native (the C splice engine, nativetcp.ts) → handles (Node's TCP handles, this file) → net (net.Socket,
 * nettcp.ts), whichever loads first; `PODWIRE_USERSPACE_TCP=native|handles|net` picks one (a missing one falls
 * back down the chain). The native engine needs the handles too: the worker hand-off passes its socket as one.
 */
function chooseImplementation(): TcpImplementation {
  const want = process.env.PODWIRE_USERSPACE_TCP;
  if (!rawTcp) return "net"; // also PODWIRE_USERSPACE_TCP=net (rawtcp.ts yields null then)
  if (want === "handles") return "handles";
  return nativeSplice ? "native" : "handles";
}

/** Which implementation createTcpProxySocket uses. */
export const tcpImplementation: TcpImplementation = chooseImplementation();

/** One proxied connection. */
interface Conn {
  owner: TcpProxySocket;
  client: ConnHandle;
  backend: ConnHandle | null;
  /** Client IP for affinity (null: the service has none). */
  clientIP: string | null;
  /** Dial attempt in progress (index into the timeouts); its deadline in DialTicker ticks while dialing. */
  attempt: number;
  dialDeadline: number;
  /** FIN received from the client / from the backend. */
  clientEof: boolean;
  backendEof: boolean;
  /** Our FIN sent (shutdown completed) to the client / to the backend. */
  clientShut: boolean;
  backendShut: boolean;
  closed: boolean;
  bytesIn: number;
  bytesOut: number;
}

/** A handle of a proxied connection: carries its connection, so the callbacks below are shared, not closures. */
interface ConnHandle extends RawTcpHandle {
  conn: Conn | null;
}

interface DialReq extends RawConnectReq {
  conn: Conn;
  backend: ConnHandle;
}

/** A write still in libuv's queue: its completion resumes reading the source. */
interface PendingWrite extends RawWriteReq {
  conn: Conn | null;
  src: RawTcpHandle | null;
}

interface PendingShutdown extends RawShutdownReq {
  conn: Conn;
  toClient: boolean;
}

// Shared callbacks (called with the handle or request as `this`): no closure per connection, write or shutdown.
function onReadShared(this: ConnHandle, buf: ArrayBuffer | undefined): void {
  const conn = this.conn;
  if (conn) conn.owner.onRead(conn, this, buf);
}
function onConnectDone(this: DialReq, status: number): void {
  this.conn.owner.afterConnect(this.conn, this.backend, status);
}
function onWriteDone(this: PendingWrite, status: number): void {
  const { conn, src } = this;
  this.buffer = null;
  this.conn = null;
  this.src = null;
  if (conn && src) conn.owner.afterWrite(conn, src, this.handle, status);
}
function onShutdownDone(this: PendingShutdown, status: number): void {
  this.conn.owner.afterShutdown(this.conn, this.toClient, status);
}

/**
 * Dial timeouts of every portal on one coarse timer (TICK_MS resolution) instead of a setTimeout/clearTimeout
 * pair per dial: the timer runs only while some dial is pending.
 */
const TICK_MS = 25;
class DialTicker {
  private tick = 0;
  private readonly dialing = new Set<Conn>();
  private timer: NodeJS.Timeout | null = null;

  /** Registers conn's current dial to time out after ms. */
  add(conn: Conn, ms: number): void {
    // +1: the first tick may come at once, so a timeout never fires early
    conn.dialDeadline = this.tick + Math.ceil(ms / TICK_MS) + 1;
    this.dialing.add(conn);
    if (!this.timer) {
      this.timer = setInterval(() => this.onTick(), TICK_MS);
      this.timer.unref(); // the listeners keep the process alive, not pending dials
    }
  }

  delete(conn: Conn): void {
    this.dialing.delete(conn);
  }

  private onTick(): void {
    this.tick++;
    if (this.dialing.size === 0) {
      if (this.timer) clearInterval(this.timer);
      this.timer = null;
      return;
    }
    for (const conn of this.dialing) {
      if (conn.dialDeadline <= this.tick) {
        this.dialing.delete(conn);
        conn.owner.dialFailed(conn);
      }
    }
  }
}
const dialTicker = new DialTicker();

/**
 * One write request object for all writes that complete at once (nearly all of them: the kernel takes the
 * data in the write(2)); a request that ends up queued keeps its object and the next write gets a new one.
 */
let spareWriteReq: PendingWrite | null = null;

/**
 * FINs to forward, sent after the current and the next batch of events. Typically the backend's answer ends
 * with its FIN, the client reads the answer and closes at once, and its FIN is already there in the next batch:
 * then both sides are simply closed (close(2) sends our FIN) — no shutdown request, no epoll change, no
 * cancelled-request callback per connection. Otherwise the shutdown goes out one loop turn later than before.
 */
let finsDueNow: { conn: Conn; toClient: boolean }[] = [];
let finsDueNext: { conn: Conn; toClient: boolean }[] = [];
let finsScheduled = false;
function deferFin(conn: Conn, toClient: boolean): void {
  finsDueNext.push({ conn, toClient });
  scheduleFins();
}
function scheduleFins(): void {
  if (finsScheduled) return;
  finsScheduled = true;
  setImmediate(runFins);
}
function runFins(): void {
  finsScheduled = false;
  const due = finsDueNow;
  finsDueNow = finsDueNext;
  finsDueNext = [];
  for (const f of due) f.conn.owner.sendFin(f.conn, f.toClient);
  if (finsDueNow.length) scheduleFins(); // an immediate set from an immediate runs after the next poll
}

export class TcpProxySocket implements TcpPortal {
  readonly protocol = "tcp" as const;
  private handle: RawTcpHandle | null = null;
  /** Whether this process accepts on `handle` (false after handOff). */
  private accepting = false;
  private readonly conns = new Set<Conn>();
  private readonly m: PortMetricChildren;
  private readonly usesAffinity: () => boolean;
  // Counts since the last flush into the Prometheus children (see UserspaceMetrics.addCollector).
  private nAccepted = 0;
  private nActive = 0;
  private nBytesIn = 0;
  private nBytesOut = 0;
  private readonly removeCollector: () => void;
  port = 0;

  constructor(
    private readonly raw: RawTcp,
    readonly id: ProxyPortIdentity,
    private readonly lb: RoundRobinBalancer,
    metrics: UserspaceMetrics,
    private readonly dialTimeoutsMs: readonly number[] = DEFAULT_DIAL_TIMEOUTS_MS,
  ) {
    this.m = metrics.portChildren(id.name, "tcp");
    this.usesAffinity = () => lb.usesAffinity(id.key);
    this.removeCollector = metrics.addCollector(() => this.flushCounts());
  }

  private flushCounts(): void {
    if (this.nAccepted) this.m.accepted.inc(this.nAccepted);
    if (this.nActive) this.m.active.inc(this.nActive);
    if (this.nBytesIn) this.m.bytesIn.inc(this.nBytesIn);
    if (this.nBytesOut) this.m.bytesOut.inc(this.nBytesOut);
    this.nAccepted = this.nActive = this.nBytesIn = this.nBytesOut = 0;
  }

  listen(host: string, port: number): Promise<number> {
    const h = this.raw.newServer();
    let err = h.bind(host, port);
    // libuv reports EADDRINUSE from listen(), not bind()
    if (err === 0) err = h.listen(LISTEN_BACKLOG);
    if (err !== 0) {
      h.close();
      this.retireCollector();
      return Promise.reject(errnoError(err, "listen"));
    }
    // Accepted sockets inherit TCP_NODELAY from the listener (one setsockopt(2) here, none per connection).
    h.setNoDelay(true);
    const out: { port?: number } = {};
    h.getsockname(out);
    this.port = out.port ?? 0;
    this.accept(h);
    return Promise.resolve(this.port);
  }

  listenOn(handle: unknown): Promise<void> {
    if (!this.raw.isHandle(handle)) return Promise.reject(new Error("not a TCP handle"));
    // Starts accepting in this process; listen(2) again on the shared socket, with the same backlog.
    const err = handle.listen(LISTEN_BACKLOG);
    if (err !== 0) {
      handle.close();
      return Promise.reject(errnoError(err, "listen"));
    }
    handle.setNoDelay(true); // already set by the primary on the same socket; harmless, and sure
    this.accept(handle);
    return Promise.resolve();
  }

  shareable(): RawTcpHandle | null {
    return this.handle;
  }

  handOff(spare: unknown): boolean {
    if (!this.raw.isHandle(spare)) return false;
    if (!this.accepting || !this.handle) {
      spare.close();
      return false;
    }
    // Two processes accepting on one socket wake each other for every connection; measured 3-4x fewer new
    // connections per second than one acceptor. Closing our watched descriptor leaves the socket listening
    // (the worker's and the spare descriptor keep it), so nothing is refused meanwhile.
    this.handle.close();
    this.handle = spare;
    this.accepting = false;
    return true;
  }

  acceptHere(): void {
    if (this.accepting || !this.handle) return;
    if (this.handle.listen(LISTEN_BACKLOG) === 0) this.accept(this.handle);
  }

  close(): Promise<void> {
    this.handle?.close();
    this.handle = null;
    this.accepting = false;
    if (this.conns.size === 0) this.retireCollector();
    return Promise.resolve();
  }

  /** Listener closed and no connection left: nothing will count any more. */
  private retireCollector(): void {
    this.flushCounts();
    this.removeCollector();
  }

  destroyConnections(): void {
    for (const c of [...this.conns]) this.release(c);
  }

  get connectionCount(): number {
    return this.conns.size;
  }

  private accept(h: RawTcpHandle): void {
    this.handle = h;
    this.accepting = true;
    // err < 0: accept failed (EMFILE: libuv already dropped the connection); keep listening.
    h.onconnection = (err, client) => {
      if (err === 0 && client) this.onConnection(client);
    };
  }

  private onConnection(client: RawTcpHandle): void {
    this.nAccepted++;
    this.nActive++;
    // getpeername(2) only when affinity needs the client's address.
    let clientIP: string | null = null;
    if (this.usesAffinity()) {
      const out: { address?: string } = {};
      if (client.getpeername(out) === 0) clientIP = clientIPOf(out.address);
    }
    const conn: Conn = {
      owner: this,
      client: client as ConnHandle,
      backend: null,
      clientIP,
      attempt: 0,
      dialDeadline: 0,
      clientEof: false,
      backendEof: false,
      clientShut: false,
      backendShut: false,
      closed: false,
      bytesIn: 0,
      bytesOut: 0,
    };
    conn.client.conn = conn;
    this.conns.add(conn);
    this.dial(conn, false);
  }

  /** Endpoint "ip:port" → parsed, kept while the endpoint is in use (no string split per dial). */
  private readonly endpoints = new Map<string, { host: string; port: number }>();

  private dial(conn: Conn, resetAffinity: boolean): void {
    if (conn.closed) return;
    const attempt = conn.attempt;
    const ep = attempt < this.dialTimeoutsMs.length ? this.lb.next(this.id.key, conn.clientIP, resetAffinity) : null;
    if (!ep) {
      this.m.noEp.inc();
      this.release(conn);
      return;
    }
    let hp = this.endpoints.get(ep);
    if (!hp) {
      if (this.endpoints.size >= 1024) this.endpoints.clear(); // bounded under endpoint churn
      hp = splitHostPort(ep);
      this.endpoints.set(ep, hp);
    }
    const b = this.raw.newSocket() as ConnHandle;
    b.setNoDelay(true); // no fd yet: libuv applies it when connect() creates the socket
    b.conn = conn;
    conn.backend = b;
    const req = this.raw.newConnectReq() as DialReq;
    req.oncomplete = onConnectDone;
    req.conn = conn;
    req.backend = b;
    if (b.connect(req, hp.host, hp.port) !== 0) {
      this.dialFailed(conn);
      return;
    }
    // Reading is armed with the connect (one epoll registration for both; libuv reports the connect first).
    // Nothing arrives before the connection is up, and the client is read only once it is (see afterConnect).
    b.onread = onReadShared;
    b.readStart();
    dialTicker.add(conn, this.dialTimeoutsMs[attempt]!);
  }

  /** The current dial attempt failed (refused, error or timed out): next endpoint, affinity ignored. */
  dialFailed(conn: Conn): void {
    if (conn.closed) return;
    dialTicker.delete(conn);
    const b = conn.backend;
    if (b) {
      b.conn = null; // a pending connect completes with ECANCELED: ignored (afterConnect sees another backend)
      b.close();
    }
    conn.backend = null;
    this.m.dialFail.inc();
    conn.attempt++;
    // after a failed dial, do not send the client back to the endpoint that just failed
    this.dial(conn, true);
  }

  afterConnect(conn: Conn, b: ConnHandle, status: number): void {
    if (conn.closed || conn.backend !== b) return; // timed out meanwhile, or closed
    if (status < 0) {
      this.dialFailed(conn); // refused: next endpoint at once
      return;
    }
    dialTicker.delete(conn);
    const c = conn.client;
    c.onread = onReadShared;
    c.readStart();
  }

  onRead(conn: Conn, src: ConnHandle, buf: ArrayBuffer | undefined): void {
    const n = this.raw.nread();
    const fromClient = src === conn.client;
    const dst = fromClient ? conn.backend : conn.client;
    if (n > 0) {
      if (conn.closed || !dst) return;
      if (fromClient) conn.bytesIn += n;
      else conn.bytesOut += n;
      const data = new Uint8Array(buf!, this.raw.offset(), n);
      let req = spareWriteReq;
      if (req) spareWriteReq = null;
      else {
        req = this.raw.newWriteReq() as PendingWrite;
        req.oncomplete = onWriteDone;
      }
      req.handle = dst;
      req.conn = conn;
      req.src = src;
      if (dst.writeBuffer(req, data) !== 0) {
        req.conn = null;
        req.src = null;
        spareWriteReq = req;
        this.release(conn);
        return;
      }
      if (this.raw.lastWriteAsync()) {
        // The kernel buffer is full: keep the data until the write completes and stop reading the source
        // until the queue is empty again (back-pressure; memory per connection stays bounded).
        req.buffer = data;
        src.readStop();
      } else {
        req.conn = null;
        req.src = null;
        spareWriteReq = req;
      }
      return;
    }
    if (n === 0) return; // EAGAIN
    if (n !== UV_EOF || !dst) {
      this.release(conn); // reset or error: cut both sides
      return;
    }
    this.onEof(conn, fromClient);
  }

  /** Completion of a write that was queued: resume reading its source once the queue is empty. */
  afterWrite(conn: Conn, src: RawTcpHandle, dst: RawTcpHandle, status: number): void {
    if (conn.closed) return;
    if (status < 0) {
      this.release(conn);
      return;
    }
    const srcEof = src === conn.client ? conn.clientEof : conn.backendEof;
    if (dst.writeQueueSize === 0 && !srcEof) src.readStart();
  }

  /** FIN from one side: forward it to the other (after the queued data); close both when both are done. */
  private onEof(conn: Conn, fromClient: boolean): void {
    if (fromClient) conn.clientEof = true;
    else conn.backendEof = true;
    // Both FINs read and nothing queued either way: close() sends each side its FIN (the receive queues are
    // empty, so no reset) — one shutdown(2) fewer, and a still pending shutdown of the first direction is moot.
    const { client, backend } = conn;
    if (conn.clientEof && conn.backendEof && client.writeQueueSize === 0 && backend!.writeQueueSize === 0) {
      this.release(conn);
      return;
    }
    deferFin(conn, !fromClient);
  }

  /** Sends the FIN deferred by onEof (shutdown(2) after the queued data), unless the connection is gone. */
  sendFin(conn: Conn, toClient: boolean): void {
    const dst = toClient ? conn.client : conn.backend;
    if (conn.closed || !dst) return;
    const req = this.raw.newShutdownReq() as PendingShutdown;
    req.handle = dst;
    req.oncomplete = onShutdownDone;
    req.conn = conn;
    req.toClient = toClient;
    const err = dst.shutdown(req);
    if (err === 1)
      this.afterShutdown(conn, toClient, 0); // completed synchronously
    else if (err !== 0) this.release(conn);
  }

  afterShutdown(conn: Conn, toClient: boolean, status: number): void {
    if (conn.closed) return;
    if (status < 0) {
      this.release(conn);
      return;
    }
    if (toClient) conn.clientShut = true;
    else conn.backendShut = true;
    if (conn.clientShut && conn.backendShut) this.release(conn);
  }

  /** Closes both sockets (a clean close after both FINs, else the kernel resets what is unread) and counts. */
  private release(conn: Conn): void {
    if (conn.closed) return;
    conn.closed = true;
    dialTicker.delete(conn);
    conn.client.conn = null;
    conn.client.close();
    if (conn.backend) {
      conn.backend.conn = null;
      conn.backend.close();
    }
    conn.backend = null;
    this.conns.delete(conn);
    this.nActive--;
    this.nBytesIn += conn.bytesIn;
    this.nBytesOut += conn.bytesOut;
    if (!this.handle && this.conns.size === 0) this.retireCollector();
  }
}
