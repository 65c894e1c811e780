/** Field values a field selector can test on an object (the apiserver's common set for the kinds podwire serves). */
import type { KubeObject } from "../api/index.js";

export function objectFields(obj: KubeObject): Record<string, string> {
  const f: Record<string, string> = {
    "metadata.name": obj.metadata.name ?? "",
    "metadata.namespace": obj.metadata.namespace ?? "",
  };
  const o = obj as KubeObject & {
    spec?: Record<string, unknown>;
    status?: Record<string, unknown>;
    type?: string;
  };
  if (obj.kind === "Pod") {
    f["spec.nodeName"] = String(o.spec?.nodeName ?? "");
    f["spec.restartPolicy"] = String(o.spec?.restartPolicy ?? "");
    f["spec.schedulerName"] = String(o.spec?.schedulerName ?? "");
    f["spec.serviceAccountName"] = String(o.spec?.serviceAccountName ?? "");
    f["spec.hostNetwork"] = String(o.spec?.hostNetwork ?? false);
    f["status.phase"] = String(o.status?.phase ?? "");
    f["status.podIP"] = String(o.status?.podIP ?? "");
    f["status.nominatedNodeName"] = String(o.status?.nominatedNodeName ?? "");
  }
  if (obj.kind === "Secret") f.type = String(o.type ?? "");
  if (obj.kind === "Node") f["spec.unschedulable"] = String(o.spec?.unschedulable ?? false);
  return f;
}
