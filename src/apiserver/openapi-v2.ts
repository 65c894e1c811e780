/**
 * The minimal OpenAPI v2 document kubectl 1.27 (which validates `apply`/`create -f` against v2, not v3) needs,
 * in gnostic's protobuf encoding (`application/com.github.proto-openapi.spec.v2@v1.0+protobuf`): per kind one
 * PATCH operation with `x-kubernetes-group-version-kind` and a `fieldValidation` query parameter, no schemas.
 * Field numbers from gnostic openapiv2/OpenAPIv2.proto.
 */
import { resources } from "./resources.js";

// kube-apiserver answers with this spelling (Go's mime parser rejects the "@" of the Accept form).
export const openapiV2ProtobufType = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf";

type Field = [number, string | Uint8Array | boolean];

function varint(n: number): number[] {
  const out: number[] = [];
  let v = n;
  while (v > 127) {
    out.push((v & 127) | 128);
    v >>>= 7;
  }
  out.push(v);
  return out;
}

/** Encodes a message from (field number, value) pairs: strings and sub-messages as length-delimited, bools as varints. */
function msg(fields: Field[]): Uint8Array {
  const parts: number[] = [];
  for (const [no, value] of fields) {
    if (typeof value === "boolean") {
      parts.push(...varint(no << 3), value ? 1 : 0);
      continue;
    }
    const bytes = typeof value === "string" ? new TextEncoder().encode(value) : value;
    parts.push(...varint((no << 3) | 2), ...varint(bytes.length), ...bytes);
  }
  return Uint8Array.from(parts);
}

function namedAny(name: string, yaml: string): Uint8Array {
  return msg([
    [1, name],
    [2, msg([[2, yaml]])],
  ]);
}

function queryParam(name: string): Uint8Array {
  const sub = msg([
    [2, "query"],
    [4, name],
    [6, "string"],
    [20, true],
  ]);
  return msg([[1, msg([[2, msg([[3, sub]])]])]]);
}

let cached: Buffer | undefined;

export function openapiV2Protobuf(): Buffer {
  if (cached) return cached;
  const paths: Uint8Array[] = [];
  for (const r of resources.filter((x) => !x.virtual)) {
    const gv = r.group ? `/apis/${r.group}/${r.version}` : `/api/${r.version}`;
    const path = r.namespaced ? `${gv}/namespaces/{namespace}/${r.plural}/{name}` : `${gv}/${r.plural}/{name}`;
    const op = msg([
      [5, `patch${r.namespaced ? "Namespaced" : ""}${r.kind}`],
      [8, queryParam("fieldValidation")],
      [8, queryParam("dryRun")],
      [8, queryParam("fieldManager")],
      [13, namedAny("x-kubernetes-action", "patch\n")],
      [
        13,
        namedAny("x-kubernetes-group-version-kind", `group: "${r.group}"\nkind: ${r.kind}\nversion: ${r.version}\n`),
      ],
    ]);
    paths.push(
      msg([
        [1, path],
        [2, msg([[8, op]])],
      ]),
    );
  }
  const doc = msg([
    [1, "2.0"],
    [
      2,
      msg([
        [1, "Kubernetes"],
        [2, "v1.32.0"],
      ]),
    ],
    [8, msg(paths.map((p) => [2, p] as Field))],
  ]);
  cached = Buffer.from(doc);
  return cached;
}
