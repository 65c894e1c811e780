/**
 * The slice of iptables the userspace mode needs. It is a structural subset of src/netlinux/iptables.ts's
 * `Iptables` interface, so the shared `IptablesRunner` (real, legacy or nft backend, optionally inside a
 * namespace) plugs in directly; `FakeRunner` is a small in-memory stand-in for unit tests.
 */
import { type Backend, IptablesRunner, detectBackend } from "../../src/netlinux/iptables.js";
import type { NetnsRef } from "../../src/netlinux/netns.js";
import {
  CHAIN_NODEPORT_CONTAINER,
  CHAIN_NODEPORT_HOST,
  CHAIN_NODEPORT_NON_LOCAL,
  CHAIN_PORTALS_CONTAINER,
  CHAIN_PORTALS_HOST,
  FILTER_CHAINS,
  type JumpRule,
  NAT_CHAINS,
  jumpRules,
} from "./rules.js";

export type UserspaceTable = "nat" | "filter";

export interface UserspaceIptables {
  /** `iptables-restore --noflush` of a payload; rejects on failure. */
  restore(payload: string): Promise<void>;
  /** `iptables-save -t table`. */
  save(table: UserspaceTable): Promise<string>;
  /** Adds the rule unless an identical one exists; true if it existed. */
  ensureRule(position: "prepend" | "append", table: UserspaceTable, chain: string, args: string[]): Promise<boolean>;
}

/** The real iptables in `ns` (null: this process's namespace), on the backend the host already uses. */
export async function execRunner(ns: NetnsRef = null, backend?: Backend): Promise<UserspaceIptables> {
  return new IptablesRunner({ backend: backend ?? (await detectBackend(ns)), netns: ns });
}

/** Makes sure every jump from a built-in chain exists; returns how many were added. */
export async function ensureJumpRules(ipt: UserspaceIptables, rules: JumpRule[] = jumpRules()): Promise<number> {
  let added = 0;
  for (const j of rules) {
    const existed = await ipt.ensureRule(j.position === "first" ? "prepend" : "append", j.table, j.chain, j.args);
    if (!existed) added++;
  }
  return added;
}

const OUR_CHAINS = new Set([
  CHAIN_PORTALS_CONTAINER,
  CHAIN_PORTALS_HOST,
  CHAIN_NODEPORT_CONTAINER,
  CHAIN_NODEPORT_HOST,
  CHAIN_NODEPORT_NON_LOCAL,
]);

/** `-A X … -j KUBE-PORTALS-…` lines of an iptables-save dump that jump into a userspace chain. */
function jumpLines(save: string): string[] {
  return save.split("\n").filter((l) => {
    const m = /^-A (\S+) .*-j (\S+)\s*$/.exec(l);
    return !!m && OUR_CHAINS.has(m[2]!) && !OUR_CHAINS.has(m[1]!);
  });
}

/**
 * Removes everything the userspace mode installs — every jump into its chains (found with iptables-save, so
 * copies and hand-made variants go too) and the five chains — in one restore per table. Safe when nothing is
 * installed. Exported for the mode switch: the iptables mode calls it when it starts.
 */
export async function cleanupUserspaceRules(ipt: UserspaceIptables): Promise<void> {
  const tables: [UserspaceTable, string[]][] = [
    ["nat", NAT_CHAINS],
    ["filter", FILTER_CHAINS],
  ];
  let payload = "";
  for (const [table, chains] of tables) {
    const save = await ipt.save(table);
    const present = chains.filter((c) => new RegExp(`^:${c} `, "m").test(save));
    const jumps = jumpLines(save);
    if (present.length === 0 && jumps.length === 0) continue;
    payload += `*${table}\n`;
    for (const l of jumps) payload += `-D${l.slice(2)}\n`;
    for (const c of present) payload += `:${c} - [0:0]\n`;
    for (const c of present) payload += `-X ${c}\n`;
    payload += "COMMIT\n";
  }
  if (payload) await ipt.restore(payload);
}

/** In-memory stand-in: keeps the jump rules and applies `-D`/`:`/`-X` lines of restores; records payloads. */
export class FakeRunner implements UserspaceIptables {
  readonly payloads: string[] = [];
  /** table → iptables-save style `-A CHAIN args` lines of built-in chains. */
  readonly rules = new Map<UserspaceTable, string[]>([
    ["nat", []],
    ["filter", []],
  ]);
  readonly chains = new Map<UserspaceTable, Set<string>>([
    ["nat", new Set()],
    ["filter", new Set()],
  ]);
  failNextRestore: Error | null = null;

  async restore(payload: string): Promise<void> {
    if (this.failNextRestore) {
      const e = this.failNextRestore;
      this.failNextRestore = null;
      throw e;
    }
    this.payloads.push(payload);
    let table: UserspaceTable = "nat";
    for (const l of payload.split("\n")) {
      if (l.startsWith("*")) table = l.slice(1) as UserspaceTable;
      else if (l.startsWith(":")) this.chains.get(table)!.add(l.slice(1).split(" ")[0]!);
      else if (l.startsWith("-X ")) this.chains.get(table)!.delete(l.slice(3).trim());
      else if (l.startsWith("-D ")) {
        const rules = this.rules.get(table)!;
        const i = rules.indexOf(`-A${l.slice(2)}`);
        if (i < 0) throw new Error(`fake restore: no rule to delete: ${l}`);
        rules.splice(i, 1);
      }
    }
  }

  async save(table: UserspaceTable): Promise<string> {
    const chains = [...this.chains.get(table)!].map((c) => `:${c} - [0:0]`);
    return [`*${table}`, ...chains, ...this.rules.get(table)!, "COMMIT", ""].join("\n");
  }

  async ensureRule(
    position: "prepend" | "append",
    table: UserspaceTable,
    chain: string,
    args: string[],
  ): Promise<boolean> {
    const line = `-A ${chain} ${args.map((a) => (/[\s"]/.test(a) ? `"${a}"` : a)).join(" ")}`;
    const rules = this.rules.get(table)!;
    if (rules.includes(line)) return true;
    if (position === "prepend") rules.unshift(line);
    else rules.push(line);
    return false;
  }

  get lastPayload(): string | undefined {
    return this.payloads.at(-1);
  }
}
