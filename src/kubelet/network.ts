/** How the kubelet wires a pod's network namespace: the CNI runtime in production, fakes in tests. */
export interface PodNetworkRef {
  uid: string;
  namespace: string;
  name: string;
  /** Absolute netns path (/run/netns/…). */
  netnsPath: string;
  ifname: string;
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
