/**
 * The three PATCH flavours: JSON merge patch (RFC 7386), JSON patch (RFC 6902) and Kubernetes' strategic merge
 * patch (merge keys per list, `$patch`, `$setElementOrder`, `$retainKeys`, `$deleteFromPrimitiveList`).
 * Pure functions over plain JSON values.
 */
import { errors } from "./errors.js";

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type JsonObject = { [k: string]: Json };

function isObject(v: unknown): v is JsonObject {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function clone<T>(v: T): T {
  return v === undefined ? v : (JSON.parse(JSON.stringify(v)) as T);
}

/** RFC 7386: objects merge recursively, null deletes, anything else (arrays too) replaces. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return clone(patch);
  const out: JsonObject = isObject(target) ? clone(target) : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v) as Json;
  }
  return out;
}

// ---- JSON patch -------------------------------------------------------------------------------------

interface JsonPatchOp {
  op: string;
  path: string;
  from?: string;
  value?: unknown;
}

function pointer(path: string): string[] {
  if (path === "") return [];
  if (!path.startsWith("/")) throw errors.badRequest(`invalid JSON pointer: ${path}`);
  return path
    .slice(1)
    .split("/")
    .map((s) => s.replace(/~1/g, "/").replace(/~0/g, "~"));
}

function parentOf(doc: unknown, parts: string[], path: string): { parent: JsonObject | Json[]; last: string } {
  let cur: unknown = doc;
  for (const p of parts.slice(0, -1)) {
    if (Array.isArray(cur)) cur = cur[Number(p)];
    else if (isObject(cur)) cur = cur[p];
    else cur = undefined;
    if (cur === undefined) throw jsonPatchError(`path ${path} does not exist`);
  }
  if (!Array.isArray(cur) && !isObject(cur)) throw jsonPatchError(`path ${path} does not exist`);
  return { parent: cur, last: parts[parts.length - 1] as string };
}

function jsonPatchError(msg: string) {
  // kube-apiserver answers a JSON patch that cannot apply with 422 (it surfaces as an Invalid error).
  return errors.invalid("", "", [
    { reason: "FieldValueInvalid", message: `the server rejected our request due to an error in our request: ${msg}` },
  ]);
}

function getAt(doc: unknown, path: string): unknown {
  let cur: unknown = doc;
  for (const p of pointer(path)) {
    if (Array.isArray(cur)) cur = cur[Number(p)];
    else if (isObject(cur)) cur = cur[p];
    else return undefined;
  }
  return cur;
}

function removeAt(doc: unknown, path: string): unknown {
  const { parent, last } = parentOf(doc, pointer(path), path);
  if (Array.isArray(parent)) {
    const i = Number(last);
    if (!(i >= 0 && i < parent.length)) throw jsonPatchError(`path ${path} does not exist`);
    return parent.splice(i, 1)[0];
  }
  if (!(last in parent)) throw jsonPatchError(`path ${path} does not exist`);
  const v = parent[last];
  delete parent[last];
  return v;
}

function addAt(doc: unknown, path: string, value: unknown, replace: boolean): unknown {
  const parts = pointer(path);
  if (parts.length === 0) return clone(value);
  const { parent, last } = parentOf(doc, parts, path);
  if (Array.isArray(parent)) {
    const i = last === "-" ? parent.length : Number(last);
    if (!Number.isInteger(i) || i < 0 || i > parent.length || (replace && i >= parent.length))
      throw jsonPatchError(`index ${last} out of range for ${path}`);
    if (replace) parent[i] = clone(value) as Json;
    else parent.splice(i, 0, clone(value) as Json);
  } else {
    if (replace && !(last in parent)) throw jsonPatchError(`path ${path} does not exist`);
    parent[last] = clone(value) as Json;
  }
  return doc;
}

/** RFC 6902 over a copy of `doc`. */
export function jsonPatch(doc: unknown, ops: unknown): unknown {
  if (!Array.isArray(ops)) throw errors.badRequest("a JSON patch must be an array of operations");
  let out = clone(doc);
  for (const raw of ops as JsonPatchOp[]) {
    if (!isObject(raw) || typeof raw.op !== "string" || typeof raw.path !== "string")
      throw errors.badRequest("invalid JSON patch operation");
    switch (raw.op) {
      case "add":
        out = addAt(out, raw.path, raw.value, false);
        break;
      case "replace":
        out = addAt(out, raw.path, raw.value, true);
        break;
      case "remove":
        removeAt(out, raw.path);
        break;
      case "move": {
        const v = removeAt(out, raw.from ?? "");
        out = addAt(out, raw.path, v, false);
        break;
      }
      case "copy":
        out = addAt(out, raw.path, getAt(out, raw.from ?? ""), false);
        break;
      case "test":
        if (JSON.stringify(getAt(out, raw.path)) !== JSON.stringify(raw.value))
          throw jsonPatchError(`test failed at ${raw.path}`);
        break;
      default:
        throw errors.badRequest(`unknown JSON patch op ${raw.op}`);
    }
  }
  return out;
}

// ---- strategic merge patch ----------------------------------------------------------------------------

/** A list's strategy: merge by key, merge as a set of primitives, or replace atomically (undefined). */
export type ListStrategy = { mergeKey: string } | { set: true } | undefined;

/**
 * Merge strategies of the lists in the kinds served here (core/v1 and apps/v1 `patchMergeKey` tags).
 * `path` is the field names from the object root, list indices left out.
 */
export function listStrategy(kind: string, path: string[]): ListStrategy {
  const name = path[path.length - 1];
  const parent = path[path.length - 2];
  switch (name) {
    case "containers":
    case "initContainers":
    case "ephemeralContainers":
    case "env":
    case "volumes":
    case "imagePullSecrets":
      return { mergeKey: "name" };
    case "ports":
      if (parent === "containers" || parent === "initContainers" || parent === "ephemeralContainers")
        return { mergeKey: "containerPort" };
      if ((kind === "Service" || kind === "ReplicationController") && path.length === 2 && path[0] === "spec")
        return { mergeKey: "port" };
      return undefined;
    case "volumeMounts":
      return { mergeKey: "mountPath" };
    case "volumeDevices":
      return { mergeKey: "devicePath" };
    case "conditions":
      return { mergeKey: "type" };
    case "addresses":
      return kind === "Node" && parent === "status" ? { mergeKey: "type" } : undefined;
    case "podIPs":
    case "hostIPs":
      return { mergeKey: "ip" };
    case "ownerReferences":
      return { mergeKey: "uid" };
    case "finalizers":
      return path.length === 2 && path[0] === "metadata" ? { set: true } : undefined;
    case "topologySpreadConstraints":
      return { mergeKey: "topologyKey" };
    default:
      return undefined;
  }
}

/** Applies a strategic merge patch for an object of `kind`. */
export function strategicMergePatch(kind: string, original: unknown, patch: unknown): unknown {
  if (!isObject(patch)) throw errors.badRequest("a strategic merge patch must be a JSON object");
  const out = mergeMap(kind, original, patch, []);
  return out === undefined ? {} : out;
}

function mergeMap(kind: string, original: unknown, patch: JsonObject, path: string[]): JsonObject | undefined {
  const directive = patch.$patch;
  if (directive === "delete") return undefined;
  if (directive === "replace") {
    const copy = clone(patch);
    delete copy.$patch;
    return stripDirectives(copy) as JsonObject;
  }
  const out: JsonObject = isObject(original) ? clone(original) : {};
  const orders: [string, Json][] = [];
  const deletions: [string, Json][] = [];
  for (const [k, v] of Object.entries(patch)) {
    if (k === "$patch") continue;
    if (k === "$retainKeys") continue;
    if (k.startsWith("$setElementOrder/")) {
      orders.push([k.slice("$setElementOrder/".length), v]);
      continue;
    }
    if (k.startsWith("$deleteFromPrimitiveList/")) {
      deletions.push([k.slice("$deleteFromPrimitiveList/".length), v]);
      continue;
    }
    const childPath = [...path, k];
    if (v === null) delete out[k];
    else if (Array.isArray(v)) out[k] = mergeList(kind, out[k], v, childPath);
    else if (isObject(v)) {
      const merged = mergeMap(kind, out[k], v, childPath);
      if (merged === undefined) delete out[k];
      else out[k] = merged;
    } else out[k] = v;
  }
  for (const [k, values] of deletions) {
    const cur = out[k];
    if (Array.isArray(cur) && Array.isArray(values)) {
      const drop = new Set(values.map((x) => JSON.stringify(x)));
      out[k] = cur.filter((x) => !drop.has(JSON.stringify(x)));
    }
  }
  for (const [k, order] of orders) {
    const cur = out[k];
    if (Array.isArray(cur) && Array.isArray(order)) out[k] = reorder(kind, cur, order, [...path, k]);
  }
  const retain = patch.$retainKeys;
  if (Array.isArray(retain)) {
    const keep = new Set(retain.map(String));
    for (const k of Object.keys(out)) if (!keep.has(k) && !(k in patch)) delete out[k];
  }
  return out;
}

function keyOf(item: Json, mergeKey: string): string | undefined {
  return isObject(item) && item[mergeKey] !== undefined ? JSON.stringify(item[mergeKey]) : undefined;
}

function mergeList(kind: string, original: Json | undefined, patch: Json[], path: string[]): Json[] {
  const replaceAll = patch.some((x) => isObject(x) && x.$patch === "replace");
  if (replaceAll) return patch.filter((x) => !(isObject(x) && x.$patch === "replace")).map((x) => stripDirectives(x));
  const strategy = listStrategy(kind, path);
  const orig = Array.isArray(original) ? clone(original) : [];
  if (strategy === undefined) return patch.filter((x) => !(isObject(x) && x.$patch)).map((x) => stripDirectives(x));
  if ("set" in strategy) {
    const out = [...orig];
    const seen = new Set(out.map((x) => JSON.stringify(x)));
    for (const x of patch) {
      if (seen.has(JSON.stringify(x))) continue;
      out.push(x);
      seen.add(JSON.stringify(x));
    }
    return out;
  }
  const { mergeKey } = strategy;
  let out = orig;
  for (const item of patch) {
    const key = keyOf(item, mergeKey);
    if (isObject(item) && item.$patch === "delete") {
      if (key !== undefined) out = out.filter((x) => keyOf(x, mergeKey) !== key);
      continue;
    }
    const i = key === undefined ? -1 : out.findIndex((x) => keyOf(x, mergeKey) === key);
    if (i >= 0) {
      const merged = mergeMap(kind, out[i], item as JsonObject, path);
      if (merged === undefined) out.splice(i, 1);
      else out[i] = merged;
    } else out.push(stripDirectives(item));
  }
  return out;
}

function reorder(kind: string, list: Json[], order: Json[], path: string[]): Json[] {
  const strategy = listStrategy(kind, path);
  const keyFn =
    strategy && "mergeKey" in strategy ? (x: Json) => keyOf(x, strategy.mergeKey) : (x: Json) => JSON.stringify(x);
  const rank = new Map<string, number>();
  order.forEach((o, i) => {
    const k = keyFn(o);
    if (k !== undefined) rank.set(k, i);
  });
  const listed = list.filter((x) => rank.has(keyFn(x) ?? "\0"));
  const rest = list.filter((x) => !rank.has(keyFn(x) ?? "\0"));
  listed.sort((a, b) => (rank.get(keyFn(a) ?? "") ?? 0) - (rank.get(keyFn(b) ?? "") ?? 0));
  return [...listed, ...rest];
}

function stripDirectives(v: Json): Json {
  if (Array.isArray(v)) return v.map(stripDirectives);
  if (!isObject(v)) return v;
  const out: JsonObject = {};
  for (const [k, x] of Object.entries(v)) {
    if (k.startsWith("$")) continue;
    out[k] = stripDirectives(x);
  }
  return out;
}
