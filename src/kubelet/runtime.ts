/**
 * The process runtime: a pod sandbox is a network namespace plus a holder process (`sleep infinity`, the "pause"
 * role) that holds the pod's UTS
 * namespace (hostname = pod name) and a private mount namespace in which the pod's own resolv.conf and hosts
 * files are bind-mounted over /etc/resolv.conf and /etc/hosts (chosen over `ip netns exec`'s /etc/netns files
 * because it also works for hostNetwork pods and needs no per-namespace files under /etc). Containers are
 * processes that join the pause process's namespaces with `nsenter --target` (src/netlinux/netns.ts); each runs
 * detached in its own process group, stdout+stderr appended to a log file, so it outlives an agent restart just
 * as a container outlives a kubelet restart.
 */
import type { ChildProcess } from "node:child_process";
import { closeSync, mkdirSync, openSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { RunResult } from "../netlinux/exec.js";
import {
  addNetns,
  delNetns,
  listNetns,
  netnsPath,
  type NsKind,
  runIn,
  runInProcess,
  spawnIn,
  spawnInProcess,
} from "../netlinux/netns.js";

export interface SandboxSpec {
  uid: string;
  hostname: string;
  /** Named netns to create; null = the kubelet's own network namespace (hostNetwork). */
  netns: string | null;
  dir: string;
}

export interface Sandbox {
  uid: string;
  netns: string | null;
  pausePid: number;
  dir: string;
  kinds: readonly NsKind[];
  pause: ChildProcess | null;
}

export interface ContainerProcess {
  pid: number;
  child: ChildProcess;
  logPath: string;
  /** Resolves when the process exits: exit code, or 128+signal. */
  exited: Promise<{ code: number; signal: NodeJS.Signals | null }>;
}

export interface StartContainer {
  file: string;
  args: string[];
  env: Record<string, string>;
  workingDir?: string;
  logPath: string;
}

/** What the kubelet needs from a runtime (the real one below; tests may fake it). */
export interface PodRuntime {
  createNetns(name: string): Promise<void>;
  startSandbox(s: SandboxSpec, resolvConf: string, hosts: string): Promise<Sandbox>;
  startContainer(sb: Sandbox, c: StartContainer): ContainerProcess;
  exec(sb: Sandbox, argv: string[], env: Record<string, string>, timeoutMs: number): Promise<RunResult>;
  kill(pid: number, signal: NodeJS.Signals): void;
  removeSandbox(sb: { netns: string | null; pausePid: number }): Promise<void>;
  /** Names of pod namespaces left by an earlier run (prefix match) — for start-up GC. */
  leftoverNetns(prefix: string): string[];
  removeLeftover(netns: string): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function exitPromise(child: ChildProcess): Promise<{ code: number; signal: NodeJS.Signals | null }> {
  return new Promise((resolve) => {
    child.once("exit", (code, signal) => resolve({ code: code ?? (signal ? 128 + signalNumber(signal) : 1), signal }));
    child.once("error", () => resolve({ code: 127, signal: null }));
  });
}

export function signalNumber(s: NodeJS.Signals): number {
  return (
    (
      { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGKILL: 9, SIGTERM: 15, SIGABRT: 6, SIGSEGV: 11, SIGPIPE: 13 } as Record<
        string,
        number
      >
    )[s] ?? 0
  );
}

/** Kills a process group (detached children lead their own group), falling back to the pid alone. */
function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  }
}

/** Kills every process inside a named netns (what `ip netns pids` lists), by PID. */
export async function killNetnsProcesses(ns: string, signal: NodeJS.Signals = "SIGKILL"): Promise<number[]> {
  const r = await runIn(null, "ip", ["netns", "pids", ns], { check: false });
  const pids = r.stdout
    .split(/\s+/)
    .filter((x) => /^\d+$/.test(x))
    .map(Number)
    .filter((p) => p !== process.pid);
  for (const p of pids) {
    try {
      process.kill(p, signal);
    } catch {
      // raced with its exit
    }
  }
  return pids;
}

export class ProcessRuntime implements PodRuntime {
  async createNetns(name: string): Promise<void> {
    await delNetns(name); // a leftover of the same pod from a crashed run
    await addNetns(name);
  }

  async startSandbox(s: SandboxSpec, resolvConf: string, hosts: string): Promise<Sandbox> {
    mkdirSync(join(s.dir, "etc"), { recursive: true });
    const resolvPath = join(s.dir, "etc", "resolv.conf");
    const hostsPath = join(s.dir, "etc", "hosts");
    writeFileSync(resolvPath, resolvConf);
    writeFileSync(hostsPath, hosts);
    writeFileSync(join(s.dir, "etc", "hostname"), `${s.hostname}\n`);
    const script =
      'hostname "$1" && mount --bind "$2" /etc/resolv.conf && mount --bind "$3" /etc/hosts && echo ready && exec sleep infinity';
    const argv = [
      "--uts",
      "--mount",
      "--propagation",
      "private",
      "--",
      "/bin/sh",
      "-c",
      script,
      "pause",
      s.hostname.slice(0, 63),
      resolvPath,
      hostsPath,
    ];
    const logPath = join(s.dir, "sandbox.log");
    const fd = openSync(logPath, "a");
    const child = spawnIn(s.netns, "unshare", argv, { detached: true, stdio: ["ignore", "pipe", fd] });
    closeSync(fd);
    const pid = child.pid;
    if (!pid) throw new Error("could not start the pod sandbox (unshare)");
    const errText = () => {
      try {
        return readFileSync(logPath, "utf8").trim().split("\n").slice(-3).join("; ");
      } catch {
        return "";
      }
    };
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`pod sandbox did not start in 10s: ${errText()}`)), 10_000);
      child.stdout?.once("data", () => {
        clearTimeout(timer);
        resolve();
      });
      child.once("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`pod sandbox exited ${code}: ${errText()}`));
      });
    });
    child.stdout?.destroy();
    child.unref();
    // spawnIn(nsenter …) and unshare both exec, so the child's pid is the pause process itself.
    return { uid: s.uid, netns: s.netns, pausePid: pid, dir: s.dir, kinds: ["net", "uts", "mount"], pause: child };
  }

  startContainer(sb: Sandbox, c: StartContainer): ContainerProcess {
    mkdirSync(join(c.logPath, ".."), { recursive: true });
    const fd = openSync(c.logPath, "a");
    try {
      const child = spawnInProcess(sb.pausePid, sb.kinds, c.file, c.args, {
        wd: c.workingDir || "/",
        env: c.env,
        detached: true,
        stdio: ["ignore", fd, fd],
      });
      const exited = exitPromise(child);
      child.unref();
      return { pid: child.pid ?? -1, child, logPath: c.logPath, exited };
    } finally {
      closeSync(fd);
    }
  }

  exec(sb: Sandbox, argv: string[], env: Record<string, string>, timeoutMs: number): Promise<RunResult> {
    const [file, ...args] = argv;
    if (!file) return Promise.resolve({ code: 126, stdout: "", stderr: "empty command" });
    return runInProcess(sb.pausePid, sb.kinds, file, args, { env, check: false, timeoutMs, wd: "/" });
  }

  kill(pid: number, signal: NodeJS.Signals): void {
    killGroup(pid, signal);
  }

  async removeSandbox(sb: { netns: string | null; pausePid: number }): Promise<void> {
    killGroup(sb.pausePid, "SIGKILL");
    if (sb.netns) {
      await killNetnsProcesses(sb.netns);
      await sleep(20);
      await delNetns(sb.netns);
    }
  }

  leftoverNetns(prefix: string): string[] {
    return listNetns(prefix);
  }

  async removeLeftover(netns: string): Promise<void> {
    await killNetnsProcesses(netns);
    await delNetns(netns);
  }
}

export { netnsPath };
