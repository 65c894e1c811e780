/** Maps object kinds to REST resources and URL paths (core v1, apps/v1, discovery.k8s.io/v1, …). */
import type {
  ConfigMap,
  Deployment,
  EndpointSlice,
  Endpoints,
  Event,
  KubeObject,
  Namespace,
  Node,
  Pod,
  ReplicaSet,
  ReplicationController,
  Secret,
  Service,
} from "../api/index.js";

export interface ResourceType {
  group: string;
  version: string;
  kind: string;
  /** URL segment, e.g. `pods`. */
  plural: string;
  namespaced: boolean;
}

/** Kinds with a TypeScript type in src/api; other kinds resolve to KubeObject. */
export interface KindMap {
  Namespace: Namespace;
  Node: Node;
  Pod: Pod;
  Service: Service;
  Endpoints: Endpoints;
  ConfigMap: ConfigMap;
  Secret: Secret;
  Event: Event;
  ReplicationController: ReplicationController;
  Deployment: Deployment;
  ReplicaSet: ReplicaSet;
  EndpointSlice: EndpointSlice;
}
export type KnownKind = keyof KindMap;
/** The object type for a kind name: `ObjectOf<"Pod">` is Pod, an unknown kind is KubeObject. */
export type ObjectOf<K extends string> = K extends KnownKind ? KindMap[K] : KubeObject;

const builtins: ResourceType[] = [
  { group: "", version: "v1", kind: "Namespace", plural: "namespaces", namespaced: false },
  { group: "", version: "v1", kind: "Node", plural: "nodes", namespaced: false },
  { group: "", version: "v1", kind: "Pod", plural: "pods", namespaced: true },
  { group: "", version: "v1", kind: "Service", plural: "services", namespaced: true },
  { group: "", version: "v1", kind: "Endpoints", plural: "endpoints", namespaced: true },
  { group: "", version: "v1", kind: "ConfigMap", plural: "configmaps", namespaced: true },
  { group: "", version: "v1", kind: "Secret", plural: "secrets", namespaced: true },
  { group: "", version: "v1", kind: "Event", plural: "events", namespaced: true },
  { group: "", version: "v1", kind: "ServiceAccount", plural: "serviceaccounts", namespaced: true },
  { group: "", version: "v1", kind: "ReplicationController", plural: "replicationcontrollers", namespaced: true },
  { group: "", version: "v1", kind: "ComponentStatus", plural: "componentstatuses", namespaced: false },
  { group: "apps", version: "v1", kind: "Deployment", plural: "deployments", namespaced: true },
  { group: "apps", version: "v1", kind: "ReplicaSet", plural: "replicasets", namespaced: true },
  { group: "discovery.k8s.io", version: "v1", kind: "EndpointSlice", plural: "endpointslices", namespaced: true },
  { group: "coordination.k8s.io", version: "v1", kind: "Lease", plural: "leases", namespaced: true },
];

const byKind = new Map<string, ResourceType>(builtins.map((r) => [r.kind, r]));

/** Adds (or replaces) a kind's mapping, e.g. for a CRD. */
export function registerResource(r: ResourceType): void {
  byKind.set(r.kind, r);
}

/** The resource for a kind name (`"Pod"`); throws on an unknown kind, which is a programming error. */
export function resourceFor(kind: string): ResourceType {
  const r = byKind.get(kind);
  if (!r) throw new Error(`podwire client: unknown kind ${kind} (register it with registerResource)`);
  return r;
}

export function apiVersionOf(r: ResourceType): string {
  return r.group ? `${r.group}/${r.version}` : r.version;
}

export interface PathParts {
  namespace?: string | undefined;
  name?: string | undefined;
  subresource?: string | undefined;
}

/**
 * The URL path of a collection, object or subresource.
 * `resourcePath(resourceFor("Pod"), {namespace: "default", name: "web", subresource: "binding"})`
 * → `/api/v1/namespaces/default/pods/web/binding`. A namespaced kind without a namespace is the all-namespaces list.
 */
export function resourcePath(r: ResourceType, p: PathParts = {}): string {
  let path = r.group ? `/apis/${r.group}/${r.version}` : `/api/${r.version}`;
  if (r.namespaced && p.namespace) path += `/namespaces/${encodeURIComponent(p.namespace)}`;
  path += `/${r.plural}`;
  if (p.name !== undefined) {
    path += `/${encodeURIComponent(p.name)}`;
    if (p.subresource) path += `/${p.subresource}`;
  }
  return path;
}

/** `namespace/name` for namespaced objects, `name` for cluster-scoped ones: the informer cache key. */
export function objectKey(obj: KubeObject): string {
  const ns = obj.metadata.namespace;
  return ns ? `${ns}/${obj.metadata.name ?? ""}` : (obj.metadata.name ?? "");
}

export function keyOf(namespace: string | undefined, name: string): string {
  return namespace ? `${namespace}/${name}` : name;
}
