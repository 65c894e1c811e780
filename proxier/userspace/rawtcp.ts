/**
 * Typed access to Node's own TCP handle bindings (`tcp_wrap`, `stream_wrap`) — the layer under net.Socket.
 *
 * Why: a proxied connection costs a net.Socket pair (two Duplex streams with their states, emitters, nextTick
 * hops and timers) — measured at ~250 µs of JavaScript per connection on the 2-vCPU development VM against
 * ~20 µs in haproxy, which capped the new-connection rate at ~0.3× haproxy. With the bare handles the same work
 * is ~50 µs. These are the objects net.js itself drives; `process.binding` keeps them reachable (allow-listed,
 * no runtime deprecation warning in Node 20). If a future Node drops them, `rawTcp` is null and tcp.ts falls back
 * to net.Socket (nettcp.ts).
 */
import { getSystemErrorName } from "node:util";

/** A libuv TCP handle (`TCPWrap`). Errors are negative errno numbers. */
export interface RawTcpHandle {
  bind(ip: string, port: number): number;
  listen(backlog: number): number;
  getsockname(out: { address?: string; port?: number }): number;
  getpeername(out: { address?: string; port?: number }): number;
  connect(req: RawConnectReq, ip: string, port: number): number;
  setNoDelay(on: boolean): number;
  readStart(): number;
  readStop(): number;
  writeBuffer(req: RawWriteReq, data: Uint8Array): number;
  shutdown(req: RawShutdownReq): number;
  close(cb?: () => void): void;
  readonly writeQueueSize: number;
  /** Listening handles: a new connection (err < 0 on accept failure, e.g. EMFILE). */
  onconnection: ((err: number, client?: RawTcpHandle) => void) | null;
  /** Stream handles: data (see RawTcp.readResult) or EOF/error; called with the handle as `this`. */
  onread: ((buf: ArrayBuffer | undefined) => void) | null;
}

export interface RawConnectReq {
  oncomplete: (status: number) => void;
  address: string;
  port: number;
}
export interface RawWriteReq {
  handle: RawTcpHandle;
  oncomplete: (status: number) => void;
  /** Kept referenced by us until an asynchronous write completes. */
  buffer: Uint8Array | null;
}
export interface RawShutdownReq {
  handle: RawTcpHandle;
  oncomplete: (status: number) => void;
}

export interface RawTcp {
  newServer(): RawTcpHandle;
  newSocket(): RawTcpHandle;
  newConnectReq(): RawConnectReq;
  newWriteReq(): RawWriteReq;
  newShutdownReq(): RawShutdownReq;
  /** In onread: bytes read (> 0), 0 (nothing, retry), UV_EOF or another negative errno. */
  nread(): number;
  /** In onread with nread > 0: the offset of the data in the ArrayBuffer passed to onread. */
  offset(): number;
  /** Right after writeBuffer: whether the write was queued (asynchronous; oncomplete will follow). */
  lastWriteAsync(): boolean;
  isHandle(x: unknown): x is RawTcpHandle;
}

/** libuv's UV_EOF. */
export const UV_EOF = -4095;

export function errnoError(err: number, syscall: string): NodeJS.ErrnoException {
  let code = `E${-err}`;
  try {
    code = getSystemErrorName(err);
  } catch {
    // unknown number: keep the numeric form
  }
  const e = new Error(`${syscall} ${code}`) as NodeJS.ErrnoException;
  e.code = code;
  e.errno = err;
  e.syscall = syscall;
  return e;
}

interface Bindings {
  TCP: new (type: number) => RawTcpHandle;
  TCPConnectWrap: new () => RawConnectReq;
  constants: { SOCKET: number; SERVER: number };
}
interface StreamBindings {
  WriteWrap: new () => RawWriteReq;
  ShutdownWrap: new () => RawShutdownReq;
  streamBaseState: Int32Array;
  kReadBytesOrError: number;
  kArrayBufferOffset: number;
  kLastWriteWasAsync: number;
}

function load(): RawTcp | null {
  if (process.env.PODWIRE_USERSPACE_TCP === "net") return null; // comparisons and a way out
  try {
    const binding = (process as unknown as { binding(n: string): unknown }).binding;
    const t = binding("tcp_wrap") as Bindings;
    const s = binding("stream_wrap") as StreamBindings;
    if (typeof t.TCP !== "function" || !(s.streamBaseState instanceof Int32Array)) return null;
    const { TCP, TCPConnectWrap, constants } = t;
    const { WriteWrap, ShutdownWrap, streamBaseState: st, kReadBytesOrError, kArrayBufferOffset } = s;
    const { kLastWriteWasAsync } = s;
    return {
      newServer: () => new TCP(constants.SERVER),
      newSocket: () => new TCP(constants.SOCKET),
      newConnectReq: () => new TCPConnectWrap(),
      newWriteReq: () => new WriteWrap(),
      newShutdownReq: () => new ShutdownWrap(),
      nread: () => st[kReadBytesOrError]!,
      offset: () => st[kArrayBufferOffset]!,
      lastWriteAsync: () => st[kLastWriteWasAsync] !== 0,
      isHandle: (x): x is RawTcpHandle => x instanceof TCP,
    };
  } catch {
    return null;
  }
}

export const rawTcp: RawTcp | null = load();
