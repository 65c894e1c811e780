/** Patch application for the in-memory fake: JSON merge patch, a strategic-merge subset, JSON patch (RFC 6902). */

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
const isObj = (v: unknown): v is Record<string, Json> => typeof v === "object" && v !== null && !Array.isArray(v);

/** RFC 7386 JSON merge patch. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isObj(patch)) return structuredClone(patch);
  const out: Record<string, unknown> = isObj(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

const mergeKeys = ["name", "type", "containerPort", "port", "ip", "uid", "mountPath"];

/** Strategic merge patch for the cases controllers and tests use: lists of objects merge by their key. */
export function strategicMergePatch(target: unknown, patch: unknown): unknown {
  if (!isObj(patch)) return structuredClone(patch);
  const out: Record<string, unknown> = isObj(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (k.startsWith("$")) continue;
    if (v === null) delete out[k];
    else if (Array.isArray(v) && Array.isArray(out[k])) out[k] = mergeList(out[k] as unknown[], v);
    else if (Array.isArray(v)) out[k] = v.filter((e) => !(isObj(e) && e.$patch === "delete"));
    else out[k] = strategicMergePatch(out[k], v);
  }
  return out;
}

function mergeList(cur: unknown[], patch: unknown[]): unknown[] {
  const first = patch.find(isObj);
  const key = first ? mergeKeys.find((mk) => mk in first) : undefined;
  if (!key) return structuredClone(patch);
  const out = [...cur];
  for (const p of patch) {
    if (!isObj(p)) continue;
    const i = out.findIndex((e) => isObj(e) && e[key] === p[key]);
    if (p.$patch === "delete") {
      if (i >= 0) out.splice(i, 1);
    } else if (i >= 0) out[i] = strategicMergePatch(out[i], p);
    else out.push(strategicMergePatch({}, p));
  }
  return out;
}

export interface JsonPatchOp {
  op: "add" | "remove" | "replace" | "test" | "move" | "copy";
  path: string;
  value?: unknown;
  from?: string;
}

function pointer(path: string): string[] {
  if (path === "") return [];
  return path
    .slice(1)
    .split("/")
    .map((s) => s.replace(/~1/g, "/").replace(/~0/g, "~"));
}

/** RFC 6902 JSON patch; throws on a failed test or a missing path. */
export function jsonPatch(target: unknown, ops: JsonPatchOp[]): unknown {
  let doc = structuredClone(target);
  const get = (parts: string[]): unknown =>
    parts.reduce<unknown>((cur, p) => {
      if (Array.isArray(cur)) return cur[Number(p)];
      if (isObj(cur)) return cur[p];
      throw new Error(`path not found: /${parts.join("/")}`);
    }, doc);
  const parentOf = (parts: string[]) => {
    const parent = get(parts.slice(0, -1));
    if (!isObj(parent) && !Array.isArray(parent)) throw new Error(`path not found: /${parts.join("/")}`);
    return { parent, last: parts[parts.length - 1]! };
  };
  const remove = (parts: string[]) => {
    const { parent, last } = parentOf(parts);
    if (Array.isArray(parent)) parent.splice(Number(last), 1);
    else if (last in parent) delete parent[last];
    else throw new Error(`path not found: /${parts.join("/")}`);
  };
  const add = (parts: string[], value: unknown) => {
    if (parts.length === 0) {
      doc = structuredClone(value);
      return;
    }
    const { parent, last } = parentOf(parts);
    if (Array.isArray(parent)) {
      if (last === "-") parent.push(structuredClone(value));
      else parent.splice(Number(last), 0, structuredClone(value));
    } else (parent as Record<string, unknown>)[last] = structuredClone(value);
  };
  for (const op of ops) {
    const parts = pointer(op.path);
    switch (op.op) {
      case "add":
        add(parts, op.value);
        break;
      case "remove":
        remove(parts);
        break;
      case "replace":
        get(parts);
        if (parts.length) remove(parts);
        add(parts, op.value);
        break;
      case "test":
        if (JSON.stringify(get(parts)) !== JSON.stringify(op.value)) throw new Error(`test failed at ${op.path}`);
        break;
      case "move":
      case "copy": {
        const from = pointer(op.from ?? "");
        const v = structuredClone(get(from));
        if (op.op === "move") remove(from);
        add(parts, v);
        break;
      }
    }
  }
  return doc;
}
