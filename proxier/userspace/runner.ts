/**
 * The small iptables interface the userspace mode needs, with a real implementation (processes, optionally
 * inside a named namespace through src/netlinux/netns.ts) and an in-memory fake for unit tests.
 */
import type { RunResult } from "../../src/netlinux/exec.js";
import { type NetnsRef, runIn } from "../../src/netlinux/netns.js";
import { type JumpRule, jumpRules, renderCleanupPayload } from "./rules.js";

export interface IptablesRunner {
  /** `iptables-restore --noflush -w` with the payload on stdin; rejects on failure. */
  restore(payload: string): Promise<void>;
  /** One `iptables -w …` call; resolves with the result whatever the exit code. */
  iptables(args: string[]): Promise<RunResult>;
}

/** Runs the real binaries in `ns` (null: the namespace this process is in). */
export function execRunner(ns: NetnsRef = null): IptablesRunner {
  return {
    async restore(payload) {
      await runIn(ns, "iptables-restore", ["--noflush", "-w"], { input: payload });
    },
    iptables(args) {
      return runIn(ns, "iptables", ["-w", ...args], { check: false });
    },
  };
}

/** Makes sure every jump from a built-in chain exists (checks with -C, adds what is missing). */
export async function ensureJumpRules(runner: IptablesRunner, rules: JumpRule[] = jumpRules()): Promise<number> {
  let added = 0;
  for (const j of rules) {
    const check = await runner.iptables(["-t", j.table, "-C", j.chain, ...j.args]);
    if (check.code === 0) continue;
    const op = j.position === "first" ? ["-I", j.chain, "1"] : ["-A", j.chain];
    const r = await runner.iptables(["-t", j.table, ...op, ...j.args]);
    if (r.code !== 0) throw new Error(`iptables ${op.join(" ")}: ${r.stderr.trim()}`);
    added++;
  }
  return added;
}

/**
 * Removes everything the userspace mode installs: the jumps from PREROUTING/OUTPUT/INPUT (every copy) and the
 * five chains. Safe to call when nothing is installed. Exported for the mode switch (iptables mode calls it).
 */
export async function cleanupUserspaceRules(runner: IptablesRunner): Promise<void> {
  for (const j of jumpRules()) {
    for (let i = 0; i < 16; i++) {
      const r = await runner.iptables(["-t", j.table, "-D", j.chain, ...j.args]);
      if (r.code !== 0) break;
    }
  }
  await runner.restore(renderCleanupPayload());
}

/** In-memory runner: records payloads and models the jump rules as a set (enough for unit tests). */
export class FakeRunner implements IptablesRunner {
  readonly payloads: string[] = [];
  readonly jumps = new Map<string, number>();
  failNextRestore: Error | null = null;
  async restore(payload: string): Promise<void> {
    if (this.failNextRestore) {
      const e = this.failNextRestore;
      this.failNextRestore = null;
      throw e;
    }
    this.payloads.push(payload);
  }
  async iptables(args: string[]): Promise<RunResult> {
    const [, table, op, chain, ...rest] = args;
    let k = `${table} ${chain} ${rest.join(" ")}`;
    if (op === "-I") k = `${table} ${chain} ${rest.slice(1).join(" ")}`;
    const n = this.jumps.get(k) ?? 0;
    if (op === "-C") return { code: n > 0 ? 0 : 1, stdout: "", stderr: "" };
    if (op === "-D") {
      if (n === 0) return { code: 1, stdout: "", stderr: "Bad rule" };
      this.jumps.set(k, n - 1);
      return { code: 0, stdout: "", stderr: "" };
    }
    this.jumps.set(k, n + 1);
    return { code: 0, stdout: "", stderr: "" };
  }
  get lastPayload(): string | undefined {
    return this.payloads.at(-1);
  }
}
