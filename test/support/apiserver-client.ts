/**
 * A keep-alive HTTPS caller for a `podwire server` process (apiserver benches and tests): the admin token, the
 * server's CA, JSON bodies; the reply as text.
 */
import { readFileSync } from "node:fs";
import { Agent, request } from "node:https";
import { join } from "node:path";
import type { ServerProcess } from "../e2e/kubectl/server-process.js";
import { tokenOf } from "../integration/apiserver/harness.js";

export type ServerCall = (
  method: string,
  path: string,
  body?: unknown,
  accept?: string,
) => Promise<{ status: number; text: string }>;

export interface ServerClient {
  call: ServerCall;
  token: string;
  ca: string;
  /** The keep-alive agent of `call` (destroy it when done). */
  agent: Agent;
}

export function serverClient(srv: ServerProcess, maxSockets = 16): ServerClient {
  const ca = readFileSync(join(srv.dir, "data", "pki", "ca.crt"), "utf8");
  const token = tokenOf(srv.kubeconfig);
  const agent = new Agent({ keepAlive: true, maxSockets });
  const call: ServerCall = (method, path, body, accept = "application/json") =>
    new Promise((resolve, reject) => {
      const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
      const headers: Record<string, string> = { Authorization: `Bearer ${token}`, Accept: accept };
      if (payload) {
        headers["Content-Type"] = "application/json";
        headers["Content-Length"] = String(payload.length);
      }
      const r = request({ host: "127.0.0.1", port: srv.port, method, path, headers, ca, agent }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString() }));
        res.on("error", reject); // the server went away mid-reply (the crash test kills it)
      });
      r.on("error", reject);
      if (payload) r.write(payload);
      r.end();
    });
  return { call, token, ca, agent };
}
