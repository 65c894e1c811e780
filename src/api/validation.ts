/**
 * Validation of the objects podwire serves, as Kubernetes validates the fields podwire uses.
 * `validate(obj)` returns field errors (empty = valid); `invalidStatus` (field-errors.ts) turns them into
 * the 422 body. Names, ports, protocols, IPs/CIDRs, Service type rules, selectors and label syntax follow
 * apimachinery's and core validation's messages.
 */
import type { Deployment, EndpointSlice, ReplicaSet } from "./apps.js";
import type {
  ConfigMap,
  Container,
  Endpoints,
  Namespace,
  Node,
  Pod,
  PodSpec,
  PodTemplateSpec,
  Probe,
  ReplicationController,
  Secret,
  Service,
} from "./core.js";
import {
  duplicate,
  type FieldError,
  forbidden,
  invalid,
  notSupported,
  Path,
  required,
  tooMany,
} from "./field-errors.js";
import { cidrContains, ipFamily, isIP, parseCIDR } from "./ip.js";
import type { KubeObject, LabelSelector, ObjectMeta } from "./meta.js";
import { labelKeyError, labelSelectorFromObject, labelValueError, SelectorParseError } from "./selectors.js";

export { FieldError, invalidStatus } from "./field-errors.js";

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const IANA_SVC_NAME = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/;
const ENV_NAME = /^[-._a-zA-Z][-._a-zA-Z0-9]*$/;
const CONFIG_KEY = /^[-._a-zA-Z0-9]+$/;
const PROTOCOLS = ["SCTP", "TCP", "UDP"] as const;

export function dns1123LabelError(v: string): string | null {
  if (v.length > 63) return "must be no more than 63 characters";
  if (!DNS1123_LABEL.test(v))
    return "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
  return null;
}

export function dns1123SubdomainError(v: string): string | null {
  if (v.length > 253) return "must be no more than 253 characters";
  if (!DNS1123_SUBDOMAIN.test(v))
    return "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
  return null;
}

export function dns1035LabelError(v: string): string | null {
  if (v.length > 63) return "must be no more than 63 characters";
  if (!DNS1035_LABEL.test(v))
    return "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";
  return null;
}

/** IANA service name rules used for named ports (targetPort: "http"). */
export function portNameError(v: string): string | null {
  if (v.length > 15) return "must be no more than 15 characters";
  if (!IANA_SVC_NAME.test(v)) return "must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)";
  if (v.includes("--")) return "must not contain consecutive hyphens";
  if (!/[a-z]/.test(v)) return "must contain at least one letter (a-z)";
  return null;
}

function portRange(p: Path, v: unknown, errs: FieldError[], allowZero = false): void {
  if (typeof v !== "number" || !Number.isInteger(v) || v < (allowZero ? 0 : 1) || v > 65535)
    errs.push(invalid(p, v, `must be between ${allowZero ? 0 : 1} and 65535, inclusive`));
}

function protocol(p: Path, v: unknown, errs: FieldError[]): void {
  if (v === undefined) return;
  if (!PROTOCOLS.includes(v as (typeof PROTOCOLS)[number])) errs.push(notSupported(p, v, PROTOCOLS));
}

function labels(p: Path, m: Record<string, string> | undefined, errs: FieldError[]): void {
  for (const [k, v] of Object.entries(m ?? {})) {
    const ke = labelKeyError(k);
    if (ke) errs.push(invalid(p, k, ke));
    if (typeof v !== "string") errs.push(invalid(p.key(k), v, "must be a string"));
    else {
      const ve = labelValueError(v);
      if (ve) errs.push(invalid(p.key(k), v, ve));
    }
  }
}

type NameRule = "subdomain" | "label" | "dns1035" | "none";

/** ObjectMeta checks: name (or generateName), namespace, labels, annotation keys. */
export function validateMeta(meta: ObjectMeta | undefined, rule: NameRule, namespaced: boolean): FieldError[] {
  const errs: FieldError[] = [];
  const p = Path.root("metadata");
  if (!meta) return [required(p)];
  if (!meta.name) {
    if (!meta.generateName) errs.push(required(p.child("name"), "name or generateName is required"));
  } else if (rule !== "none") {
    const e =
      rule === "label"
        ? dns1123LabelError(meta.name)
        : rule === "dns1035"
          ? dns1035LabelError(meta.name)
          : dns1123SubdomainError(meta.name);
    if (e) errs.push(invalid(p.child("name"), meta.name, e));
  }
  if (namespaced) {
    if (meta.namespace !== undefined && meta.namespace !== "") {
      const e = dns1123LabelError(meta.namespace);
      if (e) errs.push(invalid(p.child("namespace"), meta.namespace, e));
    }
  } else if (meta.namespace) {
    errs.push(forbidden(p.child("namespace"), "not allowed on this type"));
  }
  labels(p.child("labels"), meta.labels, errs);
  for (const k of Object.keys(meta.annotations ?? {})) {
    const e = labelKeyError(k);
    if (e) errs.push(invalid(p.child("annotations"), k, e));
  }
  const size = JSON.stringify(meta.annotations ?? {}).length;
  if (size > 256 * 1024) errs.push(invalid(p.child("annotations"), "", "must have at most 262144 bytes"));
  return errs;
}

// ---- Service ----------------------------------------------------------------------------------------

const SERVICE_TYPES = ["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"] as const;

export function validateService(svc: Service): FieldError[] {
  const errs = validateMeta(svc.metadata, "dns1035", true);
  const spec = Path.root("spec");
  const s = svc.spec ?? {};
  const type = s.type ?? "ClusterIP";
  if (!SERVICE_TYPES.includes(type)) errs.push(notSupported(spec.child("type"), type, SERVICE_TYPES));
  const headless = s.clusterIP === "None";
  const ports = s.ports ?? [];
  if (ports.length === 0 && !headless && type !== "ExternalName") errs.push(required(spec.child("ports")));
  if (type === "ExternalName") {
    if (!s.externalName) errs.push(required(spec.child("externalName")));
    else {
      const e = dns1123SubdomainError(s.externalName.replace(/\.$/, ""));
      if (e) errs.push(invalid(spec.child("externalName"), s.externalName, e));
    }
    if (s.clusterIP && s.clusterIP !== "")
      errs.push(forbidden(spec.child("clusterIP"), "may not be set for ExternalName services"));
  }
  if (s.clusterIP !== undefined && s.clusterIP !== "" && s.clusterIP !== "None" && !isIP(s.clusterIP))
    errs.push(
      invalid(spec.child("clusterIP"), s.clusterIP, "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"),
    );
  (s.clusterIPs ?? []).forEach((ip, i) => {
    if (ip !== "None" && !isIP(ip))
      errs.push(
        invalid(spec.child("clusterIPs").index(i), ip, "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"),
      );
  });
  if (s.clusterIP && s.clusterIPs?.length && s.clusterIPs[0] !== s.clusterIP)
    errs.push(
      invalid(spec.child("clusterIPs"), s.clusterIPs, "must be empty or the first value must match spec.clusterIP"),
    );
  const seenName = new Set<string>();
  const seenPort = new Set<string>();
  ports.forEach((port, i) => {
    const pp = spec.child("ports").index(i);
    if (ports.length > 1 && !port.name) errs.push(required(pp.child("name")));
    if (port.name) {
      const e = dns1123LabelError(port.name);
      if (e) errs.push(invalid(pp.child("name"), port.name, e));
      if (seenName.has(port.name)) errs.push(duplicate(pp.child("name"), port.name));
      seenName.add(port.name);
    }
    portRange(pp.child("port"), port.port, errs);
    protocol(pp.child("protocol"), port.protocol, errs);
    const key = `${port.port}/${port.protocol ?? "TCP"}`;
    if (seenPort.has(key)) errs.push(duplicate(pp, { port: port.port, protocol: port.protocol ?? "TCP" }));
    seenPort.add(key);
    if (port.targetPort !== undefined) {
      if (typeof port.targetPort === "number") portRange(pp.child("targetPort"), port.targetPort, errs);
      else {
        const e = portNameError(port.targetPort);
        if (e) errs.push(invalid(pp.child("targetPort"), port.targetPort, e));
      }
    }
    if (port.nodePort !== undefined && port.nodePort !== 0) {
      if (type === "ClusterIP" || type === "ExternalName")
        errs.push(forbidden(pp.child("nodePort"), `may not be used when \`type\` is '${type}'`));
      else portRange(pp.child("nodePort"), port.nodePort, errs);
    }
  });
  (s.externalIPs ?? []).forEach((ip, i) => {
    if (!isIP(ip))
      errs.push(
        invalid(
          spec.child("externalIPs").index(i),
          ip,
          "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)",
        ),
      );
  });
  if (s.sessionAffinity && s.sessionAffinity !== "None" && s.sessionAffinity !== "ClientIP")
    errs.push(notSupported(spec.child("sessionAffinity"), s.sessionAffinity, ["ClientIP", "None"]));
  const timeout = s.sessionAffinityConfig?.clientIP?.timeoutSeconds;
  if (timeout !== undefined && (!Number.isInteger(timeout) || timeout <= 0 || timeout > 86400))
    errs.push(
      invalid(
        spec.child("sessionAffinityConfig").child("clientIP").child("timeoutSeconds"),
        timeout,
        "must be greater than 0 and less than 86400",
      ),
    );
  for (const f of ["externalTrafficPolicy", "internalTrafficPolicy"] as const) {
    const v = s[f];
    if (v !== undefined && v !== "Cluster" && v !== "Local")
      errs.push(notSupported(spec.child(f), v, ["Cluster", "Local"]));
  }
  if (s.externalTrafficPolicy && type !== "NodePort" && type !== "LoadBalancer")
    errs.push(
      invalid(
        spec.child("externalTrafficPolicy"),
        s.externalTrafficPolicy,
        "may only be set when `type` is 'NodePort' or 'LoadBalancer'",
      ),
    );
  if (s.healthCheckNodePort !== undefined && s.healthCheckNodePort !== 0) {
    if (type !== "LoadBalancer" || s.externalTrafficPolicy !== "Local")
      errs.push(
        invalid(
          spec.child("healthCheckNodePort"),
          s.healthCheckNodePort,
          "may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'",
        ),
      );
    else portRange(spec.child("healthCheckNodePort"), s.healthCheckNodePort, errs);
  }
  if (s.loadBalancerSourceRanges?.length) {
    if (type !== "LoadBalancer")
      errs.push(forbidden(spec.child("loadBalancerSourceRanges"), "may only be used when `type` is 'LoadBalancer'"));
    s.loadBalancerSourceRanges.forEach((r, i) => {
      if (!parseCIDR(r.trim()))
        errs.push(
          invalid(
            spec.child("loadBalancerSourceRanges").index(i),
            r,
            "must be a list of IP ranges. For example, 10.240.0.0/24,10.250.0.0/24 ",
          ),
        );
    });
  }
  (s.ipFamilies ?? []).forEach((f, i) => {
    if (f !== "IPv4" && f !== "IPv6") errs.push(notSupported(spec.child("ipFamilies").index(i), f, ["IPv4", "IPv6"]));
  });
  labels(spec.child("selector"), s.selector, errs);
  return errs;
}

// ---- Pod and templates ------------------------------------------------------------------------------

function validateProbe(p: Path, probe: Probe | undefined, errs: FieldError[]): void {
  if (!probe) return;
  const handlers = [probe.httpGet, probe.tcpSocket, probe.exec].filter(Boolean).length;
  if (handlers === 0) errs.push(required(p, "must specify a handler type"));
  if (handlers > 1) errs.push(forbidden(p, "may not specify more than 1 handler type"));
  const port = probe.httpGet?.port ?? probe.tcpSocket?.port;
  const portPath = p.child(probe.httpGet ? "httpGet" : "tcpSocket").child("port");
  if (typeof port === "number") portRange(portPath, port, errs);
  else if (typeof port === "string") {
    const e = portNameError(port);
    if (e) errs.push(invalid(portPath, port, e));
  }
  for (const f of [
    "initialDelaySeconds",
    "timeoutSeconds",
    "periodSeconds",
    "successThreshold",
    "failureThreshold",
  ] as const) {
    const v = probe[f];
    if (v !== undefined && (!Number.isInteger(v) || v < 0))
      errs.push(invalid(p.child(f), v, "must be greater than or equal to 0"));
  }
}

function validateContainers(
  p: Path,
  containers: Container[] | undefined,
  errs: FieldError[],
  names: Set<string>,
): void {
  (containers ?? []).forEach((c, i) => {
    const cp = p.index(i);
    if (!c.name) errs.push(required(cp.child("name")));
    else {
      const e = dns1123LabelError(c.name);
      if (e) errs.push(invalid(cp.child("name"), c.name, e));
      if (names.has(c.name)) errs.push(duplicate(cp.child("name"), c.name));
      names.add(c.name);
    }
    if (!c.image) errs.push(required(cp.child("image")));
    (c.ports ?? []).forEach((port, j) => {
      const pp = cp.child("ports").index(j);
      portRange(pp.child("containerPort"), port.containerPort, errs);
      if (port.hostPort !== undefined && port.hostPort !== 0) portRange(pp.child("hostPort"), port.hostPort, errs);
      protocol(pp.child("protocol"), port.protocol, errs);
      if (port.name) {
        const e = portNameError(port.name);
        if (e) errs.push(invalid(pp.child("name"), port.name, e));
      }
    });
    (c.env ?? []).forEach((env, j) => {
      const ep = cp.child("env").index(j);
      if (!env.name) errs.push(required(ep.child("name")));
      else if (!ENV_NAME.test(env.name))
        errs.push(
          invalid(
            ep.child("name"),
            env.name,
            "a valid environment variable name must consist of alphabetic characters, digits, '_', '-', or '.', and must not start with a digit",
          ),
        );
    });
    validateProbe(cp.child("readinessProbe"), c.readinessProbe, errs);
    validateProbe(cp.child("livenessProbe"), c.livenessProbe, errs);
    validateProbe(cp.child("startupProbe"), c.startupProbe, errs);
  });
}

export function validatePodSpec(p: Path, spec: PodSpec | undefined): FieldError[] {
  const errs: FieldError[] = [];
  if (!spec) return [required(p)];
  if (!spec.containers || spec.containers.length === 0) errs.push(required(p.child("containers")));
  const names = new Set<string>();
  validateContainers(p.child("containers"), spec.containers, errs, names);
  validateContainers(p.child("initContainers"), spec.initContainers, errs, names);
  if (spec.restartPolicy && !["Always", "OnFailure", "Never"].includes(spec.restartPolicy))
    errs.push(notSupported(p.child("restartPolicy"), spec.restartPolicy, ["Always", "OnFailure", "Never"]));
  if (spec.dnsPolicy && !["ClusterFirst", "ClusterFirstWithHostNet", "Default", "None"].includes(spec.dnsPolicy))
    errs.push(
      notSupported(p.child("dnsPolicy"), spec.dnsPolicy, [
        "ClusterFirst",
        "ClusterFirstWithHostNet",
        "Default",
        "None",
      ]),
    );
  if (spec.terminationGracePeriodSeconds !== undefined && spec.terminationGracePeriodSeconds < 0)
    errs.push(
      invalid(
        p.child("terminationGracePeriodSeconds"),
        spec.terminationGracePeriodSeconds,
        "must be greater than or equal to 0",
      ),
    );
  labels(p.child("nodeSelector"), spec.nodeSelector, errs);
  (spec.tolerations ?? []).forEach((t, i) => {
    const tp = p.child("tolerations").index(i);
    if (t.operator && t.operator !== "Exists" && t.operator !== "Equal")
      errs.push(notSupported(tp.child("operator"), t.operator, ["Equal", "Exists"]));
    if (t.operator === "Exists" && t.value)
      errs.push(invalid(tp.child("operator"), t.operator, "value must be empty when `operator` is 'Exists'"));
    if (t.effect && !["NoSchedule", "PreferNoSchedule", "NoExecute"].includes(t.effect))
      errs.push(notSupported(tp.child("effect"), t.effect, ["NoExecute", "NoSchedule", "PreferNoSchedule"]));
  });
  if (spec.hostname) {
    const e = dns1123LabelError(spec.hostname);
    if (e) errs.push(invalid(p.child("hostname"), spec.hostname, e));
  }
  if (spec.subdomain) {
    const e = dns1123LabelError(spec.subdomain);
    if (e) errs.push(invalid(p.child("subdomain"), spec.subdomain, e));
  }
  return errs;
}

export function validatePod(pod: Pod): FieldError[] {
  const errs = validateMeta(pod.metadata, "subdomain", true);
  errs.push(...validatePodSpec(Path.root("spec"), pod.spec));
  for (const [i, ip] of (pod.status?.podIPs ?? []).entries())
    if (!isIP(ip.ip))
      errs.push(invalid(Path.root("status").child("podIPs").index(i).child("ip"), ip.ip, "must be a valid IP address"));
  return errs;
}

function validateTemplate(p: Path, t: PodTemplateSpec | undefined, errs: FieldError[]): void {
  if (!t) {
    errs.push(required(p));
    return;
  }
  labels(p.child("metadata").child("labels"), t.metadata?.labels, errs);
  errs.push(...validatePodSpec(p.child("spec"), t.spec));
}

function validateSelectorTemplate(
  spec: Path,
  selector: LabelSelector | undefined,
  template: PodTemplateSpec | undefined,
  errs: FieldError[],
): void {
  if (!selector) {
    errs.push(required(spec.child("selector")));
    return;
  }
  try {
    const m = labelSelectorFromObject(selector);
    if (m.empty()) errs.push(invalid(spec.child("selector"), selector, "empty selector is invalid for deployment"));
    else if (template && !m.matches(template.metadata?.labels))
      errs.push(
        invalid(
          spec.child("template").child("metadata").child("labels"),
          template.metadata?.labels ?? {},
          "`selector` does not match template `labels`",
        ),
      );
  } catch (e) {
    if (e instanceof SelectorParseError) errs.push(invalid(spec.child("selector"), selector, e.message));
    else throw e;
  }
}

function replicas(p: Path, v: number | undefined, errs: FieldError[]): void {
  if (v !== undefined && (!Number.isInteger(v) || v < 0))
    errs.push(invalid(p, v, "must be greater than or equal to 0"));
}

function intOrPercent(p: Path, v: number | string | undefined, errs: FieldError[]): void {
  if (v === undefined) return;
  if (typeof v === "number") {
    if (!Number.isInteger(v) || v < 0) errs.push(invalid(p, v, "must be greater than or equal to 0"));
  } else if (!/^\d+%$/.test(v))
    errs.push(
      invalid(
        p,
        v,
        "a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')",
      ),
    );
  else if (Number(v.slice(0, -1)) > 100) errs.push(invalid(p, v, "must not be greater than 100%"));
}

export function validateDeployment(d: Deployment): FieldError[] {
  const errs = validateMeta(d.metadata, "subdomain", true);
  const spec = Path.root("spec");
  replicas(spec.child("replicas"), d.spec?.replicas, errs);
  validateSelectorTemplate(spec, d.spec?.selector, d.spec?.template, errs);
  validateTemplate(spec.child("template"), d.spec?.template, errs);
  const st = d.spec?.strategy;
  if (st?.type && st.type !== "RollingUpdate" && st.type !== "Recreate")
    errs.push(notSupported(spec.child("strategy").child("type"), st.type, ["Recreate", "RollingUpdate"]));
  const ru = st?.rollingUpdate;
  if (ru) {
    const rp = spec.child("strategy").child("rollingUpdate");
    if (st?.type === "Recreate") errs.push(forbidden(rp, "may not be specified when strategy `type` is 'Recreate'"));
    intOrPercent(rp.child("maxSurge"), ru.maxSurge, errs);
    intOrPercent(rp.child("maxUnavailable"), ru.maxUnavailable, errs);
    const zero = (v: number | string | undefined) => v === 0 || v === "0%";
    if (zero(ru.maxSurge) && zero(ru.maxUnavailable))
      errs.push(invalid(rp.child("maxUnavailable"), ru.maxUnavailable, "may not be 0 when `maxSurge` is 0"));
  }
  return errs;
}

export function validateReplicaSet(rs: ReplicaSet): FieldError[] {
  const errs = validateMeta(rs.metadata, "subdomain", true);
  const spec = Path.root("spec");
  replicas(spec.child("replicas"), rs.spec?.replicas, errs);
  validateSelectorTemplate(spec, rs.spec?.selector, rs.spec?.template, errs);
  validateTemplate(spec.child("template"), rs.spec?.template, errs);
  return errs;
}

export function validateReplicationController(rc: ReplicationController): FieldError[] {
  const errs = validateMeta(rc.metadata, "subdomain", true);
  const spec = Path.root("spec");
  replicas(spec.child("replicas"), rc.spec?.replicas, errs);
  const sel = rc.spec?.selector ?? {};
  if (Object.keys(sel).length === 0) errs.push(required(spec.child("selector")));
  labels(spec.child("selector"), sel, errs);
  const tl = rc.spec?.template?.metadata?.labels ?? {};
  if (Object.keys(sel).length > 0 && !Object.entries(sel).every(([k, v]) => tl[k] === v))
    errs.push(
      invalid(
        spec.child("template").child("metadata").child("labels"),
        tl,
        "`selector` does not match template `labels`",
      ),
    );
  validateTemplate(spec.child("template"), rc.spec?.template, errs);
  return errs;
}

// ---- Endpoints, EndpointSlice, Node, Namespace, ConfigMap, Secret ------------------------------------

export function validateEndpointSlice(es: EndpointSlice): FieldError[] {
  const errs = validateMeta(es.metadata, "subdomain", true);
  const at = es.addressType;
  if (!["IPv4", "IPv6", "FQDN"].includes(at))
    errs.push(notSupported(Path.root("addressType"), at, ["FQDN", "IPv4", "IPv6"]));
  const eps = es.endpoints ?? [];
  if (eps.length > 1000) errs.push(tooMany(Path.root("endpoints"), eps.length, 1000));
  eps.forEach((ep, i) => {
    const p = Path.root("endpoints").index(i);
    const addrs = ep.addresses ?? [];
    if (addrs.length === 0) errs.push(required(p.child("addresses"), "must contain at least 1 address"));
    if (addrs.length > 100) errs.push(tooMany(p.child("addresses"), addrs.length, 100));
    addrs.forEach((a, j) => {
      const ap = p.child("addresses").index(j);
      if (at === "IPv4" && ipFamily(a) !== 4) errs.push(invalid(ap, a, "must be a valid IPv4 address"));
      if (at === "IPv6" && ipFamily(a) !== 6) errs.push(invalid(ap, a, "must be a valid IPv6 address"));
      if (at === "FQDN") {
        const e = dns1123SubdomainError(a);
        if (e) errs.push(invalid(ap, a, e));
      }
    });
    if (ep.hostname) {
      const e = dns1123LabelError(ep.hostname);
      if (e) errs.push(invalid(p.child("hostname"), ep.hostname, e));
    }
    if (ep.nodeName) {
      const e = dns1123SubdomainError(ep.nodeName);
      if (e) errs.push(invalid(p.child("nodeName"), ep.nodeName, e));
    }
  });
  const ports = es.ports ?? [];
  if (ports.length > 100) errs.push(tooMany(Path.root("ports"), ports.length, 100));
  const names = new Set<string>();
  ports.forEach((port, i) => {
    const p = Path.root("ports").index(i);
    const name = port.name ?? "";
    if (name !== "") {
      const e = dns1123LabelError(name);
      if (e) errs.push(invalid(p.child("name"), name, e));
    }
    if (names.has(name)) errs.push(duplicate(p.child("name"), name));
    names.add(name);
    if (port.port !== undefined && port.port !== null) portRange(p.child("port"), port.port, errs);
    protocol(p.child("protocol"), port.protocol, errs);
  });
  return errs;
}

export function validateEndpoints(ep: Endpoints): FieldError[] {
  const errs = validateMeta(ep.metadata, "subdomain", true);
  (ep.subsets ?? []).forEach((ss, i) => {
    const p = Path.root("subsets").index(i);
    for (const f of ["addresses", "notReadyAddresses"] as const)
      (ss[f] ?? []).forEach((a, j) => {
        if (!isIP(a.ip)) errs.push(invalid(p.child(f).index(j).child("ip"), a.ip, "must be a valid IP address"));
      });
    (ss.ports ?? []).forEach((port, j) => {
      const pp = p.child("ports").index(j);
      portRange(pp.child("port"), port.port, errs);
      protocol(pp.child("protocol"), port.protocol, errs);
      if ((ss.ports?.length ?? 0) > 1 && !port.name) errs.push(required(pp.child("name")));
    });
  });
  return errs;
}

export function validateNode(n: Node): FieldError[] {
  const errs = validateMeta(n.metadata, "subdomain", false);
  const spec = Path.root("spec");
  const cidrs = [...(n.spec?.podCIDR ? [n.spec.podCIDR] : []), ...(n.spec?.podCIDRs ?? [])];
  cidrs.forEach((c, i) => {
    if (!parseCIDR(c)) errs.push(invalid(spec.child("podCIDRs").index(i), c, "must be a valid CIDR"));
  });
  if (n.spec?.podCIDR && n.spec.podCIDRs?.length && n.spec.podCIDRs[0] !== n.spec.podCIDR)
    errs.push(invalid(spec.child("podCIDRs"), n.spec.podCIDRs, "the first value must match spec.podCIDR"));
  (n.spec?.taints ?? []).forEach((t, i) => {
    const tp = spec.child("taints").index(i);
    const e = labelKeyError(t.key ?? "");
    if (e) errs.push(invalid(tp.child("key"), t.key, e));
    if (!["NoSchedule", "PreferNoSchedule", "NoExecute"].includes(t.effect))
      errs.push(notSupported(tp.child("effect"), t.effect, ["NoExecute", "NoSchedule", "PreferNoSchedule"]));
  });
  for (const [i, a] of (n.status?.addresses ?? []).entries())
    if ((a.type === "InternalIP" || a.type === "ExternalIP") && !isIP(a.address))
      errs.push(
        invalid(
          Path.root("status").child("addresses").index(i).child("address"),
          a.address,
          "must be a valid IP address",
        ),
      );
  return errs;
}

function dataKeys(p: Path, data: Record<string, string> | undefined, errs: FieldError[]): void {
  for (const k of Object.keys(data ?? {})) {
    if (k.length > 253 || !CONFIG_KEY.test(k) || k === "." || k === "..")
      errs.push(
        invalid(
          p,
          k,
          "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')",
        ),
      );
  }
}

export function validateConfigMap(cm: ConfigMap): FieldError[] {
  const errs = validateMeta(cm.metadata, "subdomain", true);
  dataKeys(Path.root("data"), cm.data, errs);
  dataKeys(Path.root("binaryData"), cm.binaryData, errs);
  for (const k of Object.keys(cm.data ?? {}))
    if (cm.binaryData && k in cm.binaryData)
      errs.push(invalid(Path.root("data").key(k), k, "duplicate of key present in binaryData"));
  return errs;
}

export function validateSecret(s: Secret): FieldError[] {
  const errs = validateMeta(s.metadata, "subdomain", true);
  dataKeys(Path.root("data"), s.data, errs);
  dataKeys(Path.root("stringData"), s.stringData, errs);
  return errs;
}

export function validateNamespace(ns: Namespace): FieldError[] {
  return validateMeta(ns.metadata, "label", false);
}

const VALIDATORS: Record<string, (o: never) => FieldError[]> = {
  Namespace: validateNamespace,
  Node: validateNode,
  Pod: validatePod,
  Service: validateService,
  Endpoints: validateEndpoints,
  EndpointSlice: validateEndpointSlice,
  Deployment: validateDeployment,
  ReplicaSet: validateReplicaSet,
  ReplicationController: validateReplicationController,
  ConfigMap: validateConfigMap,
  Secret: validateSecret,
};

const CLUSTER_SCOPED = new Set(["Namespace", "Node", "ComponentStatus"]);

/** Validates any object podwire serves; kinds without specific rules get ObjectMeta checks. */
export function validate(obj: KubeObject): FieldError[] {
  const v = obj.kind ? VALIDATORS[obj.kind] : undefined;
  if (v) return v(obj as never);
  return validateMeta(obj.metadata, "subdomain", !CLUSTER_SCOPED.has(obj.kind ?? ""));
}

/** Checks that a ClusterIP lies in the service range (the apiserver's allocator rule), as a field error. */
export function clusterIPInRange(svc: Service, range: string): FieldError[] {
  const ip = svc.spec?.clusterIP;
  if (!ip || ip === "None" || !isIP(ip)) return [];
  if (!cidrContains(range, ip))
    return [
      invalid(
        Path.root("spec").child("clusterIPs").index(0),
        ip,
        `failed to allocate IP ${ip}: the provided IP (${ip}) is not in the valid range. The range of valid IPs is ${range}`,
      ),
    ];
  return [];
}
