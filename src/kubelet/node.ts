/** The Node object the kubelet registers and the status it posts (capacity from the host, like cAdvisor). */
import { arch, cpus, networkInterfaces, release, totalmem } from "node:os";
import { readFileSync } from "node:fs";
import type { Node, NodeStatus } from "../api/core.js";
import type { Condition } from "../api/meta.js";

export const KUBELET_VERSION = "v1.32.0-podwire";

export interface HostFacts {
  cpus: number;
  memoryBytes: number;
  kernel: string;
  osImage: string;
  arch: string;
  machineID: string;
  bootID: string;
}

function readTrim(path: string): string {
  try {
    return readFileSync(path, "utf8").trim();
  } catch {
    return "";
  }
}

export function hostFacts(): HostFacts {
  const osRelease = readTrim("/etc/os-release");
  const pretty = /PRETTY_NAME="?([^"\n]+)"?/.exec(osRelease)?.[1] ?? "Linux";
  return {
    cpus: cpus().length,
    memoryBytes: totalmem(),
    kernel: release(),
    osImage: pretty,
    arch: arch() === "x64" ? "amd64" : arch(),
    machineID: readTrim("/etc/machine-id"),
    bootID: readTrim("/proc/sys/kernel/random/boot_id"),
  };
}

/** First global IPv4 address of the current network namespace (the node's InternalIP by default). */
export function defaultNodeIP(): string | undefined {
  for (const addrs of Object.values(networkInterfaces())) {
    for (const a of addrs ?? []) if (a.family === "IPv4" && !a.internal) return a.address;
  }
  return undefined;
}

export interface NodeIdentity {
  name: string;
  ip: string;
  kubeletPort: number;
  labels?: Record<string, string>;
}

function readyConditions(now: string, prev: Condition[] | undefined): Condition[] {
  const mk = (type: string, status: "True" | "False", reason: string, message: string): Condition => {
    const old = prev?.find((c) => c.type === type);
    return {
      type,
      status,
      reason,
      message,
      lastHeartbeatTime: now,
      lastTransitionTime: old && old.status === status ? (old.lastTransitionTime ?? now) : now,
    };
  };
  return [
    mk("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
    mk("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
    mk("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
    mk("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
  ];
}

export function nodeStatus(id: NodeIdentity, h: HostFacts, now: string, prev?: NodeStatus): NodeStatus {
  const capacity = {
    cpu: String(h.cpus),
    memory: `${Math.floor(h.memoryBytes / 1024)}Ki`,
    pods: "110",
    "ephemeral-storage": "0",
  };
  return {
    capacity,
    allocatable: { ...capacity },
    conditions: readyConditions(now, prev?.conditions),
    addresses: [
      { type: "InternalIP", address: id.ip },
      { type: "Hostname", address: id.name },
    ],
    daemonEndpoints: { kubeletEndpoint: { Port: id.kubeletPort } },
    nodeInfo: {
      machineID: h.machineID,
      systemUUID: h.machineID,
      bootID: h.bootID,
      kernelVersion: h.kernel,
      osImage: h.osImage,
      containerRuntimeVersion: "podwire://0.1.0",
      kubeletVersion: KUBELET_VERSION,
      kubeProxyVersion: KUBELET_VERSION,
      operatingSystem: "linux",
      architecture: h.arch,
    },
  };
}

export function nodeObject(id: NodeIdentity, h: HostFacts, now: string): Node {
  return {
    apiVersion: "v1",
    kind: "Node",
    metadata: {
      name: id.name,
      labels: {
        "kubernetes.io/hostname": id.name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": h.arch,
        "beta.kubernetes.io/os": "linux",
        "beta.kubernetes.io/arch": h.arch,
        ...(id.labels ?? {}),
      },
    },
    spec: {},
    status: nodeStatus(id, h, now),
  };
}
