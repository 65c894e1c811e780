/**
 * The one loader for `--objects FILE` flags: YAML or JSON holding a single object, a `kind: List`
 * (what `kubectl get … -o yaml|json` prints, including `*List` kinds like `ServiceList`), or
 * multi-document YAML. Every object comes back with its apiVersion and kind set.
 *
 * Example: `loadObjectsFiles(["cluster.yaml"]).filter((o) => o.kind === "Service")`
 */
import { readFileSync } from "node:fs";
import { parseAllDocuments } from "yaml";
import type { KubeObject } from "../api/meta.js";

/** Bad input in an objects file: names the file, the document (0-based) and the field. */
export class ObjectsFileError extends Error {
  override name = "ObjectsFileError";
  constructor(
    readonly file: string,
    readonly document: number | undefined,
    readonly field: string | undefined,
    detail: string,
  ) {
    super(`${file}${document === undefined ? "" : `: document ${document}`}${field ? `: ${field}` : ""}: ${detail}`);
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Checks the minimal shape every object must have and returns it typed. */
function asObject(file: string, doc: number, path: string, v: unknown, inherited?: string): KubeObject {
  if (!isRecord(v)) throw new ObjectsFileError(file, doc, path || undefined, "expected an object");
  const kind = v.kind;
  if (typeof kind !== "string" || kind === "")
    throw new ObjectsFileError(file, doc, path ? `${path}.kind` : "kind", "missing or not a string");
  const apiVersion = v.apiVersion ?? inherited;
  if (typeof apiVersion !== "string" || apiVersion === "")
    throw new ObjectsFileError(file, doc, path ? `${path}.apiVersion` : "apiVersion", "missing or not a string");
  const meta = v.metadata;
  if (!isRecord(meta))
    throw new ObjectsFileError(file, doc, path ? `${path}.metadata` : "metadata", "missing or not an object");
  if (typeof meta.name !== "string" || meta.name === "")
    throw new ObjectsFileError(file, doc, path ? `${path}.metadata.name` : "metadata.name", "missing or not a string");
  if (meta.namespace !== undefined && typeof meta.namespace !== "string")
    throw new ObjectsFileError(file, doc, path ? `${path}.metadata.namespace` : "metadata.namespace", "not a string");
  return { ...v, apiVersion, kind, metadata: meta } as KubeObject;
}

function isListKind(kind: unknown): boolean {
  return typeof kind === "string" && (kind === "List" || kind.endsWith("List"));
}

/** Flattens one parsed document (object or List) into objects. */
function objectsOfDocument(file: string, doc: number, v: unknown): KubeObject[] {
  if (v === null || v === undefined) return []; // empty YAML document (`---` at the end)
  if (isRecord(v) && isListKind(v.kind) && Array.isArray(v.items)) {
    // `kubectl get x -o yaml` of one kind prints e.g. kind: ServiceList with items lacking kind/apiVersion.
    const itemKind = v.kind !== "List" ? String(v.kind).slice(0, -"List".length) : undefined;
    const listApi = typeof v.apiVersion === "string" && v.kind !== "List" ? v.apiVersion : undefined;
    return v.items.map((item, i) => {
      const withKind = isRecord(item) && item.kind === undefined && itemKind ? { ...item, kind: itemKind } : item;
      return asObject(file, doc, `items[${i}]`, withKind, listApi);
    });
  }
  return [asObject(file, doc, "", v)];
}

/** Parses the text of an objects file (JSON is YAML, so one parser serves both). */
export function parseObjects(text: string, file = "<input>"): KubeObject[] {
  // JSON (`kubectl get -o json`) through JSON.parse is ~100x faster and far lighter than the YAML parser on
  // cluster-sized dumps; anything JSON.parse rejects still goes through YAML, which also gives the error messages.
  if (/^\s*[{[]/.test(text)) {
    let v: unknown;
    let parsed = false;
    try {
      v = JSON.parse(text);
      parsed = true;
    } catch {
      // not strict JSON: fall through to YAML
    }
    if (parsed) return objectsOfDocument(file, 0, v);
  }
  const docs = parseAllDocuments(text, { uniqueKeys: false });
  const list = Array.isArray(docs) ? docs : [docs];
  const out: KubeObject[] = [];
  list.forEach((d, i) => {
    if (d.errors.length > 0) {
      const e = d.errors[0]!;
      const line = e.linePos?.[0]?.line;
      throw new ObjectsFileError(file, i, undefined, `${line ? `line ${line}: ` : ""}${e.message.split("\n")[0]}`);
    }
    out.push(...objectsOfDocument(file, i, d.toJS({ maxAliasCount: 100 })));
  });
  return out;
}

/** Reads and parses one objects file. */
export function loadObjectsFile(path: string): KubeObject[] {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new ObjectsFileError(path, undefined, undefined, (err as Error).message);
  }
  return parseObjects(text, path);
}

/** Reads several objects files, in order, into one array. */
export function loadObjectsFiles(paths: readonly string[]): KubeObject[] {
  return paths.flatMap((p) => loadObjectsFile(p));
}
