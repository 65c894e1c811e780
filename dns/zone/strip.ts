/**
 * The informer transform of the DNS server (client-go SetTransform, what CoreDNS's object/*.go do): every
 * watched object is cut down to the fields buildZoneView reads before the informer caches it. Whole objects
 * (managedFields, annotations, selectors, pod specs, container statuses, endpoint topology) were most of the
 * server's memory. resourceVersion is dropped too, so the informer compares the stripped objects and an update
 * that touches nothing DNS reads (a pod's conditions, an endpoint's node) raises no event and no zone rebuild.
 * Pure: the input is never changed.
 */
import type {
  Endpoint,
  EndpointSlice,
  EndpointSlicePort,
  KubeObject,
  ObjectMeta,
  Pod,
  Service,
  ServicePort,
} from "../../src/api/index.js";

const SERVICE_NAME_LABEL = "kubernetes.io/service-name";

// Objects are built with every field in one literal (absent ones undefined, which JSON and the informer's
// comparison ignore): adding properties later would give each object a separate property array.

// Each kind gets its own metadata shape with just the fields the zone reads.
const metaOf = (m: ObjectMeta): ObjectMeta => ({ name: m.name as string, namespace: m.namespace });

function sliceMeta(m: ObjectMeta): ObjectMeta {
  const svc = m.labels?.[SERVICE_NAME_LABEL];
  return {
    name: m.name as string,
    namespace: m.namespace,
    labels: svc === undefined ? undefined : { [SERVICE_NAME_LABEL]: svc },
  };
}

function ports<P extends ServicePort | EndpointSlicePort>(ps: readonly P[] | null | undefined): P[] | undefined {
  if (!ps) return undefined;
  return ps.map((p) => ({ name: p.name || undefined, protocol: p.protocol || undefined, port: p.port }) as P);
}

function service(s: Service): KubeObject {
  const spec = s.spec ?? {};
  const ips = spec.clusterIPs;
  const out: Service["spec"] = {
    type: spec.type,
    clusterIP: spec.clusterIP,
    // clusterIPs usually repeats clusterIP: keep it only when it says more.
    clusterIPs: ips?.length && !(ips.length === 1 && ips[0] === spec.clusterIP) ? ips : undefined,
    externalName: spec.externalName,
    publishNotReadyAddresses: spec.publishNotReadyAddresses ? true : undefined,
    ports: ports(spec.ports),
  };
  return { apiVersion: "v1", kind: "Service", metadata: metaOf(s.metadata), spec: out } as Service;
}

const NOT_READY = Object.freeze({ ready: false });

function endpoint(e: Endpoint): Endpoint {
  return {
    addresses: e.addresses,
    // Absent = ready; only "not ready" changes what DNS serves (publishNotReadyAddresses aside).
    conditions: e.conditions?.ready === false ? NOT_READY : undefined,
    hostname: e.hostname || undefined,
  };
}

function slice(s: EndpointSlice): KubeObject {
  return {
    apiVersion: "discovery.k8s.io/v1",
    kind: "EndpointSlice",
    metadata: sliceMeta(s.metadata),
    addressType: s.addressType,
    endpoints: s.endpoints ? s.endpoints.map(endpoint) : null,
    ports: ports(s.ports),
  } as EndpointSlice;
}

function pod(p: Pod): KubeObject {
  const st = p.status ?? {};
  // Only running pods' addresses count (buildZoneView skips the others): keep the addresses of those and nothing
  // of the rest, so phase and deletionTimestamp need no room. One address (the usual case) is kept as podIP
  // alone: podIPs would cost an array and an object per pod.
  const gone =
    st.phase === "Succeeded" || st.phase === "Failed" || st.phase === "Unknown" || !!p.metadata.deletionTimestamp;
  const ips = st.podIPs?.length ? st.podIPs : undefined;
  const status: NonNullable<Pod["status"]> = {
    podIPs: !gone && ips && ips.length > 1 ? ips.map((x) => ({ ip: x.ip })) : undefined,
    podIP: gone ? undefined : ips ? ips[0]?.ip : st.podIP,
  };
  return { apiVersion: "v1", kind: "Pod", metadata: metaOf(p.metadata), status } as unknown as Pod;
}

/** The part of `obj` the cluster zone needs; kinds DNS does not read are reduced to their identity. */
export function stripForDns(obj: KubeObject): KubeObject {
  switch (obj.kind) {
    case "Service":
      return service(obj as Service);
    case "EndpointSlice":
      return slice(obj as EndpointSlice);
    case "Pod":
      return pod(obj as Pod);
    default:
      return { apiVersion: obj.apiVersion as string, kind: obj.kind as string, metadata: metaOf(obj.metadata) };
  }
}
