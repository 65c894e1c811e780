/** CPU time (user + system, ms) a process has used so far, from /proc: load-independent cost figures for benches. */
import { readFileSync } from "node:fs";

export function cpuMs(pid: number | undefined): number {
  if (!pid) return Number.NaN;
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // Fields after the command name (which may hold spaces) start at ") ".
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return ((Number(f[11]) + Number(f[12])) * 1000) / 100; // utime, stime in clock ticks (CLK_TCK 100)
}
