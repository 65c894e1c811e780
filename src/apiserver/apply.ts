/**
 * Server-side apply, minimal: `PATCH` with `application/apply-patch+yaml` and `?fieldManager=` creates the object
 * or merges the applied configuration into it (strategic-merge semantics: maps merge, keyed lists merge by their
 * merge key, other lists are atomic), records the manager's fields in `metadata.managedFields` (FieldsV1), removes
 * fields the manager applied before but no longer does (unless another applier owns them), and refuses to change
 * a field another applier owns to a different value: 409 with one cause per field, unless `force=true`, which
 * takes the field over.
 * Not done (documented): ownership by non-apply writers (Update operations are not recorded, so only appliers
 * conflict with each other), unions, `x-kubernetes-list-type=set` beyond finalizers.
 */
import type { KubeObject } from "../api/meta.js";
import { ApiError } from "./errors.js";
import { listStrategy, strategicMergePatch } from "./patch.js";

// biome-ignore lint/suspicious/noExplicitAny: objects are schemaless JSON here
type Obj = KubeObject & Record<string, any>;
type Json = unknown;

const SEP = "\u0000";
/** Identity and server-owned fields: never owned by a manager. */
const rootSkip = new Set(["apiVersion", "kind", "status"]);
const metaSkip = new Set([
  "name",
  "namespace",
  "uid",
  "resourceVersion",
  "generation",
  "creationTimestamp",
  "deletionTimestamp",
  "deletionGracePeriodSeconds",
  "managedFields",
  "selfLink",
]);

function isMap(v: unknown): v is Record<string, Json> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

/**
 * The fields an object sets, as paths of FieldsV1 segments (`f:name`, `k:{"name":"c"}`, `v:"x"`). Leaves only;
 * keyed list items also appear as their own path (so a dropped item can go as a whole).
 */
export function fieldSet(kind: string, obj: Obj): Set<string> {
  const out = new Set<string>();
  const walkMap = (m: Record<string, Json>, segs: string[], names: string[]) => {
    for (const [k, v] of Object.entries(m)) {
      if (segs.length === 0 && rootSkip.has(k)) continue;
      if (segs.length === 1 && segs[0] === "f:metadata" && metaSkip.has(k)) continue;
      walkValue(v, [...segs, `f:${k}`], [...names, k]);
    }
  };
  const walkValue = (v: Json, segs: string[], names: string[]) => {
    if (isMap(v) && Object.keys(v).length > 0) return walkMap(v, segs, names);
    if (Array.isArray(v)) {
      const st = listStrategy(kind, names);
      if (st && "mergeKey" in st) {
        for (const item of v) {
          if (!isMap(item) || item[st.mergeKey] === undefined) continue;
          const seg = `k:${JSON.stringify({ [st.mergeKey]: item[st.mergeKey] })}`;
          out.add([...segs, seg].join(SEP));
          walkMap(item, [...segs, seg], names);
        }
        return;
      }
      if (st && "set" in st) {
        for (const item of v) out.add([...segs, `v:${JSON.stringify(item)}`].join(SEP));
        return;
      }
    }
    out.add(segs.join(SEP));
  };
  if (isMap(obj)) walkMap(obj, [], []);
  return out;
}

/** FieldsV1 (nested `{"f:spec":{"f:replicas":{}}}`, `".":{}` marking a node that is itself owned) ↔ paths. */
export function toFieldsV1(paths: Set<string>): Record<string, Json> {
  const root: Record<string, Record<string, Json>> = {};
  const sorted = [...paths].sort();
  for (const p of sorted) {
    let node: Record<string, Json> = root;
    const segs = p.split(SEP);
    for (const s of segs) {
      if (!isMap(node[s])) node[s] = {};
      node = node[s] as Record<string, Json>;
    }
    // a path that also has children (a keyed item) is marked with "."
    if (sorted.some((q) => q.startsWith(p + SEP))) node["."] = {};
  }
  return root;
}

export function fromFieldsV1(tree: Json): Set<string> {
  const out = new Set<string>();
  const walk = (node: Json, segs: string[]) => {
    if (!isMap(node)) return;
    const keys = Object.keys(node).filter((k) => k !== ".");
    if (segs.length > 0 && (keys.length === 0 || "." in node)) out.add(segs.join(SEP));
    for (const k of keys) walk(node[k], [...segs, k]);
  };
  walk(tree, []);
  return out;
}

/** `.spec.ports[port=80,protocol="TCP"].targetPort`-like text for a path, as kube's conflict messages show. */
export function pathText(p: string): string {
  return p
    .split(SEP)
    .map((s) => {
      if (s.startsWith("f:")) return `.${s.slice(2)}`;
      if (s.startsWith("k:")) {
        const k = JSON.parse(s.slice(2)) as Record<string, Json>;
        return `[${Object.entries(k)
          .map(([a, b]) => `${a}=${JSON.stringify(b)}`)
          .join(",")}]`;
      }
      return `[${s.slice(2)}]`;
    })
    .join("");
}

/** The value at a path (undefined when absent). */
function valueAt(obj: Json, p: string): Json {
  let cur: Json = obj;
  for (const s of p.split(SEP)) {
    if (s.startsWith("f:")) {
      if (!isMap(cur)) return undefined;
      cur = cur[s.slice(2)];
    } else if (s.startsWith("k:")) {
      if (!Array.isArray(cur)) return undefined;
      const [[k, v]] = Object.entries(JSON.parse(s.slice(2)) as Record<string, Json>) as [[string, Json]];
      cur = cur.find((it) => isMap(it) && JSON.stringify(it[k]) === JSON.stringify(v));
    } else {
      if (!Array.isArray(cur)) return undefined;
      const want = s.slice(2);
      return cur.some((it) => JSON.stringify(it) === want) ? JSON.parse(want) : undefined;
    }
  }
  return cur;
}

/** Removes the field at a path; empty maps left behind are removed too. */
function removeAt(obj: Json, p: string): void {
  const segs = p.split(SEP);
  const chain: Json[] = [obj];
  let cur: Json = obj;
  for (let i = 0; i < segs.length - 1; i++) {
    const s = segs[i] as string;
    if (s.startsWith("f:") && isMap(cur)) cur = cur[s.slice(2)];
    else if (s.startsWith("k:") && Array.isArray(cur)) {
      const [[k, v]] = Object.entries(JSON.parse(s.slice(2)) as Record<string, Json>) as [[string, Json]];
      cur = cur.find((it) => isMap(it) && JSON.stringify(it[k]) === JSON.stringify(v));
    } else return;
    if (cur === undefined) return;
    chain.push(cur);
  }
  const last = segs[segs.length - 1] as string;
  const parent = chain[chain.length - 1];
  if (last.startsWith("f:") && isMap(parent)) delete parent[last.slice(2)];
  else if (Array.isArray(parent)) {
    const idx = last.startsWith("k:")
      ? (() => {
          const [[k, v]] = Object.entries(JSON.parse(last.slice(2)) as Record<string, Json>) as [[string, Json]];
          return parent.findIndex((it) => isMap(it) && JSON.stringify(it[k]) === JSON.stringify(v));
        })()
      : parent.findIndex((it) => JSON.stringify(it) === last.slice(2));
    if (idx >= 0) parent.splice(idx, 1);
  }
  // prune maps emptied by the removal (not the root or metadata)
  for (let i = chain.length - 1; i >= 1; i--) {
    const node = chain[i];
    const up = chain[i - 1];
    const s = segs[i - 1] as string;
    if (isMap(node) && Object.keys(node).length === 0 && isMap(up) && s.startsWith("f:") && s !== "f:metadata")
      delete up[s.slice(2)];
    else break;
  }
}

interface ManagedFieldsEntry {
  manager?: string;
  operation?: string;
  apiVersion?: string;
  time?: string;
  fieldsType?: string;
  fieldsV1?: Json;
  subresource?: string;
}

export interface ApplyInput {
  kind: string;
  group: string;
  plural: string;
  apiVersion: string;
  live: Obj | undefined;
  applied: Obj;
  manager: string;
  force: boolean;
  now: string;
}

/** The object to store after applying `applied` as `manager` (throws a 409 ApiError on conflicts). */
export function applyConfig(inp: ApplyInput): Obj {
  const { kind, live, applied, manager } = inp;
  const mine = fieldSet(kind, applied);
  const entries: ManagedFieldsEntry[] = [...((live?.metadata.managedFields ?? []) as ManagedFieldsEntry[])];
  const own = (e: ManagedFieldsEntry) => e.manager === manager && e.operation === "Apply" && !e.subresource;
  const before = fromFieldsV1(entries.find(own)?.fieldsV1);
  const others = entries.filter((e) => !own(e) && e.operation === "Apply");
  const otherSets = others.map((e) => ({ e, set: fromFieldsV1(e.fieldsV1) }));
  // Conflicts: another applier owns a field this config sets to a different value.
  const conflicts: { manager: string; path: string }[] = [];
  // Only leaves compare values (a keyed item's own path stands for the item, its fields are compared one by one).
  const inner = new Set<string>();
  for (const p of mine) {
    const segs = p.split(SEP);
    for (let i = 1; i < segs.length; i++) inner.add(segs.slice(0, i).join(SEP));
  }
  if (live)
    for (const p of mine) {
      if (inner.has(p)) continue;
      for (const o of otherSets)
        if (o.set.has(p) && JSON.stringify(valueAt(applied, p)) !== JSON.stringify(valueAt(live, p)))
          conflicts.push({ manager: o.e.manager ?? "", path: p });
    }
  if (conflicts.length && !inp.force) {
    const name = applied.metadata?.name ?? "";
    const lines = conflicts.map((c) => `conflict with "${c.manager}": ${pathText(c.path)}`);
    throw new ApiError({
      kind: "Status",
      apiVersion: "v1",
      metadata: {},
      status: "Failure",
      message: `Apply failed with ${conflicts.length} conflict${conflicts.length > 1 ? "s" : ""}: ${lines.join("\n")}`,
      reason: "Conflict",
      details: {
        name,
        group: inp.group || undefined,
        kind: inp.plural,
        causes: conflicts.map((c, i) => ({
          reason: "FieldManagerConflict",
          message: lines[i] as string,
          field: pathText(c.path),
        })),
      },
      code: 409,
    });
  }
  // force: the conflicting fields move to this manager
  for (const c of conflicts) for (const o of otherSets) if (o.e.manager === c.manager) o.set.delete(c.path);
  const merged = (live ? strategicMergePatch(kind, live, applied) : JSON.parse(JSON.stringify(applied))) as Obj;
  // Fields this manager applied before and dropped now go, unless another applier still owns them.
  const ownedByOthers = (p: string) =>
    otherSets.some((o) => o.set.has(p) || [...o.set].some((q) => q.startsWith(p + SEP)));
  // Outermost first: a dropped keyed item goes as a whole (its key field with it), its fields need no visit.
  const gone = [...before].filter((p) => !mine.has(p) && !ownedByOthers(p)).sort((a, b) => a.length - b.length);
  const removed: string[] = [];
  for (const p of gone) {
    if (removed.some((r) => p.startsWith(r + SEP))) continue;
    removeAt(merged, p);
    removed.push(p);
  }
  const next: ManagedFieldsEntry[] = [];
  for (const e of entries) {
    if (own(e)) continue;
    const o = otherSets.find((x) => x.e === e);
    if (o) {
      if (o.set.size === 0) continue;
      next.push({ ...e, fieldsV1: toFieldsV1(o.set) });
    } else next.push(e);
  }
  const prevEntry = entries.find(own);
  const fieldsV1 = toFieldsV1(mine);
  // The same fields applied again keep their time, so a no-op apply stays a no-op (no new resourceVersion).
  const sameFields = prevEntry && JSON.stringify(prevEntry.fieldsV1) === JSON.stringify(fieldsV1);
  next.push({
    manager,
    operation: "Apply",
    apiVersion: inp.apiVersion,
    time: sameFields && prevEntry.time ? prevEntry.time : inp.now,
    fieldsType: "FieldsV1",
    fieldsV1,
  });
  merged.metadata = { ...(merged.metadata ?? {}), managedFields: next };
  return merged;
}
