/** Background processes of a sandbox: started detached inside a namespace, logs to a file, stopped by PID. */
import { closeSync, openSync, readFileSync } from "node:fs";
import { spawnIn } from "../netlinux/netns.js";
import type { ProcessRecord } from "./state.js";

export function startDetached(
  ns: string | null,
  file: string,
  args: string[],
  logPath: string,
  env?: NodeJS.ProcessEnv,
): number {
  const fd = openSync(logPath, "a");
  try {
    const child = spawnIn(ns, file, args, { detached: true, stdio: ["ignore", fd, fd], env: env ?? process.env });
    child.unref();
    if (!child.pid) throw new Error(`could not start ${file}`);
    return child.pid;
  } finally {
    closeSync(fd);
  }
}

function cmdline(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").replace(/\0/g, " ");
  } catch {
    return undefined;
  }
}

/** Whether the recorded process still runs (and is still ours: its command line carries the mark). */
export function alive(p: ProcessRecord): boolean {
  const c = cmdline(p.pid);
  if (c === undefined) return false;
  try {
    const stat = readFileSync(`/proc/${p.pid}/stat`, "utf8");
    if (/\) Z /.test(stat)) return false; // zombie
  } catch {
    return false;
  }
  return c.includes(p.mark);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** SIGTERM, wait up to `graceMs`, then SIGKILL. Only signals PIDs whose command line still carries the mark. */
export async function stopProcess(p: ProcessRecord, graceMs = 10_000): Promise<void> {
  if (!alive(p)) return;
  try {
    process.kill(p.pid, "SIGTERM");
  } catch {
    return;
  }
  const end = Date.now() + graceMs;
  while (Date.now() < end) {
    if (!alive(p)) return;
    await sleep(100);
  }
  try {
    if (alive(p)) process.kill(p.pid, "SIGKILL");
  } catch {
    // gone
  }
}
