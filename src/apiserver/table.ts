/**
 * Server-side Table output (`Accept: application/json;as=Table;g=meta.k8s.io;v=v1`) with the columns kubectl
 * shows for each kind (kube-apiserver's printers). Cells are computed from plain objects; pure functions.
 */
import type { KubeObject } from "../api/meta.js";

export interface ColumnDefinition {
  name: string;
  type: string;
  format: string;
  description: string;
  priority: number;
}

export interface TableRow {
  cells: unknown[];
  object?: unknown;
}

export interface Table {
  kind: "Table";
  apiVersion: "meta.k8s.io/v1";
  metadata: { resourceVersion?: string; continue?: string };
  columnDefinitions: ColumnDefinition[];
  rows: TableRow[];
}

// biome-ignore lint/suspicious/noExplicitAny: printers read deep optional fields of many kinds
type Any = any;

/** kubectl's human duration (apimachinery duration.HumanDuration). */
export function humanDuration(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  if (seconds < -1) return "<invalid>";
  if (seconds < 0) return "0s";
  if (seconds < 120) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 10) return seconds % 60 === 0 ? `${minutes}m` : `${minutes}m${seconds % 60}s`;
  if (minutes < 180) return `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  if (hours < 8) return minutes % 60 === 0 ? `${hours}h` : `${hours}h${minutes % 60}m`;
  if (hours < 48) return `${hours}h`;
  if (hours < 24 * 8) return hours % 24 === 0 ? `${hours / 24}d` : `${Math.floor(hours / 24)}d${hours % 24}h`;
  if (hours < 24 * 365 * 2) return `${Math.floor(hours / 24)}d`;
  const days = Math.floor(hours / 24);
  if (hours < 24 * 365 * 8) return days % 365 === 0 ? `${days / 365}y` : `${Math.floor(days / 365)}y${days % 365}d`;
  return `${Math.floor(days / 365)}y`;
}

function age(ts: string | null | undefined, now: number): string {
  if (!ts) return "<unknown>";
  return humanDuration(now - Date.parse(ts));
}

const col = (name: string, type = "string", priority = 0, format = ""): ColumnDefinition => ({
  name,
  type,
  format,
  description: `${name} column`,
  priority,
});
const nameCol = col("Name", "string", 0, "name");
const ageCol = col("Age", "string");

function none(s: string | undefined | null): string {
  return s ? s : "<none>";
}

function selectorString(m: Record<string, string> | undefined): string {
  if (!m || Object.keys(m).length === 0) return "<none>";
  return Object.keys(m)
    .sort()
    .map((k) => `${k}=${m[k]}`)
    .join(",");
}

function labelSelectorString(s: Any): string {
  if (!s) return "<none>";
  const parts: string[] = [];
  const ml = s.matchLabels ?? {};
  for (const k of Object.keys(ml).sort()) parts.push(`${k}=${ml[k]}`);
  for (const e of s.matchExpressions ?? []) {
    const vals = (e.values ?? []).slice().sort().join(",");
    if (e.operator === "In") parts.push(`${e.key} in (${vals})`);
    else if (e.operator === "NotIn") parts.push(`${e.key} notin (${vals})`);
    else if (e.operator === "Exists") parts.push(e.key);
    else if (e.operator === "DoesNotExist") parts.push(`!${e.key}`);
  }
  return parts.length ? parts.join(",") : "<none>";
}

function podStatus(p: Any): string {
  let reason: string = p.status?.reason || p.status?.phase || "Unknown";
  const statuses: Any[] = p.status?.containerStatuses ?? [];
  let initializing = false;
  (p.status?.initContainerStatuses ?? []).forEach((s: Any, i: number) => {
    if (s.state?.terminated?.exitCode === 0) return;
    initializing = true;
    if (s.state?.terminated) reason = `Init:${s.state.terminated.reason || "Error"}`;
    else if (s.state?.waiting?.reason && s.state.waiting.reason !== "PodInitializing")
      reason = `Init:${s.state.waiting.reason}`;
    else reason = `Init:${i}/${(p.spec?.initContainers ?? []).length}`;
  });
  if (!initializing) {
    let hasRunning = false;
    for (let i = statuses.length - 1; i >= 0; i--) {
      const s = statuses[i];
      if (s.state?.waiting?.reason) reason = s.state.waiting.reason;
      else if (s.state?.terminated?.reason) reason = s.state.terminated.reason;
      else if (s.state?.terminated)
        reason = s.state.terminated.signal
          ? `Signal:${s.state.terminated.signal}`
          : `ExitCode:${s.state.terminated.exitCode}`;
      else if (s.ready && s.state?.running) hasRunning = true;
    }
    if (reason === "Completed" && hasRunning) reason = "Running";
  }
  if (p.metadata?.deletionTimestamp) reason = p.status?.reason === "NodeLost" ? "Unknown" : "Terminating";
  return reason;
}

function nodeStatus(n: Any): string {
  const conds: Any[] = n.status?.conditions ?? [];
  const ready = conds.find((c) => c.type === "Ready");
  const parts = [
    ready ? (ready.status === "True" ? "Ready" : ready.status === "False" ? "NotReady" : "Unknown") : "Unknown",
  ];
  if (n.spec?.unschedulable) parts.push("SchedulingDisabled");
  return parts.join(",");
}

function nodeRoles(n: Any): string {
  const roles: string[] = [];
  for (const [k, v] of Object.entries((n.metadata?.labels ?? {}) as Record<string, string>)) {
    if (k.startsWith("node-role.kubernetes.io/")) roles.push(k.slice("node-role.kubernetes.io/".length));
    else if (k === "kubernetes.io/role") roles.push(v);
  }
  return roles.length ? roles.sort().join(",") : "<none>";
}

function servicePorts(s: Any): string {
  const ports: Any[] = s.spec?.ports ?? [];
  if (ports.length === 0) return "<none>";
  return ports
    .map((p) => (p.nodePort ? `${p.port}:${p.nodePort}/${p.protocol ?? "TCP"}` : `${p.port}/${p.protocol ?? "TCP"}`))
    .join(",");
}

function serviceExternalIP(s: Any): string {
  const type = s.spec?.type ?? "ClusterIP";
  const ext: string[] = s.spec?.externalIPs ?? [];
  if (type === "ExternalName") return s.spec?.externalName ?? "<none>";
  if (type === "LoadBalancer") {
    const ing: Any[] = s.status?.loadBalancer?.ingress ?? [];
    const all = [...ing.map((i) => i.ip || i.hostname), ...ext];
    return all.length ? all.join(",") : "<pending>";
  }
  return ext.length ? ext.join(",") : "<none>";
}

function truncList(items: string[]): string {
  if (items.length === 0) return "<none>";
  if (items.length <= 3) return items.join(",");
  return `${items.slice(0, 3).join(",")} + ${items.length - 3} more...`;
}

function endpointsCell(e: Any): string {
  const out: string[] = [];
  for (const ss of e.subsets ?? []) {
    const ports: Any[] = ss.ports?.length ? ss.ports : [{}];
    for (const a of ss.addresses ?? [])
      for (const p of ports) out.push(p.port !== undefined ? `${a.ip}:${p.port}` : a.ip);
  }
  return truncList(out);
}

function containersOf(template: Any): { names: string; images: string } {
  const cs: Any[] = template?.spec?.containers ?? [];
  return { names: cs.map((c) => c.name).join(","), images: cs.map((c) => c.image).join(",") };
}

interface Printer {
  columns: ColumnDefinition[];
  cells(o: Any, now: number): unknown[];
}

/** ReplicaSets and ReplicationControllers print the same columns; only the selector's form differs. */
function replicaPrinter(selector: (r: Any) => string): Printer {
  return {
    columns: [
      nameCol,
      col("Desired", "integer"),
      col("Current", "integer"),
      col("Ready", "integer"),
      ageCol,
      col("Containers", "string", 1),
      col("Images", "string", 1),
      col("Selector", "string", 1),
    ],
    cells: (r, now) => {
      const c = containersOf(r.spec?.template);
      return [
        r.metadata.name,
        r.spec?.replicas ?? 1,
        r.status?.replicas ?? 0,
        r.status?.readyReplicas ?? 0,
        age(r.metadata.creationTimestamp, now),
        c.names,
        c.images,
        selector(r),
      ];
    },
  };
}

const printers: Record<string, Printer> = {
  Pod: {
    columns: [
      nameCol,
      col("Ready"),
      col("Status"),
      col("Restarts"),
      ageCol,
      col("IP", "string", 1),
      col("Node", "string", 1),
      col("Nominated Node", "string", 1),
      col("Readiness Gates", "string", 1),
    ],
    cells: (p, now) => {
      const statuses: Any[] = p.status?.containerStatuses ?? [];
      const total = (p.spec?.containers ?? []).length;
      const ready = statuses.filter((s) => s.ready).length;
      const restarts = statuses.reduce((n, s) => n + (s.restartCount ?? 0), 0);
      const gates: Any[] = p.spec?.readinessGates ?? [];
      return [
        p.metadata.name,
        `${ready}/${total}`,
        podStatus(p),
        String(restarts),
        age(p.metadata.creationTimestamp, now),
        none(p.status?.podIP),
        none(p.spec?.nodeName),
        none(p.status?.nominatedNodeName),
        gates.length ? `0/${gates.length}` : "<none>",
      ];
    },
  },
  Node: {
    columns: [
      nameCol,
      col("Status"),
      col("Roles"),
      ageCol,
      col("Version"),
      col("Internal-IP", "string", 1),
      col("External-IP", "string", 1),
      col("OS-Image", "string", 1),
      col("Kernel-Version", "string", 1),
      col("Container-Runtime", "string", 1),
    ],
    cells: (n, now) => {
      const addrs: Any[] = n.status?.addresses ?? [];
      const addr = (t: string) => none(addrs.find((a) => a.type === t)?.address);
      const info = n.status?.nodeInfo ?? {};
      return [
        n.metadata.name,
        nodeStatus(n),
        nodeRoles(n),
        age(n.metadata.creationTimestamp, now),
        info.kubeletVersion ?? "",
        addr("InternalIP"),
        addr("ExternalIP"),
        info.osImage ?? "<unknown>",
        info.kernelVersion ?? "<unknown>",
        info.containerRuntimeVersion ?? "<unknown>",
      ];
    },
  },
  Namespace: {
    columns: [nameCol, col("Status"), ageCol],
    cells: (n, now) => [n.metadata.name, n.status?.phase ?? "Active", age(n.metadata.creationTimestamp, now)],
  },
  Service: {
    columns: [
      nameCol,
      col("Type"),
      col("Cluster-IP"),
      col("External-IP"),
      col("Port(s)"),
      ageCol,
      col("Selector", "string", 1),
    ],
    cells: (s, now) => [
      s.metadata.name,
      s.spec?.type ?? "ClusterIP",
      s.spec?.clusterIP || "<none>",
      serviceExternalIP(s),
      servicePorts(s),
      age(s.metadata.creationTimestamp, now),
      selectorString(s.spec?.selector),
    ],
  },
  Endpoints: {
    columns: [nameCol, col("Endpoints"), ageCol],
    cells: (e, now) => [e.metadata.name, endpointsCell(e), age(e.metadata.creationTimestamp, now)],
  },
  EndpointSlice: {
    columns: [nameCol, col("AddressType"), col("Ports"), col("Endpoints"), ageCol],
    cells: (e, now) => {
      const ports: Any[] = e.ports ?? [];
      const addrs: string[] = (e.endpoints ?? []).flatMap((x: Any) => x.addresses ?? []);
      return [
        e.metadata.name,
        e.addressType ?? "",
        ports.length
          ? ports.map((p) => (p.port === undefined || p.port === null ? "<unset>" : String(p.port))).join(",")
          : "<unset>",
        truncList(addrs),
        age(e.metadata.creationTimestamp, now),
      ];
    },
  },
  Deployment: {
    columns: [
      nameCol,
      col("Ready"),
      col("Up-to-date", "integer"),
      col("Available", "integer"),
      ageCol,
      col("Containers", "string", 1),
      col("Images", "string", 1),
      col("Selector", "string", 1),
    ],
    cells: (d, now) => {
      const c = containersOf(d.spec?.template);
      return [
        d.metadata.name,
        `${d.status?.readyReplicas ?? 0}/${d.spec?.replicas ?? 1}`,
        d.status?.updatedReplicas ?? 0,
        d.status?.availableReplicas ?? 0,
        age(d.metadata.creationTimestamp, now),
        c.names,
        c.images,
        labelSelectorString(d.spec?.selector),
      ];
    },
  },
  ReplicaSet: replicaPrinter((r) => labelSelectorString(r.spec?.selector)),
  ReplicationController: replicaPrinter((r) => selectorString(r.spec?.selector)),
  ComponentStatus: {
    columns: [nameCol, col("Status"), col("Message"), col("Error")],
    cells: (c) => {
      const cond = (c.conditions ?? []).find((x: Any) => x.type === "Healthy");
      return [
        c.metadata.name,
        cond?.status === "True" ? "Healthy" : "Unhealthy",
        cond?.message ?? "",
        cond?.error ?? "",
      ];
    },
  },
  ConfigMap: {
    columns: [nameCol, col("Data", "integer"), ageCol],
    cells: (c, now) => [
      c.metadata.name,
      Object.keys(c.data ?? {}).length + Object.keys(c.binaryData ?? {}).length,
      age(c.metadata.creationTimestamp, now),
    ],
  },
  Secret: {
    columns: [nameCol, col("Type"), col("Data", "integer"), ageCol],
    cells: (s, now) => [
      s.metadata.name,
      s.type ?? "Opaque",
      Object.keys(s.data ?? {}).length,
      age(s.metadata.creationTimestamp, now),
    ],
  },
  Event: {
    columns: [
      col("Last Seen"),
      col("Type"),
      col("Reason"),
      col("Object"),
      col("Message"),
      col("Name", "string", 1, "name"),
    ],
    cells: (e, now) => {
      const io = e.involvedObject ?? {};
      const last = e.lastTimestamp || e.eventTime || e.metadata.creationTimestamp;
      return [
        age(last, now),
        e.type ?? "",
        e.reason ?? "",
        `${String(io.kind ?? "").toLowerCase()}/${io.name ?? ""}`,
        String(e.message ?? "").trim(),
        e.metadata.name,
      ];
    },
  },
};

const defaultPrinter: Printer = {
  columns: [nameCol, ageCol],
  cells: (o, now) => [o.metadata.name, age(o.metadata.creationTimestamp, now)],
};

export type IncludeObject = "None" | "Object" | "PartialObjectMetadata";

function rowObject(o: KubeObject, include: IncludeObject): unknown {
  if (include === "None") return undefined;
  if (include === "Object") return o;
  return { kind: "PartialObjectMetadata", apiVersion: "meta.k8s.io/v1", metadata: o.metadata };
}

/** Renders objects of one kind as a Table. */
export function toTable(
  kind: string,
  items: (KubeObject & Record<string, unknown>)[],
  meta: { resourceVersion?: string; continue?: string },
  include: IncludeObject = "PartialObjectMetadata",
  now = Date.now(),
): Table {
  const p = printers[kind] ?? defaultPrinter;
  return {
    kind: "Table",
    apiVersion: "meta.k8s.io/v1",
    metadata: meta,
    columnDefinitions: p.columns,
    rows: items.map((o) => {
      const row: TableRow = { cells: p.cells(o, now) };
      const obj = rowObject(o, include);
      if (obj !== undefined) row.object = obj;
      return row;
    }),
  };
}
