/** RestClient: the KubeClient over HTTP(S) (see transport.ts), including the newline-delimited watch stream. */
import type { KubeList, KubeObject, Status } from "../api/index.js";
import { ApiError, connectionError, fail, ok, type Result, statusFromBody } from "./errors.js";
import type { ClientConfig } from "./kubeconfig.js";
import { apiVersionOf, type ObjectOf, resourceFor, resourcePath } from "./resources.js";
import { HttpTransport, type Transport } from "./transport.js";
import type {
  DeleteOptions,
  KubeClient,
  ListOptions,
  PatchType,
  WatchEnd,
  WatchEvent,
  WatchHandle,
  WatchOptions,
  WriteOptions,
} from "./types.js";

const patchContentType: Record<PatchType, string> = {
  merge: "application/merge-patch+json",
  strategic: "application/strategic-merge-patch+json",
  json: "application/json-patch+json",
};

function query(params: Record<string, string | number | boolean | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== "") q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : "";
}

function writeQuery(opts: WriteOptions | undefined): string {
  return query({ dryRun: opts?.dryRun ? "All" : undefined, fieldManager: opts?.fieldManager });
}

export class RestClient implements KubeClient {
  readonly namespace: string;
  private readonly transport: Transport;

  constructor(cfg: ClientConfig | { transport: Transport; namespace?: string }, userAgent = "podwire") {
    if ("transport" in cfg) {
      this.transport = cfg.transport;
      this.namespace = cfg.namespace ?? "default";
    } else {
      this.transport = new HttpTransport(cfg, userAgent);
      this.namespace = cfg.namespace;
    }
  }

  private async call<T>(method: string, path: string, body?: unknown, contentType = "application/json") {
    const headers: Record<string, string> = {};
    let text: string | undefined;
    if (body !== undefined) {
      text = JSON.stringify(body);
      headers["Content-Type"] = contentType;
    }
    const res = await this.transport.request(method, path, text, headers);
    if (res instanceof ApiError) return fail<T>(res);
    if (res.status < 200 || res.status >= 300) return fail<T>(new ApiError(statusFromBody(res.status, res.body)));
    try {
      return ok(JSON.parse(res.body) as T);
    } catch {
      return fail<T>(connectionError(`${method} ${path}: response is not JSON`));
    }
  }

  private nsFor(kind: string, obj: KubeObject): string | undefined {
    return resourceFor(kind).namespaced ? (obj.metadata.namespace ?? this.namespace) : undefined;
  }

  get<K extends string>(kind: K, namespace: string | undefined, name: string, opts: { subresource?: string } = {}) {
    const path = resourcePath(resourceFor(kind), { namespace, name, subresource: opts.subresource });
    return this.call<ObjectOf<K>>("GET", path);
  }

  list<K extends string>(kind: K, opts: ListOptions = {}) {
    const path =
      resourcePath(resourceFor(kind), { namespace: opts.namespace }) +
      query({
        labelSelector: opts.labelSelector,
        fieldSelector: opts.fieldSelector,
        limit: opts.limit,
        continue: opts.continue,
        resourceVersion: opts.resourceVersion,
      });
    return this.call<KubeList<ObjectOf<K>>>("GET", path);
  }

  async listAll<K extends string>(kind: K, opts: ListOptions = {}): Promise<Result<KubeList<ObjectOf<K>>>> {
    const limit = opts.limit ?? 500;
    let page = await this.list(kind, { ...opts, limit });
    if (!page.ok) return page;
    const all = page.value;
    const items = [...all.items];
    while (page.ok && page.value.metadata?.continue) {
      page = await this.list(kind, { ...opts, limit, continue: page.value.metadata.continue });
      if (!page.ok) return page;
      items.push(...page.value.items);
    }
    const rt = resourceFor(kind);
    // Lists carry kind/apiVersion on the list only; give items theirs so consumers can treat them uniformly.
    for (const it of items) {
      it.kind ??= kind;
      it.apiVersion ??= apiVersionOf(rt);
    }
    return ok({ ...all, items, metadata: { resourceVersion: all.metadata?.resourceVersion } });
  }

  create<T extends KubeObject>(obj: T, opts?: WriteOptions): Promise<Result<T>> {
    const kind = obj.kind ?? "";
    const path = resourcePath(resourceFor(kind), { namespace: this.nsFor(kind, obj) }) + writeQuery(opts);
    return this.call<T>("POST", path, obj);
  }

  update<T extends KubeObject>(obj: T, opts?: WriteOptions): Promise<Result<T>> {
    const kind = obj.kind ?? "";
    const path =
      resourcePath(resourceFor(kind), { namespace: this.nsFor(kind, obj), name: obj.metadata.name ?? "" }) +
      writeQuery(opts);
    return this.call<T>("PUT", path, obj);
  }

  updateStatus<T extends KubeObject>(obj: T, opts?: WriteOptions): Promise<Result<T>> {
    const kind = obj.kind ?? "";
    const path =
      resourcePath(resourceFor(kind), {
        namespace: this.nsFor(kind, obj),
        name: obj.metadata.name ?? "",
        subresource: "status",
      }) + writeQuery(opts);
    return this.call<T>("PUT", path, obj);
  }

  patch<K extends string>(
    kind: K,
    namespace: string | undefined,
    name: string,
    patch: unknown,
    type: PatchType,
    opts: WriteOptions & { subresource?: string } = {},
  ) {
    const path = resourcePath(resourceFor(kind), { namespace, name, subresource: opts.subresource }) + writeQuery(opts);
    return this.call<ObjectOf<K>>("PATCH", path, patch, patchContentType[type]);
  }

  delete(kind: string, namespace: string | undefined, name: string, opts: DeleteOptions = {}) {
    const path = resourcePath(resourceFor(kind), { namespace, name });
    return this.call<KubeObject | Status>("DELETE", path, { kind: "DeleteOptions", apiVersion: "v1", ...opts });
  }

  createSubresource<R = Status>(
    kind: string,
    namespace: string | undefined,
    name: string,
    subresource: string,
    body: unknown,
  ) {
    return this.call<R>("POST", resourcePath(resourceFor(kind), { namespace, name, subresource }), body);
  }

  watch<K extends string>(kind: K, opts: WatchOptions, onEvent: (ev: WatchEvent<ObjectOf<K>>) => void): WatchHandle {
    const path =
      resourcePath(resourceFor(kind), { namespace: opts.namespace }) +
      query({
        watch: "true",
        resourceVersion: opts.resourceVersion,
        allowWatchBookmarks: opts.allowWatchBookmarks ? "true" : undefined,
        timeoutSeconds: opts.timeoutSeconds,
        labelSelector: opts.labelSelector,
        fieldSelector: opts.fieldSelector,
      });
    // The server ends a watch after timeoutSeconds; silence well beyond that means the connection is dead.
    const idle = opts.timeoutSeconds ? (opts.timeoutSeconds + 60) * 1000 : undefined;
    return streamWatch<ObjectOf<K>>(this.transport, path, onEvent, idle);
  }

  close(): void {
    this.transport.close();
  }
}

/** Splits a byte stream into lines (events may straddle chunks; several may share one chunk). */
export class LineDecoder {
  private rest = "";
  push(chunk: string): string[] {
    const text = this.rest + chunk;
    const lines = text.split("\n");
    this.rest = lines.pop() ?? "";
    return lines.filter((l) => l.trim() !== "");
  }
  flush(): string[] {
    const r = this.rest.trim();
    this.rest = "";
    return r ? [r] : [];
  }
}

function streamWatch<T extends KubeObject>(
  transport: Transport,
  path: string,
  onEvent: (ev: WatchEvent<T>) => void,
  idleTimeoutMs?: number,
): WatchHandle {
  const ac = new AbortController();
  let resolveStarted!: () => void;
  const started = new Promise<void>((r) => {
    resolveStarted = r;
  });
  const done = (async (): Promise<WatchEnd> => {
    try {
      const sr = await transport.stream(path, {}, ac.signal, idleTimeoutMs);
      if (sr instanceof ApiError) return ac.signal.aborted ? { reason: "stopped" } : { reason: "error", error: sr };
      if (sr.status !== 200) {
        const chunks: Buffer[] = [];
        for await (const c of sr.res) chunks.push(c as Buffer);
        return { reason: "error", error: new ApiError(statusFromBody(sr.status, Buffer.concat(chunks).toString())) };
      }
      resolveStarted();
      const dec = new LineDecoder();
      const handle = (line: string): WatchEnd | undefined => {
        let ev: { type?: string; object?: unknown };
        try {
          ev = JSON.parse(line) as typeof ev;
        } catch {
          return undefined; // like client-node: a garbled line is skipped
        }
        if (ev.type === "ERROR") {
          const st = ev.object as Status;
          return { reason: "error", error: new ApiError({ ...st, code: st?.code ?? 500 }) };
        }
        if (ev.type === "ADDED" || ev.type === "MODIFIED" || ev.type === "DELETED" || ev.type === "BOOKMARK")
          onEvent({ type: ev.type, object: ev.object as T });
        return undefined;
      };
      sr.res.setEncoding("utf8");
      try {
        for await (const chunk of sr.res) {
          for (const line of dec.push(chunk as string)) {
            const end = handle(line);
            if (end) {
              sr.abort();
              return end;
            }
          }
        }
      } catch (e) {
        if (ac.signal.aborted) return { reason: "stopped" };
        return { reason: "error", error: connectionError(`watch ${path}: ${(e as Error).message}`) };
      }
      for (const line of dec.flush()) {
        const end = handle(line);
        if (end) return end;
      }
      return ac.signal.aborted ? { reason: "stopped" } : { reason: "closed" };
    } finally {
      resolveStarted();
    }
  })();
  return { started, done, stop: () => ac.abort() };
}
