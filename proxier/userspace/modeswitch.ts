/**
 * Mode switch (iptables ↔ userspace on a running node): whichever mode starts removes the other's rules.
 * `cleanupIptablesModeRules` removes what kube-proxy's iptables mode installs (the jumps from built-in chains into
 * KUBE-* chains, then those chains: KUBE-SERVICES, KUBE-NODEPORTS, KUBE-SVC-*, KUBE-SEP-*, …, KUBE-PROXY-CANARY),
 * like kube-proxy's CleanupLeftovers. Kubelet's chains (KUBE-FIREWALL, KUBE-KUBELET-CANARY, KUBE-IPTABLES-HINT)
 * and the userspace mode's own five chains stay. One iptables-save + one restore per table.
 */
import { NAT_CHAINS, FILTER_CHAINS } from "./rules.js";

type Table = "nat" | "filter" | "mangle";

export interface ModeSwitchIptables {
  restore(payload: string): Promise<void>;
  save(table: Table): Promise<string>;
}

const KEEP = new Set(["KUBE-FIREWALL", "KUBE-KUBELET-CANARY", "KUBE-IPTABLES-HINT", ...NAT_CHAINS, ...FILTER_CHAINS]);

/** Whether a chain belongs to the iptables proxy mode. */
export function isIptablesModeChain(chain: string): boolean {
  return chain.startsWith("KUBE-") && !KEEP.has(chain);
}

/** The cleanup payload for one table's iptables-save text ("" when there is nothing to remove). */
export function iptablesModeCleanupPayload(table: Table, save: string): string {
  const chains = new Set<string>();
  const builtins = new Set<string>();
  for (const l of save.split("\n")) {
    const m = /^:(\S+) (\S+)/.exec(l);
    if (!m) continue;
    if (m[2] !== "-") builtins.add(m[1]!);
    else if (isIptablesModeChain(m[1]!)) chains.add(m[1]!);
  }
  const deletes: string[] = [];
  for (const l of save.split("\n")) {
    const m = /^-A (\S+) .*-j (\S+)/.exec(l);
    // Jumps from chains we keep (built-ins, kubelet's, userspace's) into chains we delete.
    if (m && !chains.has(m[1]!) && chains.has(m[2]!)) deletes.push(`-D${l.slice(2)}`);
  }
  if (chains.size === 0 && deletes.length === 0) return "";
  void builtins;
  const sorted = [...chains].sort();
  return [
    `*${table}`,
    ...deletes,
    ...sorted.map((c) => `:${c} - [0:0]`),
    ...sorted.map((c) => `-X ${c}`),
    "COMMIT",
    "",
  ].join("\n");
}

export async function cleanupIptablesModeRules(ipt: ModeSwitchIptables): Promise<number> {
  let removed = 0;
  let payload = "";
  for (const table of ["nat", "filter", "mangle"] as const) {
    const p = iptablesModeCleanupPayload(table, await ipt.save(table));
    if (p) {
      payload += p;
      removed += p.split("\n").filter((l) => l.startsWith("-X ")).length;
    }
  }
  if (payload) await ipt.restore(payload);
  return removed;
}
