/**
 * Decoder for the protobuf request bodies kubectl ≥1.32 sends for typed `kubectl create deployment|service|
 * namespace|configmap|secret` (envelope `k8s\0` + runtime.Unknown). A small field table per message
 * (numbers from k8s.io/api generated.proto) turns the wire format into the JSON object kube-apiserver would see.
 * Zero values written explicitly by gogo-protobuf are dropped, as Go's `omitempty` would.
 */
import { errors } from "./errors.js";

type Value = unknown;

interface Field {
  name: string;
  type: "string" | "bytes" | "int" | "bool" | "message" | "map" | "bytesmap" | "intorstring" | "time" | "quantitymap";
  message?: string;
  repeated?: boolean;
  /** Pointer fields (kept even when zero). */
  pointer?: boolean;
}

type MessageTable = Record<number, Field>;

const m = (name: string, message: string, repeated = false): Field => ({ name, type: "message", message, repeated });
const s = (name: string, repeated = false): Field => ({ name, type: "string", repeated });
const i = (name: string, pointer = false): Field => ({ name, type: "int", pointer });
const b = (name: string, pointer = false): Field => ({ name, type: "bool", pointer });

const tables: Record<string, MessageTable> = {
  Unknown: {
    1: m("typeMeta", "TypeMeta"),
    2: { name: "raw", type: "bytes" },
    3: s("contentEncoding"),
    4: s("contentType"),
  },
  TypeMeta: { 1: s("apiVersion"), 2: s("kind") },
  ObjectMeta: {
    1: s("name"),
    2: s("generateName"),
    3: s("namespace"),
    5: s("uid"),
    6: s("resourceVersion"),
    7: i("generation"),
    8: { name: "creationTimestamp", type: "time" },
    11: { name: "labels", type: "map" },
    12: { name: "annotations", type: "map" },
    13: m("ownerReferences", "OwnerReference", true),
    14: s("finalizers", true),
  },
  OwnerReference: {
    1: s("kind"),
    3: s("name"),
    4: s("uid"),
    5: s("apiVersion"),
    6: b("controller", true),
    7: b("blockOwnerDeletion", true),
  },
  LabelSelector: {
    1: { name: "matchLabels", type: "map" },
    2: m("matchExpressions", "LabelSelectorRequirement", true),
  },
  LabelSelectorRequirement: { 1: s("key"), 2: s("operator"), 3: s("values", true) },
  Deployment: { 1: m("metadata", "ObjectMeta"), 2: m("spec", "DeploymentSpec"), 3: m("status", "Empty") },
  DeploymentSpec: {
    1: i("replicas", true),
    2: m("selector", "LabelSelector"),
    3: m("template", "PodTemplateSpec"),
    4: m("strategy", "DeploymentStrategy"),
    5: i("minReadySeconds"),
    6: i("revisionHistoryLimit", true),
    7: b("paused"),
    9: i("progressDeadlineSeconds", true),
  },
  DeploymentStrategy: { 1: s("type"), 2: m("rollingUpdate", "RollingUpdateDeployment") },
  RollingUpdateDeployment: {
    1: { name: "maxUnavailable", type: "intorstring" },
    2: { name: "maxSurge", type: "intorstring" },
  },
  PodTemplateSpec: { 1: m("metadata", "ObjectMeta"), 2: m("spec", "PodSpec") },
  PodSpec: {
    1: m("volumes", "Empty", true),
    2: m("containers", "Container", true),
    3: s("restartPolicy"),
    4: i("terminationGracePeriodSeconds", true),
    6: s("dnsPolicy"),
    7: { name: "nodeSelector", type: "map" },
    8: s("serviceAccountName"),
    10: s("nodeName"),
    11: b("hostNetwork"),
    19: s("schedulerName"),
    20: m("initContainers", "Container", true),
  },
  Container: {
    1: s("name"),
    2: s("image"),
    3: s("command", true),
    4: s("args", true),
    5: s("workingDir"),
    6: m("ports", "ContainerPort", true),
    7: m("env", "EnvVar", true),
    8: m("resources", "ResourceRequirements"),
    13: s("terminationMessagePath"),
    14: s("imagePullPolicy"),
    20: s("terminationMessagePolicy"),
  },
  ContainerPort: { 1: s("name"), 2: i("hostPort"), 3: i("containerPort"), 4: s("protocol"), 5: s("hostIP") },
  EnvVar: { 1: s("name"), 2: s("value") },
  ResourceRequirements: { 1: { name: "limits", type: "quantitymap" }, 2: { name: "requests", type: "quantitymap" } },
  Namespace: { 1: m("metadata", "ObjectMeta"), 2: m("spec", "NamespaceSpec"), 3: m("status", "Empty") },
  NamespaceSpec: { 1: s("finalizers", true) },
  Service: { 1: m("metadata", "ObjectMeta"), 2: m("spec", "ServiceSpec"), 3: m("status", "Empty") },
  ServiceSpec: {
    1: m("ports", "ServicePort", true),
    2: { name: "selector", type: "map" },
    3: s("clusterIP"),
    4: s("type"),
    5: s("externalIPs", true),
    7: s("sessionAffinity"),
    8: s("loadBalancerIP"),
    10: s("externalName"),
    11: s("externalTrafficPolicy"),
    18: s("clusterIPs", true),
    19: s("ipFamilies", true),
    20: b("allocateLoadBalancerNodePorts", true),
    22: s("internalTrafficPolicy"),
    23: s("ipFamilyPolicy"),
  },
  ServicePort: {
    1: s("name"),
    2: s("protocol"),
    3: i("port"),
    4: { name: "targetPort", type: "intorstring" },
    5: i("nodePort"),
    6: s("appProtocol"),
  },
  ConfigMap: {
    1: m("metadata", "ObjectMeta"),
    2: { name: "data", type: "map" },
    3: { name: "binaryData", type: "bytesmap" },
    4: b("immutable", true),
  },
  Secret: {
    1: m("metadata", "ObjectMeta"),
    2: { name: "data", type: "bytesmap" },
    3: s("type"),
    4: { name: "stringData", type: "map" },
    5: b("immutable", true),
  },
  Empty: {},
};

/** The kinds whose protobuf bodies are decoded. */
export const protobufKinds = new Set(["Deployment", "Namespace", "Service", "ConfigMap", "Secret"]);

class Reader {
  pos = 0;
  constructor(readonly buf: Uint8Array) {}
  done(): boolean {
    return this.pos >= this.buf.length;
  }
  varint(): bigint {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      if (this.pos >= this.buf.length) throw new Error("truncated varint");
      const byte = this.buf[this.pos++] as number;
      result |= BigInt(byte & 0x7f) << shift;
      if ((byte & 0x80) === 0) return result;
      shift += 7n;
      if (shift > 70n) throw new Error("varint too long");
    }
  }
  bytes(): Uint8Array {
    const len = Number(this.varint());
    if (this.pos + len > this.buf.length) throw new Error("truncated bytes");
    const out = this.buf.subarray(this.pos, this.pos + len);
    this.pos += len;
    return out;
  }
  skip(wire: number): void {
    if (wire === 0) this.varint();
    else if (wire === 1) this.pos += 8;
    else if (wire === 2) this.bytes();
    else if (wire === 5) this.pos += 4;
    else throw new Error(`unsupported wire type ${wire}`);
  }
}

const utf8 = new TextDecoder();

function toInt(v: bigint): number {
  // int32/int64 fields: two's complement for negatives
  return Number(BigInt.asIntN(64, v));
}

function decodeMapEntry(buf: Uint8Array): [string, Uint8Array] {
  const r = new Reader(buf);
  let key = "";
  let value: Uint8Array = new Uint8Array();
  while (!r.done()) {
    const tag = Number(r.varint());
    const fno = tag >> 3;
    const wire = tag & 7;
    if (wire !== 2) {
      r.skip(wire);
      continue;
    }
    const bytes = r.bytes();
    if (fno === 1) key = utf8.decode(bytes);
    else if (fno === 2) value = bytes;
  }
  return [key, value];
}

function decodeMessage(buf: Uint8Array, table: MessageTable): Record<string, Value> {
  const out: Record<string, Value> = {};
  const r = new Reader(buf);
  while (!r.done()) {
    const tag = Number(r.varint());
    const fno = tag >> 3;
    const wire = tag & 7;
    const f = table[fno];
    if (!f) {
      r.skip(wire);
      continue;
    }
    let v: Value;
    switch (f.type) {
      case "string":
        v = utf8.decode(r.bytes());
        break;
      case "bytes":
        v = r.bytes();
        break;
      case "int":
        v = toInt(r.varint());
        break;
      case "bool":
        v = r.varint() !== 0n;
        break;
      case "message":
        v = decodeMessage(r.bytes(), tables[f.message as string] ?? {});
        break;
      case "time": {
        const t = decodeMessage(r.bytes(), { 1: i("seconds"), 2: i("nanos") }) as { seconds?: number };
        v = t.seconds ? new Date(t.seconds * 1000).toISOString().replace(".000Z", "Z") : undefined;
        break;
      }
      case "intorstring": {
        const t = decodeMessage(r.bytes(), { 1: i("type"), 2: i("intVal"), 3: s("strVal") }) as {
          type?: number;
          intVal?: number;
          strVal?: string;
        };
        v = t.type === 1 ? (t.strVal ?? "") : (t.intVal ?? 0);
        break;
      }
      case "map":
      case "bytesmap":
      case "quantitymap": {
        const [k, raw] = decodeMapEntry(r.bytes());
        const cur = (out[f.name] as Record<string, string>) ?? {};
        if (f.type === "map") cur[k] = utf8.decode(raw);
        else if (f.type === "bytesmap") cur[k] = Buffer.from(raw).toString("base64");
        else cur[k] = (decodeMessage(raw, { 1: s("string") }) as { string?: string }).string ?? "";
        out[f.name] = cur;
        continue;
      }
    }
    if (f.repeated) {
      const arr = (out[f.name] as Value[]) ?? [];
      arr.push(v);
      out[f.name] = arr;
    } else if (v !== undefined) out[f.name] = v;
    if (!f.pointer && !f.repeated && isZero(v)) delete out[f.name];
  }
  return out;
}

function isZero(v: Value): boolean {
  return (
    v === "" ||
    v === 0 ||
    v === false ||
    v === undefined ||
    (typeof v === "object" && v !== null && !(v instanceof Uint8Array) && Object.keys(v).length === 0)
  );
}

/**
 * Decodes a `application/vnd.kubernetes.protobuf` body into a JSON object. Throws a 415 ApiError for kinds outside
 * the supported set and a 400 for malformed bodies.
 */
export function decodeProtobufBody(body: Uint8Array): Record<string, Value> {
  if (body.length < 4 || body[0] !== 0x6b || body[1] !== 0x38 || body[2] !== 0x73 || body[3] !== 0)
    throw errors.badRequest("protobuf body without the k8s\\0 envelope");
  let unknown: { typeMeta?: { apiVersion?: string; kind?: string }; raw?: Uint8Array };
  try {
    unknown = decodeMessage(body.subarray(4), tables.Unknown as MessageTable) as typeof unknown;
  } catch (e) {
    throw errors.badRequest(`malformed protobuf body: ${(e as Error).message}`);
  }
  const kind = unknown.typeMeta?.kind ?? "";
  if (!protobufKinds.has(kind))
    throw errors.unsupportedMediaType(`application/vnd.kubernetes.protobuf (kind ${kind || "unknown"})`);
  let obj: Record<string, Value>;
  try {
    obj = decodeMessage(unknown.raw ?? new Uint8Array(), tables[kind] as MessageTable);
  } catch (e) {
    throw errors.badRequest(`malformed protobuf ${kind}: ${(e as Error).message}`);
  }
  return { apiVersion: unknown.typeMeta?.apiVersion, kind, ...obj, metadata: obj.metadata ?? {} };
}
