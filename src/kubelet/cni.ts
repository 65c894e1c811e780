/**
 * The kubelet's pod network through the CNI runtime (cni/runtime): the conflist is (re)read from `--cni-conf-dir`
 * on every ADD (the overlay agent may write it after the kubelet starts), plugins run from `--cni-bin-dir` with
 * prevResult chaining, results are cached (so DEL works from the cache), DEL runs the chain in reverse, and GC at
 * start releases attachments of pods that no longer exist. hostPorts go to the chain as the `portMappings`
 * capability (runtimeConfig of plugins that declare it: the portmap plugin DNATs node:hostPort → pod).
 */
import { type Attachment, CniRuntime, loadConfListFromDir, type NetworkConfigList } from "../../cni/runtime/index.js";
import type { PodNetwork, PodNetworkRef, PodNetworkResult } from "./network.js";

export interface CniNetworkOptions {
  confDir: string;
  binDirs: string[];
  cacheDir: string;
  /** argv prefix for every plugin exec (tests: nsenter into a node namespace); see cni/runtime. */
  wrap?: string[];
}

/**
 * The CNI attachment of a pod: CNI_ARGS as the kubelet/CRI set them, and hostPorts as the `portMappings`
 * capability (only plugins declaring `capabilities: {portMappings: true}`, i.e. portmap, receive them).
 */
export function attachment(p: PodNetworkRef): Attachment {
  const a: Attachment = {
    containerId: p.uid,
    netns: p.netnsPath,
    ifname: p.ifname,
    args: {
      IgnoreUnknown: "1",
      K8S_POD_NAMESPACE: p.namespace,
      K8S_POD_NAME: p.name,
      K8S_POD_INFRA_CONTAINER_ID: p.uid,
      K8S_POD_UID: p.uid,
    },
  };
  if (p.portMappings?.length) a.capabilityArgs = { portMappings: p.portMappings };
  return a;
}

/** Pod IPs (without prefix length) from a CNI result of any version. */
export function resultIPs(result: unknown): string[] {
  const ips = (result as { ips?: { address?: string }[] } | undefined)?.ips ?? [];
  return ips.map((i) => (i.address ?? "").split("/")[0] ?? "").filter(Boolean);
}

export class CniPodNetwork implements PodNetwork {
  private readonly rt: CniRuntime;
  private lastList: NetworkConfigList | undefined;

  constructor(private readonly opts: CniNetworkOptions) {
    this.rt = new CniRuntime({
      binDirs: opts.binDirs,
      cacheDir: opts.cacheDir,
      ...(opts.wrap ? { wrap: opts.wrap } : {}),
    });
  }

  private list(): NetworkConfigList {
    this.lastList = loadConfListFromDir(this.opts.confDir);
    return this.lastList;
  }

  async setUp(p: PodNetworkRef): Promise<PodNetworkResult> {
    const list = this.list();
    const a = attachment(p);
    try {
      const result = await this.rt.add(list, a);
      return { ips: resultIPs(result) };
    } catch (e) {
      // A failed ADD must be undone before the next try (SPEC: the runtime calls DEL).
      await this.rt.del(list, a).catch(() => {});
      throw e;
    }
  }

  async tearDown(p: PodNetworkRef): Promise<void> {
    let list: NetworkConfigList | undefined;
    try {
      list = this.list();
    } catch {
      list = this.lastList;
    }
    if (!list) return;
    await this.rt.del(list, attachment(p));
  }

  async gc(keepUids: readonly string[]): Promise<void> {
    let list: NetworkConfigList;
    try {
      list = this.list();
    } catch {
      return; // no config yet: nothing can have been attached
    }
    await this.rt.gc(
      list,
      keepUids.map((u) => ({ containerID: u, ifname: "eth0" })),
    );
  }
}
