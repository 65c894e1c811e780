/** How the kubelet wires a pod's network namespace: the CNI runtime in production, fakes in tests. */
import type { Pod } from "../api/core.js";

/** One hostPort mapping in the CNI `portMappings` capability format (what the portmap plugin reads). */
export interface PortMapping {
  hostPort: number;
  containerPort: number;
  /** Lower case: tcp, udp, sctp. */
  protocol: string;
  hostIP?: string;
}

/**
 * The pod's hostPort mappings, as a CRI runtime hands them to CNI: every container port with a hostPort
 * (protocol lower-cased, TCP by default; hostIP kept when set). hostNetwork pods have none (the port is the
 * host's already).
 */
export function podPortMappings(pod: Pod): PortMapping[] {
  if (pod.spec.hostNetwork) return [];
  const out: PortMapping[] = [];
  for (const c of pod.spec.containers)
    for (const p of c.ports ?? []) {
      if (!p.hostPort || p.hostPort <= 0) continue;
      const m: PortMapping = {
        hostPort: p.hostPort,
        containerPort: p.containerPort,
        protocol: (p.protocol ?? "TCP").toLowerCase(),
      };
      if (p.hostIP) m.hostIP = p.hostIP;
      out.push(m);
    }
  return out;
}

export interface PodNetworkRef {
  uid: string;
  namespace: string;
  name: string;
  /** Absolute netns path (/run/netns/…). */
  netnsPath: string;
  ifname: string;
  /** hostPort mappings (passed as the `portMappings` capability); empty or absent = none. */
  portMappings?: PortMapping[];
}

export interface PodNetworkResult {
  ips: string[];
}

export interface PodNetwork {
  setUp(p: PodNetworkRef): Promise<PodNetworkResult>;
  tearDown(p: PodNetworkRef): Promise<void>;
  /** Releases what the network holds for pods other than `keepUids` (kubelet start-up GC). */
  gc(keepUids: readonly string[]): Promise<void>;
}

/** A network that only brings loopback up (the netns already has it): pods get no IP. For tests and host-less runs. */
export class LoopbackOnlyNetwork implements PodNetwork {
  async setUp(): Promise<PodNetworkResult> {
    return { ips: [] };
  }
  async tearDown(): Promise<void> {}
  async gc(): Promise<void> {}
}
