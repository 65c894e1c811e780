/**
 * The TCP portal on podwire's native splice engine (native/splice.c, an N-API addon built by scripts/build.mjs
 * into dist/proxier/userspace/native/podwire_splice.node): accept, dial with kube-proxy's retries, copy both ways
 * with back-pressure, half-close and close all run as C callbacks on libuv handles of Node's own event loop.
 * JavaScript is entered once per connection: the load balancer's pick (the closure below). Same behaviour as
 * tcp.ts (the handles implementation, which stays as the fallback when the addon is not built or does not load).
 *
 * Counters (accepted, active, bytes each way, dial failures, no endpoint) live in C per portal and are folded
 * into the Prometheus metrics when those are read — nothing per connection.
 *
 * Worker hand-off (`--proxy-workers`): the listening socket travels as a Node TCP handle (rawtcp.ts) opened on a
 * duplicate of the engine's descriptor; a process accepts natively on a duplicate of a handle's `fd`.
 */
import { closeSync } from "node:fs";
import { createRequire } from "node:module";
import type { RoundRobinBalancer } from "./loadbalancer.js";
import type { PortMetricChildren, UserspaceMetrics } from "./metrics.js";
import { type RawTcp, type RawTcpHandle, errnoError } from "./rawtcp.js";
import type { TcpPortal } from "./tcp.js";
import { DEFAULT_DIAL_TIMEOUTS_MS, LISTEN_BACKLOG, type ProxyPortIdentity } from "./tcpcommon.js";

/** An engine portal (an N-API external). */
type PortalRef = { readonly __nativePortal: unique symbol };

/**
 * The pick the engine calls per connection: `clientIP` is undefined until the service has asked for it (answer
 * `true` = call again with the client's IP; from then on the engine always passes it), null when unknown.
 */
type Pick = (resetAffinity: boolean, clientIP: string | null | undefined) => string | null | boolean;

export interface NativeSplice {
  create(pick: Pick, timeoutsMs: number[]): PortalRef;
  /** Bound port, or a negative errno. */
  listen(p: PortalRef, host: string, port: number, backlog: number): number;
  /** Accepts on a duplicate of a listening socket's descriptor: 0 or a negative errno. */
  listenFd(p: PortalRef, fd: number, backlog: number): number;
  /** A new descriptor of the listening socket, or a negative errno. */
  dupFd(p: PortalRef): number;
  stopListening(p: PortalRef): void;
  destroy(p: PortalRef): void;
  /** accepted, active, bytes in, bytes out, dial failures, no endpoint (cumulative). */
  stats(p: PortalRef, out: Float64Array): void;
  setFinDefer(on: boolean): void;
  setMergeFin(on: boolean): void;
}

function load(): NativeSplice | null {
  try {
    const native = createRequire(import.meta.url)("./native/podwire_splice.node") as NativeSplice;
    if (typeof native.create !== "function") return null;
    // A FIN is forwarded after one more batch of events (see tcp.ts); `now` for comparisons.
    if (process.env.PODWIRE_NATIVE_FIN === "now") native.setFinDefer(false);
    // The backend's first answer and its FIN in one segment to the client (see splice.c); `0` for comparisons.
    if (process.env.PODWIRE_NATIVE_MERGE_FIN === "0") native.setMergeFin(false);
    return native;
  } catch {
    return null; // not built (no C compiler at build time) or not loadable here: tcp.ts uses the handles
  }
}

export const nativeSplice: NativeSplice | null = load();

/** Node's TCP handle, as far as the hand-off needs it. */
interface FdHandle extends RawTcpHandle {
  readonly fd: number;
  open(fd: number): number;
}

function fdOf(h: unknown): number {
  const fd = (h as { fd?: unknown } | null)?.fd;
  return typeof fd === "number" ? fd : -1;
}

const ACCEPTED = 0;
const ACTIVE = 1;
const BYTES_IN = 2;
const BYTES_OUT = 3;
const DIAL_FAIL = 4;
const NO_EP = 5;

export class NativeTcpPortal implements TcpPortal {
  readonly protocol = "tcp" as const;
  port = 0;
  private readonly ref: PortalRef;
  private readonly m: PortMetricChildren;
  private readonly removeCollector: () => void;
  private readonly now = new Float64Array(6);
  private readonly flushed = new Float64Array(6);
  /** Whether this process accepts on the socket (false after handOff). */
  private accepting = false;
  private closed = false;
  private retired = false;
  /** A Node handle on the socket: what workers get, or the spare descriptor kept after a handOff. */
  private nodeHandle: FdHandle | null = null;

  constructor(
    private readonly native: NativeSplice,
    private readonly raw: RawTcp | null,
    readonly id: ProxyPortIdentity,
    lb: RoundRobinBalancer,
    metrics: UserspaceMetrics,
    dialTimeoutsMs: readonly number[] = DEFAULT_DIAL_TIMEOUTS_MS,
  ) {
    const key = id.key;
    // Holds lb and key only, not `this`: the engine keeps this function referenced while connections need it,
    // and a reference back to the portal object would keep both alive for ever.
    const pick: Pick = (reset, ip) =>
      ip === undefined && lb.usesAffinity(key) ? true : lb.next(key, ip ?? null, reset);
    this.ref = native.create(pick, [...dialTimeoutsMs]);
    this.m = metrics.portChildren(id.name, "tcp");
    this.removeCollector = metrics.addCollector(() => this.flushCounts());
  }

  private flushCounts(): void {
    if (this.retired) return;
    const s = this.now;
    const l = this.flushed;
    this.native.stats(this.ref, s);
    if (s[ACCEPTED]! > l[ACCEPTED]!) this.m.accepted.inc(s[ACCEPTED]! - l[ACCEPTED]!);
    if (s[ACTIVE] !== l[ACTIVE]) this.m.active.inc(s[ACTIVE]! - l[ACTIVE]!);
    if (s[BYTES_IN]! > l[BYTES_IN]!) this.m.bytesIn.inc(s[BYTES_IN]! - l[BYTES_IN]!);
    if (s[BYTES_OUT]! > l[BYTES_OUT]!) this.m.bytesOut.inc(s[BYTES_OUT]! - l[BYTES_OUT]!);
    if (s[DIAL_FAIL]! > l[DIAL_FAIL]!) this.m.dialFail.inc(s[DIAL_FAIL]! - l[DIAL_FAIL]!);
    if (s[NO_EP]! > l[NO_EP]!) this.m.noEp.inc(s[NO_EP]! - l[NO_EP]!);
    l.set(s);
    // Listener closed and no connection left: nothing will count any more.
    if (this.closed && s[ACTIVE] === 0) {
      this.retired = true;
      this.removeCollector();
    }
  }

  listen(host: string, port: number): Promise<number> {
    const r = this.native.listen(this.ref, host, port, LISTEN_BACKLOG);
    if (r < 0) {
      this.closed = true;
      this.flushCounts();
      return Promise.reject(errnoError(r, "listen"));
    }
    this.port = r;
    this.accepting = true;
    return Promise.resolve(r);
  }

  listenOn(handle: unknown): Promise<void> {
    const fd = fdOf(handle);
    if (fd < 0) return Promise.reject(new Error("not a TCP handle with a descriptor"));
    // The engine accepts on its own duplicate (listen(2) again on the shared socket, with the same backlog); the
    // handle is kept (a worker sends it back to the primary) and closed with the portal.
    const err = this.native.listenFd(this.ref, fd, LISTEN_BACKLOG);
    if (err !== 0) {
      (handle as RawTcpHandle).close?.();
      return Promise.reject(errnoError(err, "listen"));
    }
    this.nodeHandle?.close();
    this.nodeHandle = handle as FdHandle;
    this.accepting = true;
    return Promise.resolve();
  }

  shareable(): RawTcpHandle | null {
    if (this.nodeHandle) return this.nodeHandle;
    if (!this.raw || this.closed) return null;
    const fd = this.native.dupFd(this.ref);
    if (fd < 0) return null;
    const h = this.raw.newSocket() as FdHandle;
    if (typeof h.open !== "function" || h.open(fd) !== 0) {
      closeSync(fd);
      h.close();
      return null;
    }
    this.nodeHandle = h;
    return h;
  }

  handOff(spare: unknown): boolean {
    if (fdOf(spare) < 0) return false;
    if (!this.accepting || this.closed) {
      (spare as RawTcpHandle).close();
      return false;
    }
    // Two processes accepting on one socket wake each other for every connection (3-4x fewer new connections a
    // second than one acceptor). Closing our descriptor leaves the socket listening (the worker's and the spare
    // keep it), so nothing is refused meanwhile.
    this.native.stopListening(this.ref);
    this.nodeHandle?.close();
    this.nodeHandle = spare as FdHandle;
    this.accepting = false;
    return true;
  }

  acceptHere(): void {
    if (this.accepting || this.closed || !this.nodeHandle) return;
    if (this.native.listenFd(this.ref, this.nodeHandle.fd, LISTEN_BACKLOG) === 0) this.accepting = true;
  }

  close(): Promise<void> {
    if (!this.closed) {
      this.native.stopListening(this.ref);
      this.nodeHandle?.close();
      this.nodeHandle = null;
      this.accepting = false;
      this.closed = true;
      this.flushCounts();
    }
    return Promise.resolve();
  }

  destroyConnections(): void {
    this.native.destroy(this.ref);
    if (this.closed) this.flushCounts();
  }

  get connectionCount(): number {
    this.native.stats(this.ref, this.now);
    return this.now[ACTIVE]!;
  }
}
