/**
 * The type checks kube-apiserver gets from decoding JSON into Go structs, for ObjectMeta and any value the
 * defaulting/validation code then meets: a wrong type is a 400 BadRequest (as a Go decode error is), never a 500.
 */
import { errors } from "./errors.js";

function typeName(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  return typeof v === "number" ? "number" : typeof v;
}

function decodeError(field: string, v: unknown, want: string): never {
  throw errors.badRequest(`json: cannot unmarshal ${typeName(v)} into Go struct field ${field} of type ${want}`);
}

function stringMap(field: string, v: unknown): void {
  if (v === undefined || v === null) return;
  if (typeof v !== "object" || Array.isArray(v)) decodeError(field, v, "map[string]string");
  for (const x of Object.values(v as Record<string, unknown>))
    if (typeof x !== "string") decodeError(field, x, "string");
}

/** Checks the ObjectMeta fields the apiserver itself relies on (names become storage keys). */
export function checkMetadata(meta: unknown): void {
  if (meta === undefined) return;
  if (meta === null || typeof meta !== "object" || Array.isArray(meta))
    decodeError("ObjectMeta.metadata", meta, "v1.ObjectMeta");
  const m = meta as Record<string, unknown>;
  for (const f of [
    "name",
    "generateName",
    "namespace",
    "uid",
    "resourceVersion",
    "creationTimestamp",
    "deletionTimestamp",
  ])
    if (m[f] !== undefined && m[f] !== null && typeof m[f] !== "string")
      decodeError(`ObjectMeta.metadata.${f}`, m[f], "string");
  if (m.generation !== undefined && (typeof m.generation !== "number" || !Number.isInteger(m.generation)))
    decodeError("ObjectMeta.metadata.generation", m.generation, "int64");
  stringMap("ObjectMeta.metadata.labels", m.labels);
  stringMap("ObjectMeta.metadata.annotations", m.annotations);
  if (m.finalizers !== undefined && m.finalizers !== null) {
    if (!Array.isArray(m.finalizers)) decodeError("ObjectMeta.metadata.finalizers", m.finalizers, "[]string");
    for (const f of m.finalizers) if (typeof f !== "string") decodeError("ObjectMeta.metadata.finalizers", f, "string");
  }
  if (m.ownerReferences !== undefined && m.ownerReferences !== null) {
    if (!Array.isArray(m.ownerReferences))
      decodeError("ObjectMeta.metadata.ownerReferences", m.ownerReferences, "[]v1.OwnerReference");
    for (const r of m.ownerReferences)
      if (r === null || typeof r !== "object" || Array.isArray(r))
        decodeError("ObjectMeta.metadata.ownerReferences", r, "v1.OwnerReference");
  }
}

/**
 * Runs defaulting/validation code and turns a TypeError (the object had a wrong type somewhere the schema-less
 * JSON reached) into the 400 a Go decode would have produced.
 */
export function guardDecode<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof TypeError || e instanceof RangeError)
      throw errors.badRequest(`the object could not be decoded: a field has the wrong type (${e.message})`);
    throw e;
  }
}
