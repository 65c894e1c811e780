/** Discovery documents: aggregated v2 (`/api`, `/apis` by Accept) and the legacy per-group-version lists. */
import { apiVersionOf, groupVersions, type ResourceInfo, resources } from "./resources.js";

export const aggregatedContentType = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

/** True when the Accept header asks for aggregated discovery (v2 or v2beta1). */
export function wantsAggregated(accept: string | undefined): boolean {
  if (!accept) return false;
  return accept.split(",").some((part) => {
    const params = part.split(";").map((s) => s.trim());
    return (
      params.includes("g=apidiscovery.k8s.io") && params.includes("as=APIGroupDiscoveryList") && params.includes("v=v2")
    );
  });
}

function ofGroup(group: string): ResourceInfo[] {
  return resources.filter((r) => r.group === group);
}

function aggregatedGroup(group: string) {
  const gv = groupVersions.filter((g) => g.group === group);
  return {
    metadata: { name: group },
    versions: gv.map(({ version }) => ({
      version,
      freshness: "Current",
      resources: ofGroup(group)
        .filter((r) => r.version === version)
        .map((r) => {
          const out: Record<string, unknown> = {
            resource: r.plural,
            responseKind: { group: r.group, version: r.version, kind: r.kind },
            scope: r.namespaced ? "Namespaced" : "Cluster",
            singularResource: r.singular,
            verbs: r.verbs,
          };
          if (r.shortNames.length) out.shortNames = r.shortNames;
          if (r.categories.length) out.categories = r.categories;
          if (r.subresources.length)
            out.subresources = r.subresources.map((s) => ({
              subresource: s.name,
              responseKind: { group: s.group, version: s.version, kind: s.kind },
              verbs: s.verbs,
            }));
          return out;
        }),
    })),
  };
}

export function aggregatedCore() {
  return {
    kind: "APIGroupDiscoveryList",
    apiVersion: "apidiscovery.k8s.io/v2",
    metadata: {},
    items: [aggregatedGroup("")],
  };
}

export function aggregatedApis() {
  const groups = [...new Set(groupVersions.map((g) => g.group).filter((g) => g !== ""))];
  return {
    kind: "APIGroupDiscoveryList",
    apiVersion: "apidiscovery.k8s.io/v2",
    metadata: {},
    items: groups.map(aggregatedGroup),
  };
}

export function legacyApiVersions(serverAddress: string) {
  return {
    kind: "APIVersions",
    versions: ["v1"],
    serverAddressByClientCIDRs: [{ clientCIDR: "0.0.0.0/0", serverAddress }],
  };
}

function legacyGroup(group: string) {
  const versions = groupVersions
    .filter((g) => g.group === group)
    .map((g) => ({ groupVersion: `${group}/${g.version}`, version: g.version }));
  return { name: group, versions, preferredVersion: versions[0] };
}

export function legacyApiGroupList() {
  const groups = [...new Set(groupVersions.map((g) => g.group).filter((g) => g !== ""))];
  return { kind: "APIGroupList", apiVersion: "v1", groups: groups.map(legacyGroup) };
}

export function legacyApiGroup(group: string) {
  if (!groupVersions.some((g) => g.group === group)) return undefined;
  return { kind: "APIGroup", apiVersion: "v1", ...legacyGroup(group) };
}

export function legacyResourceList(group: string, version: string) {
  if (!groupVersions.some((g) => g.group === group && g.version === version)) return undefined;
  const list: Record<string, unknown>[] = [];
  for (const r of ofGroup(group).filter((x) => x.version === version)) {
    const main: Record<string, unknown> = {
      name: r.plural,
      singularName: r.singular,
      namespaced: r.namespaced,
      kind: r.kind,
      verbs: r.verbs,
    };
    if (r.shortNames.length) main.shortNames = r.shortNames;
    if (r.categories.length) main.categories = r.categories;
    list.push(main);
    for (const s of r.subresources) {
      const sub: Record<string, unknown> = {
        name: `${r.plural}/${s.name}`,
        singularName: "",
        namespaced: r.namespaced,
        kind: s.kind,
        verbs: s.verbs,
      };
      if (s.group !== r.group) sub.group = s.group;
      if (s.version !== r.version) sub.version = s.version;
      list.push(sub);
    }
  }
  return { kind: "APIResourceList", apiVersion: "v1", groupVersion: apiVersionOf({ group, version }), resources: list };
}
