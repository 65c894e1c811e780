/**
 * An in-process transport for the controllers and scheduler that `podwire server` runs next to the apiserver:
 * each request goes through the same `ApiHandler` (authentication, authorization, admission, JSON) as a network
 * request, but as in-memory request/response objects instead of TLS over a loopback socket. For the controller
 * traffic that follows every Service create (two writes, several watch events) TLS and HTTP parsing were most of
 * the apiserver's CPU; the semantics stay those of the HTTP API.
 */
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from "node:http";
import { PassThrough, Readable } from "node:stream";
import { type ApiError, connectionError } from "../client/errors.js";
import type { HttpResponse, StreamResponse, Transport } from "../client/transport.js";

type Handle = (req: IncomingMessage, res: ServerResponse) => void;

function fakeRequest(method: string, path: string, headers: Record<string, string>, body?: string): IncomingMessage {
  const req = Readable.from(body === undefined ? [] : [Buffer.from(body)]) as unknown as IncomingMessage & {
    method: string;
    url: string;
    headers: IncomingHttpHeaders;
  };
  req.method = method;
  req.url = path;
  const h: IncomingHttpHeaders = {};
  for (const [k, v] of Object.entries(headers)) h[k.toLowerCase()] = v;
  req.headers = h;
  return req;
}

/**
 * The part of ServerResponse ApiHandler uses. Headers are delivered on writeHead (or with the first body
 * write); `close()` plays the client going away (what ends a watch).
 */
class FakeResponse {
  statusCode = 200;
  headersSent = false;
  private headers: Record<string, string | number | string[]> = {};
  private listeners = new Map<string, (() => void)[]>();
  private closed = false;

  constructor(
    private readonly onHead: (status: number, headers: IncomingHttpHeaders) => void,
    private readonly onData: (chunk: string | Buffer) => void,
    private readonly onEnd: () => void,
  ) {}

  setHeader(name: string, value: string | number | string[]): this {
    this.headers[name.toLowerCase()] = value;
    return this;
  }

  getHeader(name: string): string | number | string[] | undefined {
    return this.headers[name.toLowerCase()];
  }

  writeHead(status: number, headers?: Record<string, string | number | string[]>): this {
    if (this.headersSent) return this;
    this.statusCode = status;
    for (const [k, v] of Object.entries(headers ?? {})) this.headers[k.toLowerCase()] = v;
    this.headersSent = true;
    this.onHead(status, this.headers as IncomingHttpHeaders);
    return this;
  }

  flushHeaders(): void {
    if (!this.headersSent) this.writeHead(this.statusCode);
  }

  write(chunk: string | Buffer): boolean {
    if (this.closed) return false;
    this.flushHeaders();
    this.onData(chunk);
    return true;
  }

  end(chunk?: string | Buffer): this {
    if (this.closed) return this;
    if (chunk !== undefined && chunk !== "") this.write(chunk);
    else this.flushHeaders();
    this.closed = true;
    this.onEnd();
    this.emit("finish");
    this.emit("close");
    return this;
  }

  destroy(): this {
    if (this.closed) return this;
    this.closed = true;
    this.onEnd();
    this.emit("close");
    return this;
  }

  on(event: string, cb: () => void): this {
    const l = this.listeners.get(event) ?? [];
    l.push(cb);
    this.listeners.set(event, l);
    return this;
  }

  once(event: string, cb: () => void): this {
    return this.on(event, cb);
  }

  private emit(event: string): void {
    const l = this.listeners.get(event) ?? [];
    this.listeners.delete(event);
    for (const cb of l) cb();
  }
}

export class LoopbackTransport implements Transport {
  private open = new Set<FakeResponse>();
  private closed = false;

  constructor(
    private readonly handle: Handle,
    private readonly token: string | undefined,
    private readonly userAgent = "podwire",
  ) {}

  private headers(extra: Record<string, string>): Record<string, string> {
    const h: Record<string, string> = { "User-Agent": this.userAgent, Accept: "application/json", ...extra };
    if (this.token) h.Authorization = `Bearer ${this.token}`;
    return h;
  }

  request(
    method: string,
    path: string,
    body?: string,
    extra: Record<string, string> = {},
  ): Promise<HttpResponse | ApiError> {
    if (this.closed) return Promise.resolve(connectionError(`${method} ${path}: transport closed`));
    return new Promise((resolve) => {
      let status = 0;
      let headers: IncomingHttpHeaders = {};
      const chunks: Buffer[] = [];
      const res = new FakeResponse(
        (s, h) => {
          status = s;
          headers = h;
        },
        (c) => chunks.push(typeof c === "string" ? Buffer.from(c) : c),
        () => {
          this.open.delete(res);
          resolve({ status, headers, body: Buffer.concat(chunks).toString("utf8") });
        },
      );
      this.open.add(res);
      this.handle(fakeRequest(method, path, this.headers(extra), body), res as unknown as ServerResponse);
    });
  }

  stream(path: string, extra: Record<string, string> = {}, signal?: AbortSignal): Promise<StreamResponse | ApiError> {
    if (this.closed) return Promise.resolve(connectionError(`GET ${path}: transport closed`));
    return new Promise((resolve) => {
      const body = new PassThrough();
      let settled = false;
      const abort = () => {
        res.destroy();
        body.destroy();
      };
      const res: FakeResponse = new FakeResponse(
        (status) => {
          settled = true;
          resolve({ status, res: body as unknown as IncomingMessage, abort });
        },
        (c) => body.write(c),
        () => {
          this.open.delete(res);
          body.end();
          if (!settled) resolve(connectionError(`GET ${path}: closed before an answer`));
        },
      );
      this.open.add(res);
      if (signal) {
        if (signal.aborted) {
          abort();
          return;
        }
        signal.addEventListener("abort", abort, { once: true });
      }
      this.handle(fakeRequest("GET", path, this.headers(extra)), res as unknown as ServerResponse);
    });
  }

  /** Ends every open request and watch (the server is shutting down). */
  close(): void {
    this.closed = true;
    for (const r of [...this.open]) r.destroy();
    this.open.clear();
  }
}
