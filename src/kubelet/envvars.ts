/**
 * Container environment as the kubelet builds it: service link variables (Docker-link style, as
 * kubernetes/pkg/kubelet/envvars does), then the container's own env (fieldRef resolved), then `$(VAR)`
 * expansion in env values, command and args.
 */
import type { Container, EnvVar, Pod, Service } from "../api/core.js";

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

/** Kubernetes' `$(VAR)` expansion: defined names are replaced, `$$` escapes, unknown references stay as written. */
export function expand(input: string, env: ReadonlyMap<string, string>): string {
  let out = "";
  for (let i = 0; i < input.length; i++) {
    const ch = input[i];
    if (ch !== "$" || i + 1 >= input.length) {
      out += ch;
      continue;
    }
    const next = input[i + 1];
    if (next === "$") {
      out += "$";
      i++;
    } else if (next === "(") {
      const end = input.indexOf(")", i + 2);
      if (end < 0) {
        out += input.slice(i);
        break;
      }
      const name = input.slice(i + 2, end);
      const v = env.get(name);
      out += v ?? `$(${name})`;
      i = end;
    } else out += ch;
  }
  return out;
}

export interface FieldSource {
  podIP?: string;
  hostIP?: string;
}

function fieldValue(pod: Pod, path: string, src: FieldSource): string {
  switch (path) {
    case "metadata.name":
      return pod.metadata.name ?? "";
    case "metadata.namespace":
      return pod.metadata.namespace ?? "default";
    case "metadata.uid":
      return pod.metadata.uid ?? "";
    case "spec.nodeName":
      return pod.spec.nodeName ?? "";
    case "spec.serviceAccountName":
      return pod.spec.serviceAccountName ?? "default";
    case "status.podIP":
      return src.podIP ?? "";
    case "status.hostIP":
      return src.hostIP ?? "";
    default: {
      const m = /^metadata\.(labels|annotations)\['(.+)'\]$/.exec(path);
      if (m) return (m[1] === "labels" ? pod.metadata.labels : pod.metadata.annotations)?.[m[2] ?? ""] ?? "";
      throw new Error(`unsupported fieldRef ${path}`);
    }
  }
}

/** Looks up configMap/secret keys for env; returns undefined when missing. */
export type KeyLookup = (
  kind: "ConfigMap" | "Secret",
  namespace: string,
  name: string,
  key: string,
) => string | undefined;

/**
 * The full environment of a container, in order: service variables, then the container's env (later entries may
 * refer to earlier ones with `$(NAME)`). Throws with a message naming the variable when a required ref is missing.
 */
export function containerEnv(
  pod: Pod,
  c: Container,
  services: readonly Service[],
  src: FieldSource = {},
  lookup: KeyLookup = () => undefined,
): EnvMap {
  const env = serviceEnvForPod(pod, services);
  const ns = pod.metadata.namespace ?? "default";
  for (const e of c.env ?? ([] as EnvVar[])) {
    let v: string | undefined;
    if (e.valueFrom?.fieldRef) v = fieldValue(pod, e.valueFrom.fieldRef.fieldPath, src);
    else if (e.valueFrom?.configMapKeyRef || e.valueFrom?.secretKeyRef) {
      const ref = e.valueFrom.configMapKeyRef ?? e.valueFrom.secretKeyRef;
      const kind = e.valueFrom.configMapKeyRef ? "ConfigMap" : "Secret";
      if (!ref) continue;
      v = lookup(kind, ns, ref.name, ref.key);
      if (v === undefined) {
        if (ref.optional) continue;
        throw new Error(`env ${e.name}: ${kind.toLowerCase()} ${ns}/${ref.name} key ${ref.key} not found`);
      }
    } else v = expand(e.value ?? "", env);
    env.set(e.name, v);
  }
  return env;
}

/** The argv of a container with `$(VAR)` expanded (command and args both). */
export function expandArgv(argv: readonly string[], env: ReadonlyMap<string, string>): string[] {
  return argv.map((a) => expand(a, env));
}
