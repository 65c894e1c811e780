/**
 * Start-up reclaim (run by the agent): frees IPAM reservations whose sandbox no longer exists. A podwire-cni
 * attachment's host veth is named from (network, container, ifname) and disappears with the pod's netns, so a
 * reservation without its veth belongs to a dead sandbox (after a reboot, or when DEL never came). Reservations
 * younger than `minAgeMs` are skipped: an ADD may be between reserving the IP and creating the veth.
 */
import { statSync } from "node:fs";
import { join } from "node:path";
import { type IpLink, ipJson } from "../../src/netlinux/iproute.js";
import { DiskStore } from "../ipam/store.js";
import { hostVethName } from "./bridge.js";

export async function reclaimOrphans(network: string, dataDir: string, minAgeMs = 60_000): Promise<string[]> {
  const store = new DiskStore(network, dataDir);
  const links = new Set(((await ipJson<IpLink[]>(null, ["link", "show"])) ?? []).map((l) => l.ifname.split("@")[0]!));
  const now = Date.now();
  return store.withLock(() => {
    const freed: string[] = [];
    for (const r of store.list()) {
      if (!r.ifname) continue; // old-format files: the ifname (and so the veth name) is unknown
      if (links.has(hostVethName(network, r.id, r.ifname))) continue;
      try {
        if (now - statSync(join(store.dir, r.ip)).mtimeMs < minAgeMs) continue;
      } catch {
        continue;
      }
      store.release(r.ip);
      freed.push(r.ip);
    }
    return freed;
  });
}
