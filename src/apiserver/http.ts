/**
 * The HTTP face of the apiserver: one request handler that authenticates, routes (discovery, OpenAPI, health,
 * resource paths), negotiates Table vs JSON, decodes JSON/YAML/protobuf bodies and streams watches.
 * A reader can follow one request from `handle` to the registry call that serves it.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { parse as parseYaml } from "yaml";
import type { KubeObject } from "../api/meta.js";
import { authorize, forbiddenMessage, type RequestAttributes, type TokenFile, type User } from "./auth.js";
import {
  aggregatedApis,
  aggregatedContentType,
  aggregatedCore,
  legacyApiGroup,
  legacyApiGroupList,
  legacyApiVersions,
  legacyResourceList,
  wantsAggregated,
} from "./discovery.js";
import { ApiError, errors, successStatus } from "./errors.js";
import { openapiFor, openapiRoot } from "./openapi.js";
import { openapiV2Protobuf, openapiV2ProtobufType } from "./openapi-v2.js";
import { decodeProtobufBody } from "./protobuf.js";
import type { DeleteOptions, ListQuery, PatchType, Registry } from "./registry.js";
import { apiVersionOf, findResource, type ResourceInfo } from "./resources.js";
import { type IncludeObject, toTable } from "./table.js";

// biome-ignore lint/suspicious/noExplicitAny: request bodies are schemaless JSON
type Obj = KubeObject & Record<string, any>;

export interface VersionInfo {
  major: string;
  minor: string;
  gitVersion: string;
}

/** Serves `GET …/pods/{name}/log`: the kubelet side plugs in here (see docs/apiserver.md). */
export type PodLogProvider = (
  pod: Obj,
  container: string,
  query: URLSearchParams,
  res: ServerResponse,
) => Promise<void>;

export interface HandlerOptions {
  registry: Registry;
  /** undefined = no authentication (tests over plain HTTP). */
  tokens?: TokenFile;
  version: VersionInfo;
  serverAddress: string;
  bookmarkIntervalMs?: number;
  podLogs?: PodLogProvider;
  /** Called when the server is ready (for /readyz). */
  ready?: () => boolean;
}

interface Route {
  res: ResourceInfo;
  namespace?: string;
  name?: string;
  subresource?: string;
}

const maxBody = 3 * 1024 * 1024;

function send(res: ServerResponse, code: number, body: unknown, contentType = "application/json"): void {
  const text = typeof body === "string" ? body : JSON.stringify(body);
  res.writeHead(code, {
    "Content-Type": contentType,
    "Content-Length": Buffer.byteLength(text),
    "Cache-Control": "no-cache, private",
  });
  res.end(text);
}

function sendError(res: ServerResponse, err: unknown): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  if (err instanceof ApiError) {
    send(res, err.code, err.status);
    return;
  }
  const msg = err instanceof Error ? err.message : String(err);
  send(res, 500, errors.internal(msg).status);
}

/** The request body (≤ 3 MiB). Plain stream events: an async iterator per request cost more than the parse. */
function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    req.on("data", (c: Buffer) => {
      if (failed) return;
      size += c.length;
      if (size > maxBody) {
        failed = true;
        reject(
          new ApiError({
            ...errors.badRequest("request entity too large").status,
            code: 413,
            reason: "RequestEntityTooLarge",
          }),
        );
        return;
      }
      chunks.push(c);
    });
    req.on("end", () => {
      if (!failed) resolve(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks));
    });
    req.on("error", (e) => {
      if (!failed) reject(e);
      failed = true;
    });
  });
}

function parseBody(buf: Buffer, contentType: string): unknown {
  const ct = contentType.split(";")[0]?.trim().toLowerCase() ?? "";
  if (ct === "application/vnd.kubernetes.protobuf") return decodeProtobufBody(buf);
  const text = buf.toString("utf8");
  if (text.trim() === "") return undefined;
  try {
    if (ct === "application/yaml" || ct === "application/apply-patch+yaml") return parseYaml(text);
    return JSON.parse(text);
  } catch (e) {
    throw errors.badRequest(`error decoding request body: ${(e as Error).message}`);
  }
}

function wantsTable(accept: string | undefined): boolean {
  return !!accept && accept.split(",").some((p) => p.includes("as=Table") && p.includes("g=meta.k8s.io"));
}

function parseRoute(segs: string[], group: string, version: string): Route | undefined {
  if (segs.length === 0) return undefined;
  if (segs[0] === "namespaces" && segs.length >= 3) {
    const inner = findResource(group, version, segs[2] as string);
    if (inner?.namespaced) {
      if (segs.length > 5) return undefined;
      return { res: inner, namespace: segs[1], name: segs[3], subresource: segs[4] };
    }
  }
  const res = findResource(group, version, segs[0] as string);
  if (!res || segs.length > 3) return undefined;
  return { res, name: segs[1], subresource: segs[2] };
}

function intParam(q: URLSearchParams, name: string): number | undefined {
  const v = q.get(name);
  if (v === null || v === "") return undefined;
  if (!/^-?\d+$/.test(v)) throw errors.badRequest(`invalid ${name}: ${v}`);
  return Number(v);
}

/** Watch lines are shared across watchers of one event (objects are shared and never mutated after typing). */
const encodedEvents = new WeakMap<object, Map<string, string>>();
function encodedEvent(type: string, obj: object): string {
  let m = encodedEvents.get(obj);
  if (!m) {
    m = new Map();
    encodedEvents.set(obj, m);
  }
  let line = m.get(type);
  if (line === undefined) {
    line = `${JSON.stringify({ type, object: obj })}\n`;
    m.set(type, line);
  }
  return line;
}

export class ApiHandler {
  constructor(readonly opts: HandlerOptions) {}

  /** Entry point for every request. */
  handle = (req: IncomingMessage, res: ServerResponse): void => {
    // PODWIRE_API_TRACE=1 logs every request (method, URL, Accept, Content-Type, status) to stderr.
    if (process.env.PODWIRE_API_TRACE)
      res.on("finish", () =>
        process.stderr.write(
          `${req.method} ${req.url} accept=${req.headers.accept ?? ""} ct=${req.headers["content-type"] ?? ""} -> ${res.statusCode}\n`,
        ),
      );
    this.serve(req, res).catch((err) => sendError(res, err));
  };

  private async serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://x");
    const path = url.pathname.replace(/\/+$/, "") || "/";
    const method = req.method ?? "GET";
    // Public-info endpoints answer without credentials, like kube-apiserver's system:public-info-viewer.
    if (/^\/(healthz|livez|readyz)(\/.*)?$/.test(path)) {
      const ok = this.opts.ready ? this.opts.ready() : true;
      return send(res, ok ? 200 : 500, ok ? "ok" : "not ready", "text/plain; charset=utf-8");
    }
    if (path === "/version") return send(res, 200, this.versionDoc());

    const user = this.authenticate(req);
    if (!user) return send(res, 401, errors.unauthorized().status);

    if (path === "/api" || path === "/apis") {
      if (method !== "GET") throw errors.methodNotAllowed();
      if (wantsAggregated(req.headers.accept)) {
        const body = JSON.stringify(path === "/api" ? aggregatedCore() : aggregatedApis());
        res.writeHead(200, {
          "Content-Type": aggregatedContentType,
          Vary: "Accept",
          "Content-Length": Buffer.byteLength(body),
        });
        res.end(body);
        return;
      }
      return send(res, 200, path === "/api" ? legacyApiVersions(this.opts.serverAddress) : legacyApiGroupList());
    }
    if (path === "/openapi/v3") return send(res, 200, openapiRoot());
    if (path === "/openapi/v2") {
      const body = openapiV2Protobuf();
      res.writeHead(200, { "Content-Type": openapiV2ProtobufType, "Content-Length": body.length });
      res.end(body);
      return;
    }
    if (path.startsWith("/openapi/v3/")) {
      const doc = openapiFor(path.slice("/openapi/v3/".length));
      if (!doc) throw errors.notFoundPath();
      return send(res, 200, doc);
    }

    const segs = path.split("/").filter(Boolean).map(decodeURIComponent);
    let group: string;
    let version: string;
    let rest: string[];
    if (segs[0] === "api") {
      group = "";
      version = segs[1] ?? "";
      rest = segs.slice(2);
      if (segs.length === 2) {
        const list = legacyResourceList("", version);
        if (!list) throw errors.notFoundPath();
        return send(res, 200, list);
      }
    } else if (segs[0] === "apis" && segs.length >= 2) {
      group = segs[1] as string;
      version = segs[2] ?? "";
      rest = segs.slice(3);
      if (segs.length === 2) {
        const g = legacyApiGroup(group);
        if (!g) throw errors.notFoundPath();
        return send(res, 200, g);
      }
      if (segs.length === 3) {
        const list = legacyResourceList(group, version);
        if (!list) throw errors.notFoundPath();
        return send(res, 200, list);
      }
    } else throw errors.notFoundPath();

    const route = parseRoute(rest, group, version);
    if (!route) throw errors.notFoundPath();
    await this.resource(req, res, url.searchParams, route, method, user);
  }

  /**
   * `pods/exec` arrives as an HTTP upgrade (WebSocket or SPDY): authenticate (admins only), find the pod and
   * hand the socket to `exec`, which proxies it to the kubelet. Anything else is answered on the socket.
   */
  async upgrade(
    req: IncomingMessage,
    socket: import("node:stream").Duplex,
    head: Buffer,
    exec: (pod: Obj, container: string, query: URLSearchParams) => void,
  ): Promise<void> {
    const fail = (code: number, text: string) => {
      const body = JSON.stringify(errors.badRequest(text).status);
      socket.end(
        `HTTP/1.1 ${code} ${text}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
      );
    };
    void head;
    const url = new URL(req.url ?? "/", "http://x");
    const m = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)\/exec$/.exec(url.pathname);
    if (!m) return fail(404, "Not Found");
    const user = this.authenticate(req);
    if (!user) return fail(401, "Unauthorized");
    if (!user.groups.includes("system:masters")) return fail(403, "Forbidden");
    const podsRes = findResource("", "v1", "pods") as ResourceInfo;
    const pod = await this.opts.registry
      .get(podsRes, decodeURIComponent(m[1] as string), decodeURIComponent(m[2] as string))
      .catch(() => undefined);
    if (!pod) return fail(404, "Not Found");
    const containers: Obj[] = pod.spec?.containers ?? [];
    const container =
      url.searchParams.get("container") ?? (containers.length === 1 ? (containers[0]?.name as string) : undefined);
    if (!container) return fail(400, "Bad Request");
    exec(pod, container, url.searchParams);
  }

  private versionDoc() {
    const v = this.opts.version;
    return {
      major: v.major,
      minor: v.minor,
      gitVersion: v.gitVersion,
      gitCommit: "0000000000000000000000000000000000000000",
      gitTreeState: "clean",
      buildDate: "2025-01-01T00:00:00Z",
      goVersion: "go1.23.0",
      compiler: "gc",
      platform: "linux/amd64",
    };
  }

  private authenticate(req: IncomingMessage): User | undefined {
    if (!this.opts.tokens) return { name: "anonymous-admin", uid: "", groups: ["system:masters"] };
    const h = req.headers.authorization;
    if (!h?.startsWith("Bearer ")) return undefined;
    return this.opts.tokens.authenticate(h.slice(7).trim());
  }

  private verbOf(method: string, route: Route, q: URLSearchParams): string {
    switch (method) {
      case "GET":
      case "HEAD":
        if (route.name === undefined) return q.get("watch") === "true" || q.get("watch") === "1" ? "watch" : "list";
        return "get";
      case "POST":
        return "create";
      case "PUT":
        return "update";
      case "PATCH":
        return "patch";
      case "DELETE":
        return route.name === undefined ? "deletecollection" : "delete";
      default:
        return method.toLowerCase();
    }
  }

  private async authorizeRequest(
    user: User,
    verb: string,
    route: Route,
    body: () => Promise<Obj | undefined>,
  ): Promise<void> {
    const attrs: RequestAttributes = {
      verb,
      resource: route.res.plural,
      subresource: route.subresource,
      namespace: route.namespace,
      name: route.name,
      group: route.res.group,
    };
    let d = authorize(user, attrs);
    if (d.allowed === true) {
      if (verb === "create" && route.res.plural === "nodes" && !user.groups.includes("system:masters")) {
        const b = await body();
        const node = user.name.slice("system:node:".length);
        if (b?.metadata?.name !== node)
          d = { allowed: false, reason: `node '${node}' cannot modify node '${b?.metadata?.name ?? ""}'` };
      }
      if (d.allowed === true) return;
    }
    if (d.allowed === "ifPodOnNode") {
      const pod = await this.opts.registry.get(route.res, route.namespace, route.name ?? "").catch(() => undefined);
      if (!pod || pod.spec?.nodeName === d.node) return; // a missing pod answers 404 later
      d = { allowed: false, reason: `node '${d.node}' can only update the status of and delete pods bound to it` };
    }
    if (d.allowed === false)
      throw errors.forbidden(
        forbiddenMessage(user, attrs, d.reason),
        route.res.plural,
        route.name ?? "",
        route.res.group,
      );
  }

  private async resource(
    req: IncomingMessage,
    res: ServerResponse,
    q: URLSearchParams,
    route: Route,
    method: string,
    user: User,
  ): Promise<void> {
    const { registry } = this.opts;
    const r = route.res;
    const verb = this.verbOf(method, route, q);
    if (!r.namespaced && route.namespace) throw errors.notFoundPath();
    if (route.subresource && !r.subresources.some((s) => s.name === route.subresource)) throw errors.notFoundPath();
    let bodyCache: Obj | undefined;
    let bodyRead = false;
    const body = async (): Promise<Obj | undefined> => {
      if (!bodyRead) {
        bodyRead = true;
        bodyCache = parseBody(await readBody(req), req.headers["content-type"] ?? "application/json") as
          | Obj
          | undefined;
      }
      return bodyCache;
    };
    await this.authorizeRequest(user, verb, route, body);
    if (r.virtual && !(verb === "get" || verb === "list")) throw errors.methodNotAllowed();
    // As kube-apiserver does; kubectl prints it.
    if (r.plural === "componentstatuses")
      res.setHeader("Warning", '299 - "v1 ComponentStatus is deprecated in v1.19+"');
    const dryRun = q.getAll("dryRun").includes("All");
    const accept = req.headers.accept;

    if (route.subresource === "log") {
      if (method !== "GET") throw errors.methodNotAllowed();
      return this.podLog(route, q, res);
    }
    if (route.subresource === "exec") throw errors.badRequest("Upgrade request required");
    if (route.subresource === "binding") {
      if (method !== "POST") throw errors.methodNotAllowed();
      return this.bind(route, (await body()) ?? ({} as Obj), res);
    }
    if (route.subresource === "scale")
      return this.scale(
        req,
        res,
        route,
        method,
        await (method === "GET" ? Promise.resolve(undefined) : body()),
        dryRun,
      );

    switch (verb) {
      case "list": {
        const query = this.listQuery(q);
        const out = await registry.list(r, route.namespace, query);
        const meta: { resourceVersion: string; continue?: string } = { resourceVersion: out.resourceVersion };
        if (out.continue) meta.continue = out.continue;
        if (wantsTable(accept)) return send(res, 200, toTable(r.kind, out.items, meta, this.include(q)));
        return send(res, 200, { kind: `${r.kind}List`, apiVersion: apiVersionOf(r), metadata: meta, items: out.items });
      }
      case "watch":
        return this.watch(req, res, q, route);
      case "get": {
        const obj = registry.typed(r, await registry.get(r, route.namespace, route.name as string));
        if (wantsTable(accept) && !route.subresource)
          return send(
            res,
            200,
            toTable(r.kind, [obj], { resourceVersion: obj.metadata.resourceVersion }, this.include(q)),
          );
        return send(res, 200, obj);
      }
      case "create": {
        if (route.name !== undefined) throw errors.methodNotAllowed();
        const b = await body();
        if (b === undefined) throw errors.badRequest("the request body is empty");
        const obj = await registry.create(r, route.namespace, b, { dryRun });
        return send(res, 201, obj);
      }
      case "update": {
        const b = await body();
        if (b === undefined) throw errors.badRequest("the request body is empty");
        const obj = await registry.update(r, route.namespace, route.name as string, b, {
          dryRun,
          subresource: route.subresource,
        });
        return send(res, 200, obj);
      }
      case "patch": {
        const ct = (req.headers["content-type"] ?? "").split(";")[0]?.trim() ?? "";
        const types: Record<string, PatchType> = {
          "application/merge-patch+json": "merge",
          "application/strategic-merge-patch+json": "strategic",
          "application/json-patch+json": "json",
        };
        const type = types[ct];
        if (ct === "application/apply-patch+yaml") {
          const manager = q.get("fieldManager");
          if (!manager)
            throw errors.invalid(
              "PatchOptions",
              "",
              [
                {
                  reason: "FieldValueRequired",
                  field: "fieldManager",
                  message: "Required value: is required for apply patch",
                },
              ],
              "meta.k8s.io",
            );
          const force = q.get("force");
          if (force !== null && force !== "true" && force !== "false")
            throw errors.badRequest(`invalid force: ${force}`);
          const b = await body();
          if (b === undefined) throw errors.badRequest("the request body is empty");
          const out = await registry.apply(r, route.namespace, route.name as string, b, {
            dryRun,
            subresource: route.subresource,
            manager,
            force: force === "true",
          });
          return send(res, out.created ? 201 : 200, registry.typed(r, out.obj));
        }
        if (!type) throw errors.unsupportedMediaType(ct || "none");
        const b = await body();
        if (b === undefined) throw errors.badRequest("the request body is empty");
        const obj = await registry.patch(r, route.namespace, route.name as string, type, b, {
          dryRun,
          subresource: route.subresource,
        });
        return send(res, 200, obj);
      }
      case "delete": {
        const b = ((await body()) ?? {}) as DeleteOptions & Record<string, unknown>;
        const opts: DeleteOptions = { dryRun };
        const grace = intParam(q, "gracePeriodSeconds") ?? b.gracePeriodSeconds;
        if (grace !== undefined) opts.gracePeriodSeconds = grace;
        const policy = q.get("propagationPolicy") ?? b.propagationPolicy;
        if (policy) opts.propagationPolicy = policy as DeleteOptions["propagationPolicy"];
        if (b.preconditions) opts.preconditions = b.preconditions;
        const out = await registry.delete(r, route.namespace, route.name as string, opts);
        return send(res, 200, registry.typed(r, out.obj));
      }
      case "deletecollection": {
        const query = this.listQuery(q);
        const { items } = await registry.list(r, route.namespace, {
          labelSelector: query.labelSelector,
          fieldSelector: query.fieldSelector,
        });
        const b = ((await body()) ?? {}) as DeleteOptions;
        for (const o of items)
          await registry
            .delete(r, o.metadata.namespace, o.metadata.name as string, {
              dryRun,
              gracePeriodSeconds: intParam(q, "gracePeriodSeconds") ?? b.gracePeriodSeconds,
            })
            .catch((e) => {
              if (!(e instanceof ApiError && e.code === 404)) throw e;
            });
        return send(res, 200, { kind: `${r.kind}List`, apiVersion: apiVersionOf(r), metadata: {}, items });
      }
      default:
        throw errors.methodNotAllowed();
    }
  }

  private include(q: URLSearchParams): IncludeObject {
    const v = q.get("includeObject");
    return v === "None" || v === "Object" ? v : "PartialObjectMetadata";
  }

  private listQuery(q: URLSearchParams): ListQuery {
    const out: ListQuery = {};
    const ls = q.get("labelSelector");
    if (ls) out.labelSelector = ls;
    const fs = q.get("fieldSelector");
    if (fs) out.fieldSelector = fs;
    const limit = intParam(q, "limit");
    if (limit !== undefined) out.limit = limit;
    const c = q.get("continue");
    if (c) out.continue = c;
    const rv = q.get("resourceVersion");
    if (rv !== null) out.resourceVersion = rv;
    return out;
  }

  /** Streams watch events, one JSON object per line, until the client leaves, timeoutSeconds, or an error. */
  private async watch(req: IncomingMessage, res: ServerResponse, q: URLSearchParams, route: Route): Promise<void> {
    const r = route.res;
    if (r.virtual) throw errors.methodNotAllowed();
    const table = wantsTable(req.headers.accept);
    const include = this.include(q);
    const bookmarks = q.get("allowWatchBookmarks") === "true";
    const initialEvents = q.get("sendInitialEvents") === "true";
    const query = this.listQuery(q);
    if (initialEvents) delete query.resourceVersion;
    let lastRV = Number(query.resourceVersion ?? 0) || 0;
    let open = false;
    let closed = false;
    const pending: string[] = [];
    const write = (line: string) => {
      if (closed) return;
      if (!open) pending.push(line);
      else res.write(line);
    };
    const render = (obj: Obj): unknown =>
      table ? toTable(r.kind, [obj], { resourceVersion: obj.metadata.resourceVersion }, include) : obj;
    const bookmark = (annotations?: Record<string, string>) => {
      const metadata: Record<string, unknown> = { resourceVersion: String(lastRV) };
      if (annotations) metadata.annotations = annotations;
      write(
        `${JSON.stringify({ type: "BOOKMARK", object: { kind: r.kind, apiVersion: apiVersionOf(r), metadata } })}\n`,
      );
    };
    let finish = () => {};
    const handle = await this.opts.registry.watch(r, route.namespace, query, {
      event: (type, obj) => {
        lastRV = Math.max(lastRV, Number(obj.metadata.resourceVersion));
        write(table ? `${JSON.stringify({ type, object: render(obj) })}\n` : encodedEvent(type, obj));
      },
      error: (err) => {
        write(`${JSON.stringify({ type: "ERROR", object: err.status })}\n`);
        finish();
      },
    });
    // Headers go out at once: clients wait for them before reading events.
    res.writeHead(200, {
      "Content-Type": "application/json",
      "Cache-Control": "no-cache, private",
      "Transfer-Encoding": "chunked",
    });
    res.flushHeaders();
    open = true;
    for (const line of pending.splice(0)) res.write(line);
    if (initialEvents) {
      lastRV = Math.max(lastRV, Number(await this.opts.registry.store.currentRevision()));
      bookmark({ "k8s.io/initial-events-end": "true" });
    }
    const timers: NodeJS.Timeout[] = [];
    finish = () => {
      if (closed) return;
      closed = true;
      handle.cancel();
      for (const t of timers) clearTimeout(t);
      res.end();
    };
    const timeout = intParam(q, "timeoutSeconds");
    if (timeout !== undefined && timeout > 0)
      timers.push(
        setTimeout(() => {
          if (bookmarks) bookmark();
          finish();
        }, timeout * 1000),
      );
    if (bookmarks) timers.push(setInterval(() => bookmark(), this.opts.bookmarkIntervalMs ?? 60_000));
    res.on("close", () => finish());
  }

  private async bind(route: Route, body: Obj, res: ServerResponse): Promise<void> {
    const target = body.target as { kind?: string; name?: string } | undefined;
    if (!target?.name)
      throw errors.invalid("Binding", route.name ?? "", [
        { reason: "FieldValueRequired", field: "target.name", message: "Required value" },
      ]);
    const { registry } = this.opts;
    for (let attempt = 0; ; attempt++) {
      const pod = await registry.get(route.res, route.namespace, route.name as string);
      if (pod.spec?.nodeName)
        throw errors.conflict(
          "pods",
          route.name as string,
          "",
          `pod ${route.name} is already assigned to node "${pod.spec.nodeName}"`,
        );
      if (pod.metadata.deletionTimestamp)
        throw errors.conflict(
          "pods",
          route.name as string,
          "",
          `pod ${route.name} is being deleted, cannot be assigned to a host`,
        );
      pod.spec.nodeName = target.name;
      const conds: Record<string, unknown>[] = (pod.status?.conditions ?? []).filter(
        (c: Obj) => c.type !== "PodScheduled",
      );
      conds.push({
        type: "PodScheduled",
        status: "True",
        lastProbeTime: null,
        lastTransitionTime: new Date(Math.floor(Date.now() / 1000) * 1000).toISOString().replace(".000Z", "Z"),
      });
      try {
        await registry.update(route.res, route.namespace, route.name as string, pod);
        const withStatus = await registry.get(route.res, route.namespace, route.name as string);
        withStatus.status = { ...(withStatus.status ?? {}), conditions: conds };
        await registry.update(route.res, route.namespace, route.name as string, withStatus, { subresource: "status" });
        return send(res, 201, { ...successStatus(), code: 201 });
      } catch (e) {
        if (e instanceof ApiError && e.status.reason === "Conflict" && attempt < 5) continue;
        throw e;
      }
    }
  }

  private toScale(r: ResourceInfo, o: Obj): Obj {
    const sel = o.spec?.selector;
    let selector = "";
    if (sel && r.group === "apps") {
      selector = Object.entries((sel.matchLabels ?? {}) as Record<string, string>)
        .map(([k, v]) => `${k}=${v}`)
        .join(",");
    } else if (sel)
      selector = Object.entries(sel as Record<string, string>)
        .map(([k, v]) => `${k}=${v}`)
        .join(",");
    return {
      kind: "Scale",
      apiVersion: "autoscaling/v1",
      metadata: {
        name: o.metadata.name,
        namespace: o.metadata.namespace,
        uid: o.metadata.uid,
        resourceVersion: o.metadata.resourceVersion,
        creationTimestamp: o.metadata.creationTimestamp,
      },
      spec: { replicas: o.spec?.replicas ?? 1 },
      status: { replicas: o.status?.replicas ?? 0, selector },
    };
  }

  private async scale(
    req: IncomingMessage,
    res: ServerResponse,
    route: Route,
    method: string,
    body: Obj | undefined,
    dryRun: boolean,
  ): Promise<void> {
    const { registry } = this.opts;
    const r = route.res;
    const name = route.name as string;
    for (let attempt = 0; ; attempt++) {
      const current = await registry.get(r, route.namespace, name);
      const scale = this.toScale(r, current);
      if (method === "GET") return send(res, 200, scale);
      let next: Obj;
      if (method === "PUT") next = body as Obj;
      else if (method === "PATCH") {
        const { jsonPatch, mergePatch, strategicMergePatch } = await import("./patch.js");
        const ct = (req.headers["content-type"] ?? "").split(";")[0]?.trim();
        if (ct === "application/json-patch+json") next = jsonPatch(scale, body) as Obj;
        else if (ct === "application/merge-patch+json") next = mergePatch(scale, body) as Obj;
        else if (ct === "application/strategic-merge-patch+json")
          next = strategicMergePatch("Scale", scale, body) as Obj;
        else throw errors.unsupportedMediaType(ct ?? "none");
      } else throw errors.methodNotAllowed();
      const replicas = next?.spec?.replicas;
      if (typeof replicas !== "number" || !Number.isInteger(replicas) || replicas < 0)
        throw errors.invalid(
          "Scale",
          name,
          [
            {
              reason: "FieldValueInvalid",
              field: "spec.replicas",
              message: `Invalid value: ${JSON.stringify(replicas)}: must be greater than or equal to 0`,
            },
          ],
          "autoscaling",
        );
      const rv = next.metadata?.resourceVersion;
      if (rv && rv !== current.metadata.resourceVersion) throw errors.conflict(r.plural, name, r.group);
      const updated = { ...current, spec: { ...current.spec, replicas } };
      try {
        const out = await registry.update(r, route.namespace, name, updated, { dryRun });
        return send(res, 200, this.toScale(r, out));
      } catch (e) {
        if (e instanceof ApiError && e.status.reason === "Conflict" && !rv && attempt < 5) continue;
        throw e;
      }
    }
  }

  private async podLog(route: Route, q: URLSearchParams, res: ServerResponse): Promise<void> {
    const pod = await this.opts.registry.get(route.res, route.namespace, route.name as string);
    const containers: Obj[] = pod.spec?.containers ?? [];
    // Init and ephemeral containers have logs too (the kubelet serves them); kube-apiserver accepts any of them
    // by name, but only defaults to the one regular container.
    const all: Obj[] = [...containers, ...(pod.spec?.initContainers ?? []), ...(pod.spec?.ephemeralContainers ?? [])];
    const container = q.get("container") || (containers.length === 1 ? containers[0]?.name : undefined);
    if (!container)
      throw errors.badRequest(
        containers.length === 0
          ? `a container name must be specified for pod ${pod.metadata.name}`
          : `a container name must be specified for pod ${pod.metadata.name}, choose one of: [${all.map((c) => c.name).join(" ")}]`,
      );
    if (!all.some((c) => c.name === container))
      throw errors.badRequest(`container ${container} is not valid for pod ${pod.metadata.name}`);
    if (!pod.spec?.nodeName) throw errors.badRequest(`pod ${pod.metadata.name} does not have a host assigned`);
    if (!this.opts.podLogs)
      throw errors.badRequest(
        `logs of pod ${pod.metadata.name} are not available: no kubelet log provider is configured`,
      );
    await this.opts.podLogs(pod, container, q, res);
  }
}

export type { Route };
