/**
 * The kubelet's own HTTP server (on the node's address, port 10250 by default): what the apiserver proxies
 * `pods/log` and `pods/exec` to.
 *   GET /healthz
 *   GET /pods                                        PodList of this node's pods
 *   GET /containerLogs/{ns}/{pod}/{container}?tailLines=N&previous=true&follow=true
 *   GET /exec/{ns}/{pod}/{container}?command=…&command=…&stdin=1&stdout=1&stderr=1&tty=0   (websocket upgrade,
 *       subprotocols v5.channel.k8s.io / v4.channel.k8s.io / channel.k8s.io, as kubectl speaks them)
 *   POST /exec/{ns}/{pod}/{container}?command=…      plain fallback: runs to completion, answers stdout+stderr,
 *       exit code in the X-Exit-Code header.
 * HTTPS by default, as the kubelet serves 10250 (a serving certificate from src/kubelet/pki.ts: cluster-CA-signed
 * or self-signed); plain HTTP only when no certificate is given (tests that ask for it).
 *
 * Authentication as the kubelet does it on 10250 (every path, /healthz included; the kubelet's unauthenticated
 * health endpoint is its separate localhost healthz port): an x509 client certificate verified with the client CA
 * (--client-ca-file; the apiserver presents its kubelet-client certificate) authenticates the caller; anything
 * else is system:anonymous, served when anonymous auth is on (--anonymous-auth, the kubelet's default) and
 * answered 401 Unauthorized when it is off. Authorization is AlwaysAllow (no SubjectAccessReview webhook);
 * bearer tokens (TokenReview) are not supported.
 */
import type { ChildProcess } from "node:child_process";
import { createReadStream, existsSync, readFileSync, statSync, watch } from "node:fs";
import { createServer, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { TLSSocket } from "node:tls";
import type { Duplex } from "node:stream";
import { WebSocketServer, type WebSocket } from "ws";

export interface ExecTarget {
  /** Starts argv in the container's namespaces with its env; stdio are pipes. */
  spawn(argv: string[], tty: boolean): ChildProcess;
}

export interface KubeletHttpBackend {
  podList(): unknown;
  /** Log file of a container (current run, or the previous one); undefined = no such pod/container. */
  logPath(ns: string, pod: string, container: string | undefined, previous: boolean): string | undefined | null;
  execTarget(ns: string, pod: string, container: string | undefined): ExecTarget | undefined;
}

function send(res: ServerResponse, code: number, body: string, type = "text/plain; charset=utf-8"): void {
  res.writeHead(code, { "content-type": type });
  res.end(body);
}

function tail(text: string, n: number): string {
  const lines = text.split("\n");
  const last = lines[lines.length - 1] === "" ? lines.slice(0, -1) : lines;
  return last
    .slice(Math.max(0, last.length - n))
    .map((l) => `${l}\n`)
    .join("");
}

function serveLogs(res: ServerResponse, path: string, q: URLSearchParams): void {
  const tailLines = q.get("tailLines");
  const follow = q.get("follow") === "true";
  res.writeHead(200, { "content-type": "text/plain; charset=utf-8" });
  if (!existsSync(path)) {
    res.end();
    return;
  }
  let offset = 0;
  if (tailLines !== null && /^\d+$/.test(tailLines)) {
    const text = readFileSync(path, "utf8");
    res.write(tail(text, Number(tailLines)));
    offset = Buffer.byteLength(text);
  } else {
    const text = readFileSync(path);
    res.write(text);
    offset = text.length;
  }
  if (!follow) {
    res.end();
    return;
  }
  res.flushHeaders();
  const pump = () => {
    const size = statSync(path).size;
    if (size <= offset) return;
    const s = createReadStream(path, { start: offset, end: size - 1 });
    offset = size;
    s.pipe(res, { end: false });
  };
  const w = watch(path, () => pump());
  const timer = setInterval(pump, 1000);
  res.on("close", () => {
    w.close();
    clearInterval(timer);
  });
}

const EXEC_PROTOCOLS = ["v5.channel.k8s.io", "v4.channel.k8s.io", "channel.k8s.io"];

function exitStatus(code: number): string {
  if (code === 0) return JSON.stringify({ metadata: {}, status: "Success" });
  return JSON.stringify({
    metadata: {},
    status: "Failure",
    message: `command terminated with non-zero exit code: error executing command, exit status ${code}`,
    reason: "NonZeroExitCode",
    details: { causes: [{ reason: "ExitCode", message: String(code) }] },
  });
}

/** Runs one exec session over a channel websocket (channel byte first: 0 stdin, 1 stdout, 2 stderr, 3 status, 255 close). */
function execSession(ws: WebSocket, child: ChildProcess, v5: boolean): void {
  const frame = (ch: number, data: Buffer | string) => {
    if (ws.readyState !== ws.OPEN) return;
    const b = typeof data === "string" ? Buffer.from(data) : data;
    ws.send(Buffer.concat([Buffer.from([ch]), b]));
  };
  child.stdout?.on("data", (d: Buffer) => frame(1, d));
  child.stderr?.on("data", (d: Buffer) => frame(2, d));
  ws.on("message", (m: Buffer) => {
    const data = Buffer.isBuffer(m) ? m : Buffer.from(m as ArrayBuffer);
    if (data.length === 0) return;
    const ch = data[0];
    if (ch === 0) child.stdin?.write(data.subarray(1));
    else if (v5 && ch === 255 && data[1] === 0) child.stdin?.end();
  });
  ws.on("close", () => {
    if (child.exitCode === null) child.kill("SIGKILL");
  });
  child.on("close", (code) => {
    frame(3, exitStatus(code ?? 1));
    ws.close(1000);
  });
  child.on("error", (e) => {
    frame(3, JSON.stringify({ metadata: {}, status: "Failure", message: e.message, reason: "InternalError" }));
    ws.close(1000);
  });
}

/** PEM serving certificate and key; absent = plain HTTP. */
export interface KubeletServerTls {
  cert: string;
  key: string;
}

/** Who may call the kubelet API (kubelet's authentication.x509.clientCAFile and authentication.anonymous.enabled). */
export interface KubeletServerAuth {
  /** PEM CA bundle client certificates must chain to; unset = x509 client-certificate authentication off. */
  clientCA?: string;
  /** Serve unauthenticated callers as system:anonymous (true) or answer them 401 Unauthorized (false). */
  anonymous: boolean;
}

/** The authenticated user's name (a verified client certificate's CN), "system:anonymous", or undefined = 401. */
export function authenticate(req: IncomingMessage, auth: KubeletServerAuth | undefined): string | undefined {
  if (!auth) return "system:anonymous";
  const sock = req.socket as Partial<TLSSocket>;
  if (auth.clientCA && sock.authorized === true && typeof sock.getPeerCertificate === "function") {
    const cn = sock.getPeerCertificate().subject?.CN;
    return (Array.isArray(cn) ? cn[0] : cn) ?? "";
  }
  return auth.anonymous ? "system:anonymous" : undefined;
}

export function startKubeletServer(
  backend: KubeletHttpBackend,
  host: string,
  port: number,
  tls?: KubeletServerTls,
  auth?: KubeletServerAuth,
): Promise<Server> {
  const wss = new WebSocketServer({
    noServer: true,
    handleProtocols: (protocols) => EXEC_PROTOCOLS.find((p) => protocols.has(p)) ?? false,
  });
  const parseExec = (url: URL) => {
    const m = /^\/exec\/([^/]+)\/([^/]+)(?:\/([^/]+))?$/.exec(url.pathname);
    if (!m) return undefined;
    return {
      ns: decodeURIComponent(m[1] ?? ""),
      pod: decodeURIComponent(m[2] ?? ""),
      container: m[3] ? decodeURIComponent(m[3]) : undefined,
      command: url.searchParams.getAll("command"),
      tty: ["1", "true"].includes(url.searchParams.get("tty") ?? ""),
    };
  };
  const handler: RequestListener = (req: IncomingMessage, res: ServerResponse) => {
    if (authenticate(req, auth) === undefined) return send(res, 401, "Unauthorized");
    const url = new URL(req.url ?? "/", "http://kubelet");
    if (url.pathname === "/healthz") return send(res, 200, "ok");
    if (url.pathname === "/pods") return send(res, 200, JSON.stringify(backend.podList()), "application/json");
    const logs = /^\/containerLogs\/([^/]+)\/([^/]+)(?:\/([^/]+))?$/.exec(url.pathname);
    if (logs) {
      const path = backend.logPath(
        decodeURIComponent(logs[1] ?? ""),
        decodeURIComponent(logs[2] ?? ""),
        logs[3] ? decodeURIComponent(logs[3]) : undefined,
        url.searchParams.get("previous") === "true",
      );
      if (path === undefined) return send(res, 404, `pod or container not found on this node: ${url.pathname}`);
      if (path === null) return send(res, 400, "previous terminated container not found");
      return serveLogs(res, path, url.searchParams);
    }
    const ex = parseExec(url);
    if (ex && req.method === "POST") {
      const t = backend.execTarget(ex.ns, ex.pod, ex.container);
      if (!t) return send(res, 404, "pod or container not found on this node");
      if (ex.command.length === 0) return send(res, 400, "command is required");
      const child = t.spawn(ex.command, false);
      const out: Buffer[] = [];
      child.stdout?.on("data", (d: Buffer) => out.push(d));
      child.stderr?.on("data", (d: Buffer) => out.push(d));
      child.stdin?.end();
      child.on("close", (code) => {
        res.writeHead(200, { "content-type": "text/plain; charset=utf-8", "x-exit-code": String(code ?? 1) });
        res.end(Buffer.concat(out));
      });
      child.on("error", (e) => send(res, 500, e.message));
      return;
    }
    send(res, 404, "not found");
  };
  // The client certificate is asked for, not required at the TLS layer: a caller without one is anonymous (served
  // or 401 by `authenticate`), as the kubelet answers over HTTP rather than failing the handshake.
  const clientAuth = auth?.clientCA ? { ca: auth.clientCA, requestCert: true, rejectUnauthorized: false } : {};
  const srv: Server = tls
    ? createHttpsServer({ cert: tls.cert, key: tls.key, ...clientAuth }, handler)
    : createServer(handler);
  srv.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    if (authenticate(req, auth) === undefined) {
      socket.end(
        "HTTP/1.1 401 Unauthorized\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: 12\r\n\r\nUnauthorized",
      );
      return;
    }
    const url = new URL(req.url ?? "/", "http://kubelet");
    const ex = parseExec(url);
    const t = ex ? backend.execTarget(ex.ns, ex.pod, ex.container) : undefined;
    if (!ex || !t || ex.command.length === 0) {
      socket.end("HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n");
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      const child = t.spawn(ex.command, ex.tty);
      execSession(ws, child, ws.protocol === "v5.channel.k8s.io");
    });
  });
  return new Promise((resolve, reject) => {
    srv.once("error", reject);
    srv.listen(port, host, () => resolve(srv));
  });
}
