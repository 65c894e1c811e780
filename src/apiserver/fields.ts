/**
 * Field-selector fields per resource, the subset kube-apiserver supports (its `GetAttrs` functions).
 * A selector naming any other field is a 400 "field label not supported".
 */
import type { KubeObject } from "../api/meta.js";
import type { ResourceInfo } from "./resources.js";

type Obj = KubeObject & Record<string, unknown>;

function get(obj: unknown, path: string): string {
  let cur: unknown = obj;
  for (const part of path.split(".")) {
    if (cur === null || typeof cur !== "object") return "";
    cur = (cur as Record<string, unknown>)[part];
  }
  if (cur === undefined || cur === null) return "";
  return String(cur);
}

const extra: Record<string, string[]> = {
  pods: [
    "spec.nodeName",
    "spec.restartPolicy",
    "spec.schedulerName",
    "spec.serviceAccountName",
    "spec.hostNetwork",
    "status.phase",
    "status.podIP",
    "status.nominatedNodeName",
  ],
  events: [
    "involvedObject.kind",
    "involvedObject.namespace",
    "involvedObject.name",
    "involvedObject.uid",
    "involvedObject.apiVersion",
    "involvedObject.resourceVersion",
    "involvedObject.fieldPath",
    "reason",
    "reportingComponent",
    "source",
    "type",
  ],
  nodes: ["spec.unschedulable"],
  namespaces: ["status.phase"],
  secrets: ["type"],
  replicasets: ["status.replicas"],
  replicationcontrollers: ["status.replicas"],
};

export function supportedFields(res: ResourceInfo): string[] {
  return ["metadata.name", "metadata.namespace", ...(extra[res.plural] ?? [])];
}

/** The field set a field selector is matched against. */
export function objectFields(res: ResourceInfo, obj: KubeObject): Record<string, string> {
  const o = obj as Obj;
  const f: Record<string, string> = {
    "metadata.name": obj.metadata.name ?? "",
    "metadata.namespace": res.namespaced ? (obj.metadata.namespace ?? "") : "",
  };
  for (const path of extra[res.plural] ?? []) {
    if (path === "source") f[path] = get(o, "source.component");
    else if (path === "spec.hostNetwork") f[path] = get(o, path) === "true" ? "true" : "false";
    else if (path === "spec.unschedulable") f[path] = get(o, path) === "true" ? "true" : "false";
    else f[path] = get(o, path);
  }
  return f;
}
