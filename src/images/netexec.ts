/**
 * Built-in image `netexec`: an agnhost-compatible `netexec` (the server Kubernetes' own network e2e tests use).
 * HTTP (default 8080): `/`, `/hostname`, `/clientip`, `/echo?msg=`, `/dial?host=&port=&request=&protocol=&tries=`,
 * `/healthz`, `/readyz`, `/header?key=`, `/shell?cmd=`, `/exit?code=`. UDP (default 8081): `hostname`,
 * `echo <msg>`, `clientip`. Run as `node dist/src/images/netexec.js [--http-port N] [--udp-port N]`.
 */
import { execFile } from "node:child_process";
import { createSocket, type Socket } from "node:dgram";
import { createServer, type IncomingMessage, type Server, type ServerResponse, request } from "node:http";
import { hostname } from "node:os";
import { pathToFileURL } from "node:url";
import { intFlag, parseFlags } from "./args.js";

export interface NetexecOptions {
  httpPort: number;
  udpPort: number;
  /** Listen address; "" = all (dual-stack when available). */
  host?: string;
  /** Overrides os.hostname() (tests run outside a UTS namespace). */
  hostname?: string;
}

export interface Netexec {
  http: Server;
  udp: Socket | null;
  httpPort: number;
  udpPort: number;
  close(): Promise<void>;
}

/** The agnhost `/dial` answer shape. */
export interface DialOutput {
  responses?: string[];
  errors?: string[];
}

function remoteAddr(req: IncomingMessage): string {
  const a = (req.socket.remoteAddress ?? "").replace(/^::ffff:/, "");
  const p = req.socket.remotePort ?? 0;
  return a.includes(":") ? `[${a}]:${p}` : `${a}:${p}`;
}

function hostPort(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

function httpGet(host: string, port: number, path: string, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host, port, path: path.startsWith("/") ? path : `/${path}`, timeout: timeoutMs, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const body = Buffer.concat(chunks).toString("utf8");
          if ((res.statusCode ?? 0) >= 400) reject(new Error(`status ${res.statusCode}: ${body}`));
          else resolve(body);
        });
        res.on("error", reject);
      },
    );
    req.on("timeout", () => req.destroy(new Error(`timeout dialing ${hostPort(host, port)}`)));
    req.on("error", reject);
    req.end();
  });
}

function udpAsk(host: string, port: number, msg: string, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = createSocket(host.includes(":") ? "udp6" : "udp4");
    const timer = setTimeout(() => {
      s.close();
      reject(new Error(`reading from udp connection failed: timeout after ${timeoutMs}ms`));
    }, timeoutMs);
    s.on("message", (m) => {
      clearTimeout(timer);
      s.close();
      resolve(m.toString("utf8"));
    });
    s.on("error", (e) => {
      clearTimeout(timer);
      s.close();
      reject(e);
    });
    s.send(msg, port, host);
  });
}

/** One `/dial` request: `tries` attempts from this pod to host:port, collecting answers and errors. */
export async function dial(q: URLSearchParams): Promise<DialOutput> {
  const host = q.get("host") ?? "";
  const port = Number(q.get("port") ?? "");
  const protocol = (q.get("protocol") ?? "http").toLowerCase();
  const req = q.get("request") ?? "";
  const tries = Math.max(1, Number(q.get("tries") ?? "1") || 1);
  if (!host || !Number.isInteger(port) || port < 1 || port > 65535) throw new Error("host and port are required");
  const out: DialOutput = { responses: [], errors: [] };
  for (let i = 0; i < tries; i++) {
    try {
      const r = protocol === "udp" ? await udpAsk(host, port, req, 5000) : await httpGet(host, port, req, 5000);
      out.responses?.push(r.trim());
    } catch (e) {
      out.errors?.push(e instanceof Error ? e.message : String(e));
    }
  }
  if (out.errors?.length === 0) delete out.errors;
  return out;
}

function send(res: ServerResponse, code: number, body: string, type = "text/plain; charset=utf-8"): void {
  res.writeHead(code, { "content-type": type });
  res.end(body);
}

/** Starts the HTTP and UDP servers; resolves once both listen. */
export async function startNetexec(opts: NetexecOptions): Promise<Netexec> {
  const name = () => opts.hostname ?? hostname();
  const http = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://x");
    const q = url.searchParams;
    switch (url.pathname) {
      case "/":
        return send(res, 200, `NOW: ${new Date().toISOString()}`);
      case "/hostname":
        return send(res, 200, name());
      case "/clientip":
        return send(res, 200, remoteAddr(req));
      case "/echo": {
        const code = Number(q.get("code") ?? "200") || 200;
        return send(res, code, q.get("msg") ?? "");
      }
      case "/header":
        return send(res, 200, String(req.headers[(q.get("key") ?? "").toLowerCase()] ?? ""));
      case "/healthz":
      case "/readyz":
        return send(res, 200, "ok");
      case "/dial":
        dial(q).then(
          (o) => send(res, 200, JSON.stringify(o), "application/json"),
          (e: Error) => send(res, 400, e.message),
        );
        return;
      case "/shell":
        execFile("/bin/sh", ["-c", q.get("cmd") ?? ""], (err, stdout, stderr) => {
          const o: Record<string, string> = { output: stdout + stderr };
          if (err) o.error = err.message;
          send(res, 200, JSON.stringify(o), "application/json");
        });
        return;
      case "/exit":
      case "/shutdown":
        send(res, 200, "");
        setTimeout(() => process.exit(Number(q.get("code") ?? "0") || 0), 50);
        return;
      default:
        return send(res, 404, "404 page not found");
    }
  });
  http.keepAliveTimeout = 5000;
  await new Promise<void>((resolve, reject) => {
    http.once("error", reject);
    http.listen(opts.httpPort, opts.host || undefined, () => resolve());
  });
  const httpPort = (http.address() as { port: number }).port;
  let udp: Socket | null = null;
  let udpPort = 0;
  if (opts.udpPort >= 0) {
    const s = createSocket({ type: opts.host?.includes(".") ? "udp4" : "udp6", ipv6Only: false });
    s.on("message", (m, rinfo) => {
      const text = m.toString("utf8").trim();
      let reply: string;
      if (text === "hostname") reply = name();
      else if (text === "clientip") reply = hostPort(rinfo.address.replace(/^::ffff:/, ""), rinfo.port);
      else if (text.startsWith("echo ")) reply = text.slice(5);
      else reply = text === "echo" ? "" : `unknown command: ${text}`;
      s.send(reply, rinfo.port, rinfo.address);
    });
    await new Promise<void>((resolve, reject) => {
      s.once("error", reject);
      s.bind(opts.udpPort, opts.host || undefined, () => resolve());
    });
    udp = s;
    udpPort = s.address().port;
  }
  return {
    http,
    udp,
    httpPort,
    udpPort,
    close: async () => {
      http.closeAllConnections();
      await new Promise<void>((r) => http.close(() => r()));
      if (udp) await new Promise<void>((r) => udp?.close(() => r()));
    },
  };
}

/** Entry point: `netexec [--http-port=8080] [--udp-port=8081]`. */
export async function main(argv: string[]): Promise<void> {
  const flags = parseFlags(argv);
  const nx = await startNetexec({
    httpPort: intFlag(flags, "http-port", 8080),
    udpPort: intFlag(flags, "udp-port", 8081),
  });
  process.stdout.write(`netexec: HTTP on ${nx.httpPort}, UDP on ${nx.udpPort}\n`);
  const stop = () => nx.close().then(() => process.exit(0));
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  main(process.argv.slice(2)).catch((e: Error) => {
    process.stderr.write(`netexec: ${e.message}\n`);
    process.exit(1);
  });
}
