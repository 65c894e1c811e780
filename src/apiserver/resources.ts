/**
 * The resources this apiserver serves: names, scope, discovery facts and storage keys, in one table.
 * Everything generic (REST handlers, discovery, OpenAPI) is driven from here.
 */

export interface SubresourceInfo {
  name: string;
  group: string;
  version: string;
  kind: string;
  verbs: string[];
}

export interface ResourceInfo {
  group: string;
  version: string;
  plural: string;
  singular: string;
  kind: string;
  namespaced: boolean;
  shortNames: string[];
  categories: string[];
  verbs: string[];
  subresources: SubresourceInfo[];
  /** The main endpoint ignores .status changes; PUT/PATCH …/status changes only .status. */
  hasStatus: boolean;
  /** Storage key prefix, kube-apiserver's etcd layout (`/registry/minions/` for nodes …). */
  keyPrefix: string;
  /** Served but not stored (componentstatuses). */
  virtual?: boolean;
}

const all = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"];
const statusSub = (group: string, kind: string): SubresourceInfo => ({
  name: "status",
  group,
  version: "v1",
  kind,
  verbs: ["get", "patch", "update"],
});
const scaleSub: SubresourceInfo = {
  name: "scale",
  group: "autoscaling",
  version: "v1",
  kind: "Scale",
  verbs: ["get", "patch", "update"],
};

function r(p: Partial<ResourceInfo> & Pick<ResourceInfo, "plural" | "kind" | "keyPrefix">): ResourceInfo {
  return {
    group: "",
    version: "v1",
    singular: p.kind.toLowerCase(),
    namespaced: true,
    shortNames: [],
    categories: [],
    verbs: all,
    subresources: [],
    hasStatus: false,
    ...p,
  };
}

export const resources: ResourceInfo[] = [
  r({
    plural: "namespaces",
    kind: "Namespace",
    namespaced: false,
    shortNames: ["ns"],
    keyPrefix: "/registry/namespaces/",
    hasStatus: true,
    verbs: ["create", "delete", "get", "list", "patch", "update", "watch"],
    subresources: [
      statusSub("", "Namespace"),
      { name: "finalize", group: "", version: "v1", kind: "Namespace", verbs: ["update"] },
    ],
  }),
  r({
    plural: "nodes",
    kind: "Node",
    namespaced: false,
    shortNames: ["no"],
    keyPrefix: "/registry/minions/",
    hasStatus: true,
    subresources: [statusSub("", "Node")],
  }),
  r({
    plural: "pods",
    kind: "Pod",
    shortNames: ["po"],
    categories: ["all"],
    keyPrefix: "/registry/pods/",
    hasStatus: true,
    subresources: [
      statusSub("", "Pod"),
      { name: "binding", group: "", version: "v1", kind: "Binding", verbs: ["create"] },
      { name: "log", group: "", version: "v1", kind: "Pod", verbs: ["get"] },
      { name: "exec", group: "", version: "v1", kind: "PodExecOptions", verbs: ["create", "get"] },
    ],
  }),
  r({
    plural: "services",
    kind: "Service",
    shortNames: ["svc"],
    categories: ["all"],
    keyPrefix: "/registry/services/specs/",
    hasStatus: true,
    verbs: ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"],
    subresources: [statusSub("", "Service")],
  }),
  r({
    plural: "endpoints",
    singular: "endpoints",
    kind: "Endpoints",
    shortNames: ["ep"],
    keyPrefix: "/registry/services/endpoints/",
  }),
  r({ plural: "configmaps", kind: "ConfigMap", shortNames: ["cm"], keyPrefix: "/registry/configmaps/" }),
  r({ plural: "secrets", kind: "Secret", keyPrefix: "/registry/secrets/" }),
  r({ plural: "events", kind: "Event", shortNames: ["ev"], keyPrefix: "/registry/events/" }),
  r({
    plural: "replicationcontrollers",
    kind: "ReplicationController",
    shortNames: ["rc"],
    categories: ["all"],
    keyPrefix: "/registry/controllers/",
    hasStatus: true,
    subresources: [statusSub("", "ReplicationController"), scaleSub],
  }),
  r({
    plural: "componentstatuses",
    kind: "ComponentStatus",
    namespaced: false,
    shortNames: ["cs"],
    verbs: ["get", "list"],
    keyPrefix: "/registry/componentstatuses/",
    virtual: true,
  }),
  r({
    group: "apps",
    plural: "deployments",
    kind: "Deployment",
    shortNames: ["deploy"],
    categories: ["all"],
    keyPrefix: "/registry/deployments/",
    hasStatus: true,
    subresources: [statusSub("apps", "Deployment"), scaleSub],
  }),
  r({
    group: "apps",
    plural: "replicasets",
    kind: "ReplicaSet",
    shortNames: ["rs"],
    categories: ["all"],
    keyPrefix: "/registry/replicasets/",
    hasStatus: true,
    subresources: [statusSub("apps", "ReplicaSet"), scaleSub],
  }),
  r({
    group: "coordination.k8s.io",
    plural: "leases",
    kind: "Lease",
    keyPrefix: "/registry/leases/",
  }),
  r({
    group: "discovery.k8s.io",
    plural: "endpointslices",
    kind: "EndpointSlice",
    keyPrefix: "/registry/endpointslices/",
  }),
];

export const groupVersions: { group: string; version: string }[] = [
  { group: "", version: "v1" },
  { group: "apps", version: "v1" },
  { group: "coordination.k8s.io", version: "v1" },
  { group: "discovery.k8s.io", version: "v1" },
];

export function apiVersionOf(res: { group: string; version: string }): string {
  return res.group ? `${res.group}/${res.version}` : res.version;
}

/** Looks a resource up by group and plural. */
export function findResource(group: string, version: string, plural: string): ResourceInfo | undefined {
  return resources.find((x) => x.group === group && x.version === version && x.plural === plural);
}

export function resourceForKind(apiVersion: string, kind: string): ResourceInfo | undefined {
  return resources.find((x) => apiVersionOf(x) === apiVersion && x.kind === kind);
}

/** Storage key of one object. */
export function objectKey(res: ResourceInfo, namespace: string | undefined, name: string): string {
  return res.namespaced ? `${res.keyPrefix}${namespace}/${name}` : `${res.keyPrefix}${name}`;
}

/** Storage prefix of a list: one namespace or all of them. */
export function listPrefix(res: ResourceInfo, namespace: string | undefined): string {
  return res.namespaced && namespace ? `${res.keyPrefix}${namespace}/` : res.keyPrefix;
}

/** The group-qualified plural used in error messages (`deployments.apps`). */
export function qualifiedName(res: ResourceInfo): string {
  return res.group ? `${res.plural}.${res.group}` : res.plural;
}
