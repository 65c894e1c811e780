/**
 * The minimal OpenAPI v3 kubectl needs for `apply`/`create -f`/`replace` with default validation: one PATCH
 * operation per kind carrying `x-kubernetes-group-version-kind` and a `fieldValidation` parameter, no schemas.
 */
import { createHash } from "node:crypto";
import { groupVersions, type ResourceInfo, resources } from "./resources.js";

function gvPath(group: string, version: string): string {
  return group ? `apis/${group}/${version}` : `api/${version}`;
}

export function openapiGroupDoc(group: string, version: string) {
  const paths: Record<string, unknown> = {};
  const op = (r: ResourceInfo, kind: string, g: string, v: string) => ({
    "x-kubernetes-group-version-kind": { group: g, version: v, kind },
    "x-kubernetes-action": "patch",
    parameters: [
      { name: "fieldValidation", in: "query", schema: { type: "string", uniqueItems: true } },
      { name: "dryRun", in: "query", schema: { type: "string", uniqueItems: true } },
      { name: "fieldManager", in: "query", schema: { type: "string", uniqueItems: true } },
    ],
    responses: { "200": { description: "OK" } },
    operationId: `patch${r.namespaced ? "Namespaced" : ""}${kind}`,
  });
  for (const r of resources.filter((x) => x.group === group && x.version === version && !x.virtual)) {
    const base = r.namespaced
      ? `/${gvPath(group, version)}/namespaces/{namespace}/${r.plural}/{name}`
      : `/${gvPath(group, version)}/${r.plural}/{name}`;
    paths[base] = { patch: op(r, r.kind, r.group, r.version) };
  }
  return {
    openapi: "3.0.0",
    info: { title: "Kubernetes", version: "v1.32.0" },
    paths,
    components: { schemas: {} },
  };
}

function hashOf(doc: unknown): string {
  return createHash("sha512").update(JSON.stringify(doc)).digest("hex").slice(0, 64).toUpperCase();
}

export function openapiRoot() {
  const paths: Record<string, { serverRelativeURL: string }> = {};
  for (const { group, version } of groupVersions) {
    const p = gvPath(group, version);
    paths[p] = { serverRelativeURL: `/openapi/v3/${p}?hash=${hashOf(openapiGroupDoc(group, version))}` };
  }
  return { paths };
}

/** Looks up the document for `/openapi/v3/<api/v1|apis/g/v>`. */
export function openapiFor(path: string) {
  for (const { group, version } of groupVersions)
    if (gvPath(group, version) === path) return openapiGroupDoc(group, version);
  return undefined;
}
