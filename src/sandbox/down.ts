/**
 * `podwire down`: stops every recorded process (by PID, checking it is still ours), kills whatever still runs in
 * the sandbox's namespaces (pods: `ip netns pids`), deletes the pod, node and underlay namespaces, and removes the
 * state directory. Works on a half-made or crashed sandbox: the state file is written before anything is made,
 * and namespaces are also found by name.
 */
import { existsSync, rmSync } from "node:fs";
import { listNetns } from "../netlinux/netns.js";
import { killNetnsProcesses } from "../kubelet/runtime.js";
import { deleteSandboxNamespaces } from "./network.js";
import { alive, stopProcess } from "./processes.js";
import { readState, sandboxDir, validName } from "./state.js";

export interface DownReport {
  stopped: string[];
  namespaces: string[];
  removedDir: boolean;
}

export async function down(name: string): Promise<DownReport> {
  if (!validName(name)) throw new Error(`invalid sandbox name ${JSON.stringify(name)}`);
  const state = readState(name);
  const report: DownReport = { stopped: [], namespaces: [], removedDir: false };
  // Agents first (so nothing restarts pods), then the control plane, then the forwarder.
  const order = (r: string) => (r.startsWith("agent") ? 0 : r === "server" ? 1 : 2);
  const procs = [...(state?.processes ?? [])].sort((a, b) => order(a.role) - order(b.role));
  await Promise.all(
    procs
      .filter((p) => p.role.startsWith("agent"))
      .map(async (p) => {
        if (alive(p)) report.stopped.push(`${p.role} (pid ${p.pid})`);
        await stopProcess(p, 10_000);
      }),
  );
  for (const p of procs.filter((x) => !x.role.startsWith("agent"))) {
    if (alive(p)) report.stopped.push(`${p.role} (pid ${p.pid})`);
    await stopProcess(p, 10_000);
  }
  const nodeNs =
    state?.nodes.map((n) => ({ ns: n.ns, podNetnsPrefix: n.podNetnsPrefix })) ??
    listNetns(`${name}-node`)
      .filter((n) => /-node\d+$/.test(n))
      .map((ns) => ({ ns, podNetnsPrefix: `${ns}-` }));
  const underlay = state?.underlay ?? `${name}-ul`;
  const all = [...nodeNs.flatMap((n) => [...listNetns(n.podNetnsPrefix), n.ns]), underlay].filter((n) =>
    listNetns(n).includes(n),
  );
  // Pods (and anything else) still running inside the namespaces: by PID, as `ip netns pids` lists them.
  for (const ns of all) await killNetnsProcesses(ns, "SIGKILL");
  await deleteSandboxNamespaces(underlay, nodeNs);
  report.namespaces = all;
  const dir = state?.dir ?? sandboxDir(name);
  if (existsSync(dir)) {
    rmSync(dir, { recursive: true, force: true });
    report.removedDir = true;
  }
  return report;
}
