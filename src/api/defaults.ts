/**
 * Defaulting as the apiserver applies it on create/update, for the fields podwire reads. Returns a new
 * object; the input is not changed. Allocation (ClusterIP, NodePort) is the apiserver's job, not this one's.
 */
import type { Deployment, EndpointSlice, ReplicaSet } from "./apps.js";
import type {
  Container,
  Endpoints,
  Namespace,
  Pod,
  PodSpec,
  PodTemplateSpec,
  Probe,
  ReplicationController,
  Service,
} from "./core.js";
import type { KubeObject } from "./meta.js";

function defaultProbe(p: Probe | undefined): Probe | undefined {
  if (!p) return p;
  return { timeoutSeconds: 1, periodSeconds: 10, successThreshold: 1, failureThreshold: 3, ...p };
}

function defaultContainer(c: Container): Container {
  const tag = c.image?.includes("@") ? "digest" : (c.image?.split("/").pop()?.split(":")[1] ?? "latest");
  return {
    ...c,
    imagePullPolicy: c.imagePullPolicy ?? (tag === "latest" ? "Always" : "IfNotPresent"),
    terminationMessagePath: c.terminationMessagePath ?? "/dev/termination-log",
    terminationMessagePolicy: c.terminationMessagePolicy ?? "File",
    resources: c.resources ?? {},
    ...(c.ports ? { ports: c.ports.map((p) => ({ ...p, protocol: p.protocol ?? "TCP" })) } : {}),
    ...(c.readinessProbe ? { readinessProbe: defaultProbe(c.readinessProbe) } : {}),
    ...(c.livenessProbe ? { livenessProbe: defaultProbe(c.livenessProbe) } : {}),
    ...(c.startupProbe ? { startupProbe: defaultProbe(c.startupProbe) } : {}),
  };
}

export function defaultPodSpec(s: PodSpec): PodSpec {
  return {
    ...s,
    containers: (s.containers ?? []).map(defaultContainer),
    ...(s.initContainers ? { initContainers: s.initContainers.map(defaultContainer) } : {}),
    restartPolicy: s.restartPolicy ?? "Always",
    terminationGracePeriodSeconds: s.terminationGracePeriodSeconds ?? 30,
    dnsPolicy: s.dnsPolicy ?? "ClusterFirst",
    schedulerName: s.schedulerName ?? "default-scheduler",
    securityContext: s.securityContext ?? {},
    enableServiceLinks: s.enableServiceLinks ?? true,
  };
}

function defaultTemplate(t: PodTemplateSpec | undefined): PodTemplateSpec | undefined {
  if (!t) return t;
  return { ...t, metadata: { creationTimestamp: null, ...(t.metadata ?? {}) }, spec: defaultPodSpec(t.spec) };
}

export function defaultService(svc: Service): Service {
  const s = svc.spec ?? {};
  const type = s.type ?? "ClusterIP";
  const external = type === "NodePort" || type === "LoadBalancer";
  const spec: Service["spec"] = {
    ...s,
    type,
    sessionAffinity: s.sessionAffinity ?? "None",
  };
  if (type !== "ExternalName") {
    spec.ports = (s.ports ?? []).map((p) => ({
      ...p,
      protocol: p.protocol ?? "TCP",
      targetPort: p.targetPort ?? p.port,
    }));
    spec.internalTrafficPolicy = s.internalTrafficPolicy ?? "Cluster";
  }
  if (external) spec.externalTrafficPolicy = s.externalTrafficPolicy ?? "Cluster";
  if (type === "LoadBalancer") spec.allocateLoadBalancerNodePorts = s.allocateLoadBalancerNodePorts ?? true;
  if (spec.sessionAffinity === "ClientIP")
    spec.sessionAffinityConfig = {
      clientIP: { timeoutSeconds: s.sessionAffinityConfig?.clientIP?.timeoutSeconds ?? 10800 },
    };
  return { ...svc, spec, status: svc.status ?? { loadBalancer: {} } };
}

export function defaultDeployment(d: Deployment): Deployment {
  const st = d.spec.strategy ?? {};
  const type = st.type ?? "RollingUpdate";
  return {
    ...d,
    spec: {
      ...d.spec,
      replicas: d.spec.replicas ?? 1,
      revisionHistoryLimit: d.spec.revisionHistoryLimit ?? 10,
      progressDeadlineSeconds: d.spec.progressDeadlineSeconds ?? 600,
      strategy:
        type === "RollingUpdate"
          ? {
              type,
              rollingUpdate: {
                maxSurge: st.rollingUpdate?.maxSurge ?? "25%",
                maxUnavailable: st.rollingUpdate?.maxUnavailable ?? "25%",
              },
            }
          : { type },
      template: defaultTemplate(d.spec.template)!,
    },
  };
}

export function defaultReplicaSet(rs: ReplicaSet): ReplicaSet {
  return { ...rs, spec: { ...rs.spec, replicas: rs.spec.replicas ?? 1, template: defaultTemplate(rs.spec.template) } };
}

export function defaultReplicationController(rc: ReplicationController): ReplicationController {
  const tl = rc.spec.template?.metadata?.labels;
  const selector = rc.spec.selector && Object.keys(rc.spec.selector).length > 0 ? rc.spec.selector : tl;
  return {
    ...rc,
    metadata: { ...rc.metadata, labels: rc.metadata.labels ?? tl },
    spec: { ...rc.spec, replicas: rc.spec.replicas ?? 1, selector, template: defaultTemplate(rc.spec.template) },
  };
}

export function defaultPod(p: Pod): Pod {
  return { ...p, spec: defaultPodSpec(p.spec), status: p.status ?? { phase: "Pending", qosClass: "BestEffort" } };
}

export function defaultNamespace(ns: Namespace): Namespace {
  return { ...ns, spec: ns.spec ?? { finalizers: ["kubernetes"] }, status: ns.status ?? { phase: "Active" } };
}

export function defaultEndpointSlice(es: EndpointSlice): EndpointSlice {
  return { ...es, ports: es.ports?.map((p) => ({ ...p, protocol: p.protocol ?? "TCP" })) ?? es.ports };
}

export function defaultEndpoints(ep: Endpoints): Endpoints {
  return {
    ...ep,
    subsets: ep.subsets?.map((s) => ({ ...s, ports: s.ports?.map((p) => ({ ...p, protocol: p.protocol ?? "TCP" })) })),
  };
}

const DEFAULTERS: Record<string, (o: never) => KubeObject> = {
  Service: defaultService,
  Deployment: defaultDeployment,
  ReplicaSet: defaultReplicaSet,
  ReplicationController: defaultReplicationController,
  Pod: defaultPod,
  Namespace: defaultNamespace,
  EndpointSlice: defaultEndpointSlice,
  Endpoints: defaultEndpoints,
};

/** Applies Kubernetes' defaults for the object's kind (kinds without defaults come back unchanged). */
export function applyDefaults<T extends KubeObject>(obj: T): T {
  const d = obj.kind ? DEFAULTERS[obj.kind] : undefined;
  return d ? (d(obj as never) as T) : obj;
}
