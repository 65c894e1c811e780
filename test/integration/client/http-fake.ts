/**
 * Test support: serves a FakeClient over HTTP(S) with the apiserver's URL layout and watch protocol, so the
 * RestClient and ApiInformer are exercised over a real socket. Hooks let a test break things (410, 500, close).
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import http from "node:http";
import https from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { KubeObject } from "../../../src/api/index.js";
import { type ApiError, FakeClient, type PatchType, type Result } from "../../../src/client/index.js";

const pluralToKind: Record<string, string> = {
  namespaces: "Namespace",
  nodes: "Node",
  pods: "Pod",
  services: "Service",
  endpoints: "Endpoints",
  configmaps: "ConfigMap",
  secrets: "Secret",
  events: "Event",
  replicationcontrollers: "ReplicationController",
  deployments: "Deployment",
  replicasets: "ReplicaSet",
  endpointslices: "EndpointSlice",
};

export interface RequestLog {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export interface HttpFake {
  url: string;
  fake: FakeClient;
  requests: RequestLog[];
  /** Return true when the hook answered the request itself. */
  hook: ((req: RequestLog, res: http.ServerResponse) => boolean) | undefined;
  /** Destroys open watch connections (a network failure as the client sees it). */
  dropWatches(): void;
  close(): Promise<void>;
}

export interface TlsFiles {
  dir: string;
  ca: Buffer;
  cert: Buffer;
  key: Buffer;
  clientCert: Buffer;
  clientKey: Buffer;
  cleanup(): void;
}

/** A throwaway CA with a serving cert for 127.0.0.1 and a client cert (openssl). */
export function makeTls(): TlsFiles {
  const dir = mkdtempSync(join(tmpdir(), "podwire-tls-"));
  const run = (...args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: "pipe" });
  run(
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:P-256",
    "-nodes",
    "-keyout",
    "ca.key",
    "-out",
    "ca.crt",
    "-days",
    "2",
    "-subj",
    "/CN=test-ca",
  );
  for (const [name, ext] of [
    ["server", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth"],
    ["client", "extendedKeyUsage=clientAuth"],
  ] as const) {
    run(
      "req",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:P-256",
      "-nodes",
      "-keyout",
      `${name}.key`,
      "-out",
      `${name}.csr`,
      "-subj",
      `/CN=${name}`,
    );
    execFileSync("sh", ["-c", `printf '${ext}\\n' > ${name}.ext`], { cwd: dir });
    run(
      "x509",
      "-req",
      "-in",
      `${name}.csr`,
      "-CA",
      "ca.crt",
      "-CAkey",
      "ca.key",
      "-CAcreateserial",
      "-out",
      `${name}.crt`,
      "-days",
      "2",
      "-extfile",
      `${name}.ext`,
    );
  }
  const f = (n: string) => readFileSync(join(dir, n));
  return {
    dir,
    ca: f("ca.crt"),
    cert: f("server.crt"),
    key: f("server.key"),
    clientCert: f("client.crt"),
    clientKey: f("client.key"),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

function parsePath(path: string): { kind: string; namespace?: string; name?: string; sub?: string } | undefined {
  const m =
    /^\/(?:api\/v1|apis\/[^/]+\/v1)(?:\/namespaces\/([^/]+)(?=\/[^/]+))?\/([^/]+)(?:\/([^/]+))?(?:\/([^/]+))?$/.exec(
      path,
    );
  if (!m) return undefined;
  const kind = pluralToKind[m[2]!];
  if (!kind) return undefined;
  const out: { kind: string; namespace?: string; name?: string; sub?: string } = { kind };
  if (m[1]) out.namespace = decodeURIComponent(m[1]);
  if (m[3]) out.name = decodeURIComponent(m[3]);
  if (m[4]) out.sub = m[4];
  return out;
}

function send(res: http.ServerResponse, r: Result<unknown>, okCode = 200): void {
  if (r.ok) {
    res.writeHead(okCode, { "Content-Type": "application/json" });
    res.end(JSON.stringify(r.value));
  } else {
    const e: ApiError = r.error;
    res.writeHead(e.code || 500, { "Content-Type": "application/json" });
    res.end(JSON.stringify(e.status));
  }
}

const patchTypes: Record<string, PatchType> = {
  "application/merge-patch+json": "merge",
  "application/strategic-merge-patch+json": "strategic",
  "application/json-patch+json": "json",
};

export async function serveFake(
  opts: { tls?: TlsFiles; token?: string; requireClientCert?: boolean; fake?: FakeClient } = {},
): Promise<HttpFake> {
  const fake = opts.fake ?? new FakeClient();
  const requests: RequestLog[] = [];
  const watchSockets = new Set<http.ServerResponse>();
  const state: HttpFake = {
    url: "",
    fake,
    requests,
    hook: undefined,
    dropWatches: () => {
      for (const r of watchSockets) r.destroy();
    },
    close: async () => {},
  };
  const handler = async (req: http.IncomingMessage, res: http.ServerResponse) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const u = new URL(req.url ?? "/", "http://x");
    const log: RequestLog = {
      method: req.method ?? "GET",
      path: u.pathname,
      query: u.searchParams,
      headers: req.headers,
      body: Buffer.concat(chunks).toString(),
    };
    requests.push(log);
    if (opts.token && req.headers.authorization !== `Bearer ${opts.token}`) {
      res.writeHead(401, { "Content-Type": "application/json" });
      res.end(
        JSON.stringify({
          kind: "Status",
          apiVersion: "v1",
          metadata: {},
          status: "Failure",
          message: "Unauthorized",
          reason: "Unauthorized",
          code: 401,
        }),
      );
      return;
    }
    if (state.hook?.(log, res)) return;
    const p = parsePath(u.pathname);
    if (!p) {
      res.writeHead(404, { "Content-Type": "application/json" });
      res.end(
        JSON.stringify({
          kind: "Status",
          apiVersion: "v1",
          metadata: {},
          status: "Failure",
          reason: "NotFound",
          message: "the server could not find the requested resource",
          code: 404,
        }),
      );
      return;
    }
    const q = u.searchParams;
    const body = log.body ? (JSON.parse(log.body) as KubeObject) : undefined;
    const method = log.method;
    if (method === "GET" && !p.name && q.get("watch") === "true") {
      res.writeHead(200, { "Content-Type": "application/json", "Transfer-Encoding": "chunked" });
      res.flushHeaders();
      watchSockets.add(res);
      const h = fake.watch(
        p.kind,
        {
          namespace: p.namespace,
          resourceVersion: q.get("resourceVersion") ?? undefined,
          labelSelector: q.get("labelSelector") ?? undefined,
          fieldSelector: q.get("fieldSelector") ?? undefined,
        },
        (ev) => res.write(`${JSON.stringify(ev)}\n`),
      );
      res.on("close", () => {
        watchSockets.delete(res);
        h.stop();
      });
      const end = await h.done;
      if (end.reason === "error") res.write(`${JSON.stringify({ type: "ERROR", object: end.error.status })}\n`);
      res.end();
      return;
    }
    if (method === "GET" && !p.name) {
      return send(
        res,
        await fake.list(p.kind, {
          namespace: p.namespace,
          labelSelector: q.get("labelSelector") ?? undefined,
          fieldSelector: q.get("fieldSelector") ?? undefined,
        }),
      );
    }
    if (method === "GET")
      return send(res, await fake.get(p.kind, p.namespace, p.name!, p.sub ? { subresource: p.sub } : {}));
    if (method === "POST" && !p.name)
      return send(
        res,
        await fake.create({
          ...body!,
          kind: body!.kind ?? p.kind,
          metadata: { ...body!.metadata, namespace: p.namespace },
        }),
        201,
      );
    if (method === "POST" && p.sub)
      return send(res, await fake.createSubresource(p.kind, p.namespace, p.name!, p.sub, body), 201);
    if (method === "PUT" && p.sub === "status") return send(res, await fake.updateStatus(body!));
    if (method === "PUT") return send(res, await fake.update(body!));
    if (method === "PATCH") {
      const type = patchTypes[String(req.headers["content-type"])];
      if (!type) {
        res.writeHead(415);
        res.end();
        return;
      }
      return send(res, await fake.patch(p.kind, p.namespace, p.name!, body, type, p.sub ? { subresource: p.sub } : {}));
    }
    if (method === "DELETE") return send(res, await fake.delete(p.kind, p.namespace, p.name!, (body ?? {}) as object));
    res.writeHead(405);
    res.end();
  };
  const server = opts.tls
    ? https.createServer(
        {
          cert: opts.tls.cert,
          key: opts.tls.key,
          ca: opts.tls.ca,
          requestCert: !!opts.requireClientCert,
          rejectUnauthorized: !!opts.requireClientCert,
        },
        (req, res) => void handler(req, res),
      )
    : http.createServer((req, res) => void handler(req, res));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as AddressInfo).port;
  state.url = `${opts.tls ? "https" : "http"}://127.0.0.1:${port}`;
  state.close = () =>
    new Promise<void>((r) => {
      fake.close();
      state.dropWatches();
      server.closeAllConnections();
      server.close(() => r());
    });
  return state;
}
