/**
 * Masquerade + forward rules in the agent's own chains (flannel's FLANNEL-POSTRTG / FLANNEL-FWD layout), rendered
 * purely and applied in one `iptables-restore --noflush` (declaring a chain flushes it, so every apply rewrites
 * exactly our chains and never touches other rules). Jumps from POSTROUTING / FORWARD are added once.
 */
import { runIn } from "../../src/netlinux/netns.js";

export const MASQ_CHAIN = "PODWIRE-POSTRTG";
export const FWD_CHAIN = "PODWIRE-FWD";

export interface MasqOptions {
  clusterCidr: string;
  podCidr: string;
  ipMasq: boolean;
  forwardRules: boolean;
  randomFully?: boolean;
}

/** The restore payload for our chains; `jumps` says which jumps are missing and must be inserted. */
export function renderRules(o: MasqOptions, jumps: { nat: boolean; filter: boolean }): string {
  const out: string[] = [];
  const rf = o.randomFully === false ? "" : " --random-fully";
  const c = '-m comment --comment "podwire masq"';
  if (o.ipMasq) {
    out.push("*nat", `:${MASQ_CHAIN} - [0:0]`);
    if (jumps.nat) out.push(`-I POSTROUTING 1 -m comment --comment "podwire masq" -j ${MASQ_CHAIN}`);
    out.push(
      `-A ${MASQ_CHAIN} -m mark --mark 0x4000/0x4000 ${c} -j RETURN`,
      `-A ${MASQ_CHAIN} -s ${o.podCidr} -d ${o.clusterCidr} ${c} -j RETURN`,
      `-A ${MASQ_CHAIN} -s ${o.clusterCidr} -d ${o.podCidr} ${c} -j RETURN`,
      `-A ${MASQ_CHAIN} ! -s ${o.clusterCidr} -d ${o.podCidr} ${c} -j RETURN`,
      `-A ${MASQ_CHAIN} -s ${o.clusterCidr} ! -d 224.0.0.0/4 ${c} -j MASQUERADE${rf}`,
      `-A ${MASQ_CHAIN} ! -s ${o.clusterCidr} -d ${o.clusterCidr} ${c} -j MASQUERADE${rf}`,
      "COMMIT",
    );
  }
  if (o.forwardRules) {
    const f = '-m comment --comment "podwire forward"';
    out.push("*filter", `:${FWD_CHAIN} - [0:0]`);
    if (jumps.filter) out.push(`-I FORWARD 1 -m comment --comment "podwire forward" -j ${FWD_CHAIN}`);
    out.push(
      `-A ${FWD_CHAIN} -s ${o.clusterCidr} ${f} -j ACCEPT`,
      `-A ${FWD_CHAIN} -d ${o.clusterCidr} ${f} -j ACCEPT`,
      "COMMIT",
    );
  }
  return out.length ? `${out.join("\n")}\n` : "";
}

async function hasJump(table: string, chain: string, target: string): Promise<boolean> {
  const r = await runIn(null, "iptables", ["-w", "-t", table, "-S", chain], { check: false });
  return r.code === 0 && r.stdout.includes(`-j ${target}`);
}

/** Applies the rules in the current namespace. */
export async function applyRules(o: MasqOptions): Promise<void> {
  const jumps = {
    nat: o.ipMasq && !(await hasJump("nat", "POSTROUTING", MASQ_CHAIN)),
    filter: o.forwardRules && !(await hasJump("filter", "FORWARD", FWD_CHAIN)),
  };
  const payload = renderRules(o, jumps);
  if (payload) await runIn(null, "iptables-restore", ["-w", "--noflush"], { input: payload });
}

/** Removes our jumps and chains (agent cleanup). */
export async function removeRules(): Promise<void> {
  for (const [table, parent, chain] of [
    ["nat", "POSTROUTING", MASQ_CHAIN],
    ["filter", "FORWARD", FWD_CHAIN],
  ] as const) {
    for (;;) {
      const r = await runIn(null, "iptables", ["-w", "-t", table, "-S", parent], { check: false });
      const line = r.stdout.split("\n").find((l) => l.includes(`-j ${chain}`));
      if (!line) break;
      const args = line
        .replace(/^-A /, "-D ")
        .match(/(?:[^\s"]+|"[^"]*")+/g)!
        .map((x) => x.replace(/^"|"$/g, ""));
      const d = await runIn(null, "iptables", ["-w", "-t", table, ...args], { check: false });
      if (d.code !== 0) break;
    }
    await runIn(null, "iptables", ["-w", "-t", table, "-F", chain], { check: false });
    await runIn(null, "iptables", ["-w", "-t", table, "-X", chain], { check: false });
  }
}
