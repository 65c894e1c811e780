/** HTTP(S) transport over node:https with the kubeconfig's CA, client certificate and bearer token. */
import { readFileSync } from "node:fs";
import http, { type IncomingMessage } from "node:http";
import https from "node:https";
import { connectionError, type ApiError } from "./errors.js";
import type { ClientConfig } from "./kubeconfig.js";

export interface HttpResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export interface StreamResponse {
  status: number;
  /** The response body as a stream; for non-2xx answers read it whole for the Status. */
  res: IncomingMessage;
  abort(): void;
}

/** The two things the REST client needs from the network; the fake client and tests can provide their own. */
export interface Transport {
  request(
    method: string,
    path: string,
    body?: string,
    headers?: Record<string, string>,
    timeoutMs?: number,
  ): Promise<HttpResponse | ApiError>;
  /** `idleTimeoutMs`: give up on a stream that sends nothing this long (default 15 min). */
  stream(
    path: string,
    headers?: Record<string, string>,
    signal?: AbortSignal,
    idleTimeoutMs?: number,
  ): Promise<StreamResponse | ApiError>;
  close(): void;
}

/** Re-reads a token file at most once a minute (service-account tokens rotate). */
class TokenSource {
  private cached: { token: string; at: number } | undefined;
  constructor(private readonly file: string) {}
  get(): string {
    const now = Date.now();
    if (!this.cached || now - this.cached.at > 60_000)
      this.cached = { token: readFileSync(this.file, "utf8").trim(), at: now };
    return this.cached.token;
  }
}

export class HttpTransport implements Transport {
  private readonly base: URL;
  private readonly agent: http.Agent;
  private readonly mod: typeof http | typeof https;
  private readonly tokenSource: TokenSource | undefined;

  constructor(
    private readonly cfg: ClientConfig,
    private readonly userAgent = "podwire",
  ) {
    this.base = new URL(cfg.server);
    const isHttps = this.base.protocol === "https:";
    this.mod = isHttps ? https : http;
    this.agent = isHttps
      ? new https.Agent({
          keepAlive: true,
          maxSockets: 64,
          ca: cfg.ca,
          cert: cfg.cert,
          key: cfg.key,
          rejectUnauthorized: !cfg.insecureSkipTLSVerify,
          servername: cfg.tlsServerName,
        })
      : new http.Agent({ keepAlive: true, maxSockets: 64 });
    this.tokenSource = cfg.tokenFile && !cfg.token ? new TokenSource(cfg.tokenFile) : undefined;
  }

  private headers(extra: Record<string, string> = {}): Record<string, string> {
    const h: Record<string, string> = { "User-Agent": this.userAgent, Accept: "application/json", ...extra };
    const token = this.cfg.token ?? this.tokenSource?.get();
    if (token) h.Authorization = `Bearer ${token}`;
    else if (this.cfg.username !== undefined)
      h.Authorization = `Basic ${Buffer.from(`${this.cfg.username}:${this.cfg.password ?? ""}`).toString("base64")}`;
    return h;
  }

  private options(method: string, path: string, headers: Record<string, string>): https.RequestOptions {
    const basePath = this.base.pathname.replace(/\/+$/, "");
    return {
      method,
      hostname: this.base.hostname.replace(/^\[|\]$/g, ""),
      port: this.base.port || (this.base.protocol === "https:" ? 443 : 80),
      path: basePath + path,
      agent: this.agent,
      headers,
    };
  }

  request(
    method: string,
    path: string,
    body?: string,
    extra: Record<string, string> = {},
    timeoutMs = 30_000,
  ): Promise<HttpResponse | ApiError> {
    return new Promise((resolve) => {
      let headers: Record<string, string>;
      try {
        headers = this.headers(extra);
      } catch (e) {
        resolve(connectionError(`credentials: ${(e as Error).message}`));
        return;
      }
      if (body !== undefined) headers["Content-Length"] = String(Buffer.byteLength(body));
      const req = this.mod.request(this.options(method, path, headers), (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString("utf8") }),
        );
        res.on("error", (e) => resolve(connectionError(`${method} ${path}: ${e.message}`)));
      });
      req.setTimeout(timeoutMs, () => req.destroy(new Error(`timeout after ${timeoutMs} ms`)));
      req.on("error", (e) => resolve(connectionError(`${method} ${path}: ${e.message}`)));
      req.end(body);
    });
  }

  stream(
    path: string,
    extra: Record<string, string> = {},
    signal?: AbortSignal,
    idleTimeoutMs = 15 * 60_000,
  ): Promise<StreamResponse | ApiError> {
    return new Promise((resolve) => {
      let headers: Record<string, string>;
      try {
        headers = this.headers(extra);
      } catch (e) {
        resolve(connectionError(`credentials: ${(e as Error).message}`));
        return;
      }
      const req = this.mod.request(this.options("GET", path, headers), (res) => {
        resolve({ status: res.statusCode ?? 0, res, abort: () => req.destroy() });
      });
      // No data for this long on a watch means a dead connection (a partition sends no FIN); TCP keep-alive
      // helps the kernel notice too.
      req.setTimeout(idleTimeoutMs, () => req.destroy(new Error("watch idle timeout")));
      req.on("socket", (s) => s.setKeepAlive(true, 30_000));
      req.on("error", (e) => resolve(connectionError(`GET ${path}: ${e.message}`)));
      if (signal) {
        if (signal.aborted) req.destroy();
        else signal.addEventListener("abort", () => req.destroy(), { once: true });
      }
      req.end();
    });
  }

  close(): void {
    this.agent.destroy();
  }
}
