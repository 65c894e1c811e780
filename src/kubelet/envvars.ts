/**
 * Container environment as the kubelet builds it (kubelet_pods.go makeEnvironmentVariables): service link
 * variables (Docker-link style, as kubernetes/pkg/kubelet/envvars does), `envFrom` ConfigMaps/Secrets (with
 * prefix), then the container's own env (value with `$(VAR)` expansion, fieldRef, configMapKeyRef,
 * secretKeyRef); `$(VAR)` expansion in command and args. Pure: the ConfigMaps/Secrets are fetched by the
 * caller (`referencedSources` says which) and passed in as `EnvSources`.
 */
import type { Container, Pod, Service } from "../api/core.js";

export type EnvMap = Map<string, string>;

/** `my-svc` → `MY_SVC`. */
export function envVarName(serviceName: string): string {
  return serviceName.toUpperCase().replace(/-/g, "_");
}

function hasClusterIP(s: Service): boolean {
  const ip = s.spec.clusterIP;
  return !!ip && ip !== "None";
}

/** The variables one service contributes (`{SVC}_SERVICE_HOST`, `{SVC}_PORT_80_TCP_ADDR`, …), in kubelet order. */
export function serviceEnvVars(s: Service): [string, string][] {
  const out: [string, string][] = [];
  const ports = s.spec.ports ?? [];
  const ip = s.spec.clusterIP ?? "";
  const name = envVarName(s.metadata.name ?? "");
  const first = ports[0];
  out.push([`${name}_SERVICE_HOST`, ip]);
  if (first) out.push([`${name}_SERVICE_PORT`, String(first.port)]);
  for (const p of ports) if (p.name) out.push([`${name}_SERVICE_PORT_${envVarName(p.name)}`, String(p.port)]);
  const host = ip.includes(":") ? `[${ip}]` : ip;
  if (first) out.push([`${name}_PORT`, `${(first.protocol ?? "TCP").toLowerCase()}://${host}:${first.port}`]);
  for (const p of ports) {
    const proto = p.protocol ?? "TCP";
    const prefix = `${name}_PORT_${p.port}_${proto.toUpperCase()}`;
    out.push([prefix, `${proto.toLowerCase()}://${host}:${p.port}`]);
    out.push([`${prefix}_PROTO`, proto.toLowerCase()]);
    out.push([`${prefix}_PORT`, String(p.port)]);
    out.push([`${prefix}_ADDR`, ip]);
  }
  return out;
}

/**
 * Service variables for a pod: the `kubernetes` service of the default namespace always, and the services of
 * the pod's namespace when `enableServiceLinks` is not false; same-named services of the pod's namespace win.
 */
export function serviceEnvForPod(pod: Pod, services: readonly Service[]): EnvMap {
  const ns = pod.metadata.namespace ?? "default";
  const links = pod.spec.enableServiceLinks !== false;
  const picked = new Map<string, Service>();
  for (const s of services) {
    if (!hasClusterIP(s)) continue;
    const sns = s.metadata.namespace ?? "default";
    const name = s.metadata.name ?? "";
    if (sns === ns && links) picked.set(name, s);
    else if (sns === "default" && name === "kubernetes" && !picked.has(name)) picked.set(name, s);
  }
  const env: EnvMap = new Map();
  for (const name of [...picked.keys()].sort()) {
    const s = picked.get(name);
    if (s) for (const [k, v] of serviceEnvVars(s)) env.set(k, v);
  }
  return env;
}

/** Where `$(NAME)` looks names up (a Map, or several layered). */
export interface VarLookup {
  get(name: string): string | undefined;
}

/**
 * Kubernetes' `$(VAR)` expansion (third_party/forked/golang/expansion): `$(NAME)` of a defined name is replaced,
 * `$$` is an escaped `$`, an undefined or unterminated reference stays as written, any other `$x` is kept.
 */
export function expand(input: string, env: VarLookup): string {
  let out = "";
  let checkpoint = 0;
  for (let cursor = 0; cursor < input.length; cursor++) {
    if (input[cursor] !== "$" || cursor + 1 >= input.length) continue;
    out += input.slice(checkpoint, cursor);
    const next = input[cursor + 1];
    let advance = 1;
    if (next === "$") out += "$";
    else if (next === "(") {
      const end = input.indexOf(")", cursor + 2);
      if (end < 0) out += "$(";
      else {
        const name = input.slice(cursor + 2, end);
        out += env.get(name) ?? `$(${name})`;
        advance = end - cursor;
      }
    } else out += `$${next}`;
    cursor += advance;
    checkpoint = cursor + 1;
  }
  return out + input.slice(checkpoint);
}

export interface FieldSource {
  podIP?: string;
  podIPs?: string[];
  hostIP?: string;
}

/** `key="value"` lines, sorted, as the downward API formats a whole labels/annotations map. */
function formatMap(m: Record<string, string> | undefined): string {
  return Object.keys(m ?? {})
    .sort()
    .map((k) => `${k}=${JSON.stringify(m?.[k] ?? "")}`)
    .join("\n");
}

/** The value of a downward-API fieldRef; undefined for a path the kubelet does not support. */
export function fieldValue(pod: Pod, path: string, src: FieldSource): string | undefined {
  switch (path) {
    case "metadata.name":
      return pod.metadata.name ?? "";
    case "metadata.namespace":
      return pod.metadata.namespace ?? "default";
    case "metadata.uid":
      return pod.metadata.uid ?? "";
    case "metadata.labels":
      return formatMap(pod.metadata.labels);
    case "metadata.annotations":
      return formatMap(pod.metadata.annotations);
    case "spec.nodeName":
      return pod.spec.nodeName ?? "";
    case "spec.serviceAccountName":
      return pod.spec.serviceAccountName ?? "default";
    case "status.podIP":
      return src.podIP ?? "";
    case "status.podIPs":
      return (src.podIPs ?? (src.podIP ? [src.podIP] : [])).join(",");
    case "status.hostIP":
    case "status.hostIPs":
      return src.hostIP ?? "";
    default: {
      const m = /^metadata\.(labels|annotations)\['(.+)'\]$/.exec(path);
      if (m) return (m[1] === "labels" ? pod.metadata.labels : pod.metadata.annotations)?.[m[2] ?? ""] ?? "";
      return undefined;
    }
  }
}

/**
 * The ConfigMaps and Secrets a container's env refers to, fetched: name → data (Secret values decoded), or null
 * when the object does not exist. A name absent from the map counts as not existing.
 */
export interface EnvSources {
  configMaps: ReadonlyMap<string, Readonly<Record<string, string>> | null>;
  secrets: ReadonlyMap<string, Readonly<Record<string, string>> | null>;
}

export const noEnvSources: EnvSources = { configMaps: new Map(), secrets: new Map() };

/** Names of the ConfigMaps and Secrets (in the pod's namespace) that `env` and `envFrom` refer to. */
export function referencedSources(c: Container): { configMaps: string[]; secrets: string[] } {
  const cms = new Set<string>();
  const secrets = new Set<string>();
  for (const f of c.envFrom ?? []) {
    if (f.configMapRef) cms.add(f.configMapRef.name);
    if (f.secretRef) secrets.add(f.secretRef.name);
  }
  for (const e of c.env ?? []) {
    if (e.valueFrom?.configMapKeyRef) cms.add(e.valueFrom.configMapKeyRef.name);
    if (e.valueFrom?.secretKeyRef) secrets.add(e.valueFrom.secretKeyRef.name);
  }
  return { configMaps: [...cms], secrets: [...secrets] };
}

/** C_IDENTIFIER-like rule of IsEnvVarName: `[-._a-zA-Z][-._a-zA-Z0-9]*`. */
export function isEnvVarName(name: string): boolean {
  return /^[-._a-zA-Z][-._a-zA-Z0-9]*$/.test(name);
}

export type ContainerEnvResult =
  | {
      ok: true;
      env: EnvMap;
      /** envFrom keys skipped as invalid variable names (the kubelet emits InvalidEnvironmentVariableNames). */
      invalidKeys: string[];
    }
  | { ok: false; message: string };

/**
 * The full environment of a container, as the kubelet computes it: service variables, overridden by `envFrom`
 * entries (in order, with prefix), overridden by `env` entries (in order; a value may refer to service
 * variables, envFrom variables and earlier env entries with `$(NAME)`). A missing required ConfigMap/Secret or
 * key fails with the kubelet's message (the container then waits with CreateContainerConfigError).
 */
export function buildContainerEnv(
  pod: Pod,
  c: Container,
  services: readonly Service[],
  src: FieldSource = {},
  sources: EnvSources = noEnvSources,
): ContainerEnvResult {
  const serviceEnv = serviceEnvForPod(pod, services);
  const ns = pod.metadata.namespace ?? "default";
  // tmp: what the container declares (envFrom, env); expansion looks there first, then at the service vars.
  const tmp: EnvMap = new Map();
  const invalidKeys: string[] = [];
  for (const f of c.envFrom ?? []) {
    const ref = f.configMapRef ?? f.secretRef;
    if (!ref) continue;
    const kind = f.configMapRef ? "configmap" : "secret";
    const data = (f.configMapRef ? sources.configMaps : sources.secrets).get(ref.name);
    if (!data) {
      if (ref.optional) continue;
      return { ok: false, message: `${kind} "${ref.name}" not found` };
    }
    for (const [k0, v] of Object.entries(data)) {
      const k = (f.prefix ?? "") + k0;
      if (!isEnvVarName(k)) invalidKeys.push(k);
      else tmp.set(k, v);
    }
  }
  const mapping: VarLookup = { get: (k) => tmp.get(k) ?? serviceEnv.get(k) };
  for (const e of c.env ?? []) {
    let v = e.value ?? "";
    if (v !== "") v = expand(v, mapping);
    else if (e.valueFrom?.fieldRef) {
      const got = fieldValue(pod, e.valueFrom.fieldRef.fieldPath, src);
      if (got === undefined) return { ok: false, message: `unsupported fieldPath: ${e.valueFrom.fieldRef.fieldPath}` };
      v = got;
    } else if (e.valueFrom?.configMapKeyRef || e.valueFrom?.secretKeyRef) {
      const isCm = !!e.valueFrom.configMapKeyRef;
      const ref = e.valueFrom.configMapKeyRef ?? e.valueFrom.secretKeyRef;
      if (!ref) continue;
      const data = (isCm ? sources.configMaps : sources.secrets).get(ref.name);
      if (!data) {
        if (ref.optional) continue;
        return { ok: false, message: `${isCm ? "configmap" : "secret"} "${ref.name}" not found` };
      }
      const got = Object.hasOwn(data, ref.key) ? data[ref.key] : undefined;
      if (got === undefined) {
        if (ref.optional) continue;
        return {
          ok: false,
          message: `couldn't find key ${ref.key} in ${isCm ? "ConfigMap" : "Secret"} ${ns}/${ref.name}`,
        };
      }
      v = got;
    }
    tmp.set(e.name, v);
  }
  const env: EnvMap = new Map(serviceEnv);
  for (const [k, v] of tmp) env.set(k, v);
  return { ok: true, env, invalidKeys };
}

/** The argv of a container with `$(VAR)` expanded (command and args both). */
export function expandArgv(argv: readonly string[], env: VarLookup): string[] {
  return argv.map((a) => expand(a, env));
}

/** ConfigMap data as env values (`data` only: binaryData is not exposed as env, as in the kubelet). */
export function configMapEnvData(cm: { data?: Record<string, string> }): Record<string, string> {
  return { ...(cm.data ?? {}) };
}

/** Secret data decoded from base64 (`stringData`, if a server kept it, wins as it would on write). */
export function secretEnvData(s: {
  data?: Record<string, string>;
  stringData?: Record<string, string>;
}): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(s.data ?? {})) out[k] = Buffer.from(v, "base64").toString("utf8");
  for (const [k, v] of Object.entries(s.stringData ?? {})) out[k] = v;
  return out;
}
