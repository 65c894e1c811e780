/**
 * Raises this process's open-files soft limit towards `want` (kube-proxy's userspace mode set 64,000 at start):
 * every proxied TCP connection costs two fds. Node has no setrlimit, so util-linux `prlimit --pid` does it;
 * the hard limit is the ceiling (raising it needs CAP_SYS_RESOURCE). Returns the soft limit in effect.
 */
import { readFileSync } from "node:fs";
import { run } from "../../src/netlinux/exec.js";

export function readNofile(pid: number | "self" = "self"): { soft: number; hard: number } {
  const m = /Max open files\s+(\d+|unlimited)\s+(\d+|unlimited)/.exec(readFileSync(`/proc/${pid}/limits`, "utf8"));
  const num = (s: string | undefined) =>
    s === undefined ? 1024 : s === "unlimited" ? Number.MAX_SAFE_INTEGER : Number(s);
  return { soft: num(m?.[1]), hard: num(m?.[2]) };
}

export async function raiseNofile(want = 64_000): Promise<number> {
  const { soft, hard } = readNofile();
  const target = Math.min(want, hard);
  if (soft >= target) return soft;
  const r = await run("prlimit", ["--pid", String(process.pid), `--nofile=${target}:${hard}`], { check: false }).catch(
    () => null,
  );
  return r && r.code === 0 ? target : soft;
}
