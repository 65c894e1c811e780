/**
 * Masquerade + forward rules in the agent's own chains (flannel's FLANNEL-POSTRTG / FLANNEL-FWD layout), rendered
 * purely and applied in one `iptables-restore --noflush` (declaring a chain flushes it, so every apply rewrites
 * exactly our chains and never touches other rules). Jumps from POSTROUTING / FORWARD are added once.
 *
 * A resync first reads our chains back (`iptables -S <chain>`, the iptables-save form of just that chain) and
 * writes a table only when its chain or jump differs from the desired one: a steady-state resync writes nothing,
 * so the chains' packet counters survive, while a chain someone flushed or edited is repaired.
 */
import { type NetnsRef, runIn } from "../../src/netlinux/netns.js";
import { formatCidr4, parseCidr4 } from "../ipam/ipv4.js";

export const MASQ_CHAIN = "PODWIRE-POSTRTG";
export const FWD_CHAIN = "PODWIRE-FWD";

export interface MasqOptions {
  clusterCidr: string;
  podCidr: string;
  ipMasq: boolean;
  forwardRules: boolean;
  randomFully?: boolean;
}

type Table = "nat" | "filter";

/** One of our chains as it should be: its table, the built-in chain that jumps to it, and its rules. */
export interface ChainSpec {
  table: Table;
  parent: "POSTROUTING" | "FORWARD";
  chain: string;
  /** The jump rule inserted at the top of `parent`, without the leading `-I <parent> 1`. */
  jump: string;
  /** `-A <chain> …` lines, in order, as iptables-save prints them. */
  rules: string[];
}

/** A CIDR as iptables prints it back (host bits cleared), so a desired rule compares equal to the kernel's. */
function canonicalCidr(c: string): string {
  try {
    return formatCidr4(parseCidr4(c));
  } catch {
    return c;
  }
}

/** The chains the options ask for (none when both masquerade and forward rules are off). */
export function desiredChains(o: MasqOptions): ChainSpec[] {
  const out: ChainSpec[] = [];
  const cluster = canonicalCidr(o.clusterCidr);
  const pod = canonicalCidr(o.podCidr);
  const rf = o.randomFully === false ? "" : " --random-fully";
  if (o.ipMasq) {
    const c = '-m comment --comment "podwire masq"';
    out.push({
      table: "nat",
      parent: "POSTROUTING",
      chain: MASQ_CHAIN,
      jump: `${c} -j ${MASQ_CHAIN}`,
      rules: [
        `-A ${MASQ_CHAIN} -m mark --mark 0x4000/0x4000 ${c} -j RETURN`,
        `-A ${MASQ_CHAIN} -s ${pod} -d ${cluster} ${c} -j RETURN`,
        `-A ${MASQ_CHAIN} -s ${cluster} -d ${pod} ${c} -j RETURN`,
        `-A ${MASQ_CHAIN} ! -s ${cluster} -d ${pod} ${c} -j RETURN`,
        `-A ${MASQ_CHAIN} -s ${cluster} ! -d 224.0.0.0/4 ${c} -j MASQUERADE${rf}`,
        `-A ${MASQ_CHAIN} ! -s ${cluster} -d ${cluster} ${c} -j MASQUERADE${rf}`,
      ],
    });
  }
  if (o.forwardRules) {
    const f = '-m comment --comment "podwire forward"';
    out.push({
      table: "filter",
      parent: "FORWARD",
      chain: FWD_CHAIN,
      jump: `${f} -j ${FWD_CHAIN}`,
      rules: [`-A ${FWD_CHAIN} -s ${cluster} ${f} -j ACCEPT`, `-A ${FWD_CHAIN} -d ${cluster} ${f} -j ACCEPT`],
    });
  }
  return out;
}

/** The restore payload for the given chains; `jumps` says which jumps are missing and must be inserted. */
export function renderChains(chains: ChainSpec[], jumps: Partial<Record<Table, boolean>>): string {
  const out: string[] = [];
  for (const c of chains) {
    out.push(`*${c.table}`, `:${c.chain} - [0:0]`);
    if (jumps[c.table]) out.push(`-I ${c.parent} 1 ${c.jump}`);
    out.push(...c.rules, "COMMIT");
  }
  return out.length ? `${out.join("\n")}\n` : "";
}

/** The restore payload for all our chains; `jumps` says which jumps are missing and must be inserted. */
export function renderRules(o: MasqOptions, jumps: { nat: boolean; filter: boolean }): string {
  return renderChains(desiredChains(o), jumps);
}

/** One rule line in a form that compares equal however it was quoted or spaced. */
export function normaliseRule(line: string): string {
  return (line.trim().match(/"(?:[^"\\]|\\.)*"|\S+/g) ?? [])
    .map((t) => (t.startsWith('"') && t.endsWith('"') && t.length >= 2 ? t.slice(1, -1) : t))
    .join(" ");
}

/** Whether `iptables -S <chain>` output holds exactly the chain's desired rules, in order. */
export function chainMatches(dump: string, c: ChainSpec): boolean {
  const have = dump
    .split("\n")
    .filter((l) => l.startsWith("-A "))
    .map(normaliseRule);
  const want = c.rules.map(normaliseRule);
  return have.length === want.length && have.every((l, i) => l === want[i]);
}

/** Whether `iptables -S <parent>` output has a jump to the chain. */
export function hasJumpIn(dump: string, c: ChainSpec): boolean {
  return dump.split("\n").some((l) => l.startsWith(`-A ${c.parent} `) && normaliseRule(l).endsWith(` -j ${c.chain}`));
}

export interface EnsureResult {
  /** Tables whose chain (and jump, when it was missing) were written; empty = the kernel already matched. */
  written: Table[];
}

/**
 * Converges our chains in namespace `ns` (null = this process's): reads each chain and its parent, and restores
 * only the tables that differ.
 */
export async function ensureRules(o: MasqOptions, ns: NetnsRef = null): Promise<EnsureResult> {
  const stale: ChainSpec[] = [];
  const jumps: Partial<Record<Table, boolean>> = {};
  for (const c of desiredChains(o)) {
    const parent = await runIn(ns, "iptables", ["-w", "-t", c.table, "-S", c.parent], { check: false });
    const chain = await runIn(ns, "iptables", ["-w", "-t", c.table, "-S", c.chain], { check: false });
    const jumped = parent.code === 0 && hasJumpIn(parent.stdout, c);
    if (jumped && chain.code === 0 && chainMatches(chain.stdout, c)) continue;
    stale.push(c);
    jumps[c.table] = !jumped;
  }
  const payload = renderChains(stale, jumps);
  if (payload) await runIn(ns, "iptables-restore", ["-w", "--noflush"], { input: payload });
  return { written: stale.map((c) => c.table) };
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
