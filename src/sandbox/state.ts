/**
 * A sandbox's on-disk state: /var/lib/podwire/sandbox/<name>/state.json (written before anything is created, so
 * `podwire down` can clean up after a crash), plus logs/, the control plane's data dir and per-node dirs.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export const SANDBOX_ROOT = process.env.PODWIRE_SANDBOX_ROOT ?? "/var/lib/podwire/sandbox";

export interface SandboxNode {
  name: string;
  ns: string;
  ip: string;
  podCIDR: string;
  /** Prefix of this node's pod network namespaces. */
  podNetnsPrefix: string;
  dir: string;
}

export interface ProcessRecord {
  role: string;
  pid: number;
  /** A word that must appear in /proc/<pid>/cmdline before we signal it (guards against PID reuse). */
  mark: string;
}

export interface SandboxState {
  name: string;
  createdAt: string;
  dir: string;
  underlay: string;
  nodes: SandboxNode[];
  processes: ProcessRecord[];
  apiServer: string;
  hostPort: number;
  kubeconfig: string;
  proxyMode: string;
  phase: "creating" | "ready" | "failed";
}

export function sandboxDir(name: string): string {
  return join(SANDBOX_ROOT, name);
}

export function statePath(name: string): string {
  return join(sandboxDir(name), "state.json");
}

export function readState(name: string): SandboxState | undefined {
  const p = statePath(name);
  if (!existsSync(p)) return undefined;
  return JSON.parse(readFileSync(p, "utf8")) as SandboxState;
}

export function writeState(s: SandboxState): void {
  mkdirSync(s.dir, { recursive: true });
  const p = statePath(s.name);
  writeFileSync(`${p}.tmp`, `${JSON.stringify(s, null, 2)}\n`);
  renameSync(`${p}.tmp`, p);
}

/** Sandbox names become namespace and file names: keep them short and plain. */
export function validName(name: string): boolean {
  return /^[a-z][a-z0-9]{0,7}$/.test(name);
}
