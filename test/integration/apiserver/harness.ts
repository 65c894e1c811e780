/** Starts an in-process apiserver (HTTPS, sqlite in a temp dir) and gives tests a small request helper. */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { request } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse } from "yaml";
import { type ApiServer, type ApiServerConfig, startApiServer } from "../../../src/apiserver/server.js";

export interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  // biome-ignore lint/suspicious/noExplicitAny: tests read arbitrary JSON
  json: any;
}

export interface Harness {
  server: ApiServer;
  dir: string;
  ca: string;
  adminToken: string;
  req(
    method: string,
    path: string,
    body?: unknown,
    opts?: { token?: string | null; contentType?: string; accept?: string },
  ): Promise<Reply>;
  /** Opens a watch and collects its lines until `stop()`. */
  watch(path: string, opts?: { token?: string; accept?: string }): Promise<WatchStream>;
  close(): Promise<void>;
}

export interface WatchStream {
  status: number;
  // biome-ignore lint/suspicious/noExplicitAny: watch events are arbitrary JSON
  events: any[];
  ended: boolean;
  until(pred: () => boolean, ms?: number): Promise<void>;
  stop(): void;
}

export function tokenOf(kubeconfigPath: string): string {
  const kc = parse(readFileSync(kubeconfigPath, "utf8")) as { users: { user: { token: string } }[] };
  return kc.users[0]?.user.token as string;
}

export async function startHarness(cfg: Partial<ApiServerConfig> = {}): Promise<Harness> {
  const dir = cfg.dataDir ?? mkdtempSync(join(tmpdir(), "pw-api-"));
  const server = await startApiServer({ listen: "127.0.0.1:0", ...cfg, dataDir: dir });
  const ca = readFileSync(server.caCertPath as string, "utf8");
  const adminToken = tokenOf(server.kubeconfigPath);
  const base = { host: "127.0.0.1", port: server.port, ca };
  const req: Harness["req"] = (method, path, body, opts = {}) =>
    new Promise((resolve, reject) => {
      const headers: Record<string, string> = { Accept: opts.accept ?? "application/json" };
      const token = opts.token === undefined ? adminToken : opts.token;
      if (token) headers.Authorization = `Bearer ${token}`;
      let payload: Buffer | undefined;
      if (body !== undefined) {
        payload = Buffer.isBuffer(body) ? body : Buffer.from(typeof body === "string" ? body : JSON.stringify(body));
        headers["Content-Type"] = opts.contentType ?? "application/json";
        headers["Content-Length"] = String(payload.length);
      }
      const r = request({ ...base, method, path, headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString();
          let json: unknown;
          try {
            json = JSON.parse(text);
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
        });
      });
      r.on("error", reject);
      if (payload) r.write(payload);
      r.end();
    });
  const watch: Harness["watch"] = (path, opts = {}) =>
    new Promise((resolve, reject) => {
      const headers: Record<string, string> = {
        Accept: opts.accept ?? "application/json",
        Authorization: `Bearer ${opts.token ?? adminToken}`,
      };
      const r = request({ ...base, method: "GET", path, headers }, (res) => {
        const stream: WatchStream = {
          status: res.statusCode ?? 0,
          events: [],
          ended: false,
          async until(pred, ms = 10_000) {
            const deadline = Date.now() + ms;
            while (!pred()) {
              if (Date.now() > deadline)
                throw new Error(`watch timed out; got ${JSON.stringify(stream.events.map((e) => e.type))}`);
              await new Promise((x) => setTimeout(x, 20));
            }
          },
          stop: () => r.destroy(),
        };
        let buf = "";
        res.on("data", (c: Buffer) => {
          buf += c.toString();
          let i = buf.indexOf("\n");
          while (i >= 0) {
            const line = buf.slice(0, i);
            buf = buf.slice(i + 1);
            if (line.trim()) stream.events.push(JSON.parse(line));
            i = buf.indexOf("\n");
          }
        });
        res.on("end", () => {
          if (buf.trim()) stream.events.push(JSON.parse(buf));
          stream.ended = true;
        });
        res.on("error", () => {
          stream.ended = true;
        });
        resolve(stream);
      });
      r.on("error", reject);
      r.end();
    });
  return {
    server,
    dir,
    ca,
    adminToken,
    req,
    watch,
    async close() {
      await server.close();
      if (!cfg.dataDir) rmSync(dir, { recursive: true, force: true });
    },
  };
}
