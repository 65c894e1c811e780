/**
 * podwire's one client layer: every component reads (and writes) the API through this module, so the same
 * proxier, DNS, overlay and kubelet run against the bundled apiserver, a real cluster, or `--objects` files.
 *
 * ## Connecting
 * ```ts
 * const client = connect({ kubeconfig: opts.kubeconfig });   // --kubeconfig, else KUBECONFIG, in-cluster, ~/.kube/config
 * const r = await client.get("Pod", "default", "web-1");     // r: Result<Pod>
 * if (!r.ok) { if (isNotFound(r.error)) …; else log(r.error.status) }   // errors are values carrying the Status
 * ```
 * `KubeClient` (types.ts): get, list, listAll (follows `continue`), create, update (409 when the RV is stale),
 * updateStatus, patch(kind, ns, name, body, "merge" | "strategic" | "json", {subresource}), delete(kind, ns, name,
 * DeleteOptions), createSubresource (e.g. `pods/binding`), watch. Kinds are named by their `kind` string and
 * typed through `KindMap` (`client.list("Service")` → `Result<KubeList<Service>>`); paths come from resources.ts
 * (core v1, apps/v1, discovery.k8s.io/v1; `registerResource` adds more). Errors: `ApiError` with `.code`,
 * `.reason`, `.status`; `code: 0, reason: "ConnectionError"` for transport failures; helpers isNotFound,
 * isAlreadyExists, isConflict, isGone, isConnectionError.
 *
 * ## Informers
 * ```ts
 * const source = informerSource({ kubeconfig, objects });    // ApiSource or FileSource: same InformerSource interface
 * const services = source.informer<Service>("Service");      // shared per kind + {namespace, labelSelector, fieldSelector}
 * const pods = source.informer<Pod>("Pod", { fieldSelector: `spec.nodeName=${node}` });
 * services.onChange((ev) => tracker.record(ev));              // or addHandler({onAdd, onUpdate, onDelete})
 * await waitForSync([services, pods], 30_000);
 * services.list(); services.get("default", "web");            // the local cache (read-only objects)
 * source.stop();
 * ```
 * ApiInformer does list (paged) → watch from the list RV with bookmarks; a server close re-watches from the last
 * RV; 410 Gone relists at once; other failures relist after exponential back-off (200 ms … 30 s). A relist emits
 * only the differences against the cache (deletes for vanished objects). Handlers added later get the cached
 * objects replayed as adds. `{ transform }` (client-go's SetTransform) is applied to every object before it is
 * cached and delivered, so a consumer can keep only the fields it reads (`dns/zone/strip.ts`); informers are shared
 * per transform function, and without one they hold the objects as received. FileSource reads `--objects` files with src/objects/load.ts, watches them (fs.watch on
 * the directory + stat poll) and turns a reload into add/update/delete events; a bad reload keeps the old set.
 *
 * ## Testing
 * `FakeClient` (fake.ts) is an in-memory KubeClient with apiserver semantics (RVs, 409s, status subresource,
 * binding, selectors, watches with history and `expireWatches()` for 410). Wrap it in `new ApiSource(fake)` to
 * drive informers without a server.
 */
import { ApiSource, type ApiInformerOptions } from "./informer.js";
import type { ClientLogger, InformerSource } from "./cache.js";
import { FileSource, type FileSourceOptions } from "./file-source.js";
import { resolveClientConfig } from "./kubeconfig.js";
import { RestClient } from "./rest.js";
import type { KubeClient } from "./types.js";

export * from "./cache.js";
export * from "./errors.js";
export * from "./events.js";
export * from "./fake.js";
export * from "./fields.js";
export * from "./file-source.js";
export * from "./informer.js";
export * from "./kubeconfig.js";
export * from "./resources.js";
export * from "./rest.js";
export * from "./transport.js";
export * from "./types.js";
export { Backoff, sleep } from "./backoff.js";

/** A REST client from `--kubeconfig` (else KUBECONFIG, in-cluster, ~/.kube/config). Throws KubeconfigError. */
export function connect(
  opts: { kubeconfig?: string | undefined; context?: string | undefined; userAgent?: string } = {},
): KubeClient {
  return new RestClient(resolveClientConfig(opts), opts.userAgent ?? "podwire");
}

/**
 * The informer source a daemon's flags ask for: `--objects FILE…` (FileSource) when given, else the apiserver
 * from the kubeconfig. Throws ObjectsFileError / KubeconfigError for bad input (CLI: exit 1 or 2).
 */
export function informerSource(opts: {
  kubeconfig?: string | undefined;
  objects?: readonly string[] | undefined;
  context?: string | undefined;
  log?: ClientLogger;
  file?: FileSourceOptions;
  api?: Omit<ApiInformerOptions, "namespace" | "labelSelector" | "fieldSelector">;
}): InformerSource & { client?: KubeClient } {
  if (opts.objects && opts.objects.length > 0) {
    return new FileSource(opts.objects, { log: opts.log, ...opts.file } as FileSourceOptions);
  }
  const client = connect(opts);
  const src = new ApiSource(client, { log: opts.log, ...opts.api } as ApiInformerOptions);
  return Object.assign(src, {
    stop: () => {
      ApiSource.prototype.stop.call(src);
      client.close();
    },
  });
}
