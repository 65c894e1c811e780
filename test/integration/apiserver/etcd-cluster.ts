/**
 * Starts a throwaway etcd cluster on loopback ports in a temp dir for tests and benchmarks; members are
 * stopped by PID (never by name).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/**
 * `n` distinct free loopback ports: all are held open until every one is chosen, so two members (or a member's
 * client and peer URLs) cannot be handed the same just-freed port.
 */
export async function freePorts(n: number): Promise<number[]> {
  const held = await Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<ReturnType<typeof createServer>>((resolve, reject) => {
          const s = createServer();
          s.once("error", reject);
          s.listen(0, "127.0.0.1", () => resolve(s));
        }),
    ),
  );
  const ports = held.map((s) => (s.address() as { port: number }).port);
  await Promise.all(held.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

export interface EtcdMember {
  name: string;
  clientURL: string;
  proc: ChildProcess;
}

export interface EtcdCluster {
  endpoints: string[];
  members: EtcdMember[];
  /** SIGKILL one member (by its PID). */
  kill(index: number): void;
  stop(): Promise<void>;
}

async function waitHealthy(url: string, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      const r = await fetch(`${url}/health`);
      if (r.ok && ((await r.json()) as { health?: string }).health === "true") return;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) throw new Error(`etcd at ${url} not healthy within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

export async function startEtcdCluster(size: number): Promise<EtcdCluster> {
  const dir = mkdtempSync(join(tmpdir(), "pw-etcd-"));
  const specs = [];
  const ports = await freePorts(2 * size);
  for (let i = 0; i < size; i++) specs.push({ name: `m${i}`, client: ports[2 * i] ?? 0, peer: ports[2 * i + 1] ?? 0 });
  const token = `pw-${process.pid}-${Date.now()}`;
  const initial = specs.map((s) => `${s.name}=http://127.0.0.1:${s.peer}`).join(",");
  const members: EtcdMember[] = specs.map((s) => {
    const proc = spawn(
      "etcd",
      [
        "--name",
        s.name,
        "--data-dir",
        join(dir, s.name),
        "--listen-client-urls",
        `http://127.0.0.1:${s.client}`,
        "--advertise-client-urls",
        `http://127.0.0.1:${s.client}`,
        "--listen-peer-urls",
        `http://127.0.0.1:${s.peer}`,
        "--initial-advertise-peer-urls",
        `http://127.0.0.1:${s.peer}`,
        "--initial-cluster",
        initial,
        "--initial-cluster-state",
        "new",
        "--initial-cluster-token",
        token,
        "--heartbeat-interval",
        "50",
        "--election-timeout",
        "500",
        "--log-level",
        "error",
      ],
      { stdio: ["ignore", "ignore", process.env.PODWIRE_DEBUG_ETCD ? "inherit" : "pipe"] },
    );
    proc.stderr?.resume();
    return { name: s.name, clientURL: `http://127.0.0.1:${s.client}`, proc };
  });
  const stop = async () => {
    for (const m of members) {
      if (m.proc.exitCode === null && m.proc.signalCode === null && m.proc.pid) {
        const gone = new Promise((r) => m.proc.once("exit", r));
        process.kill(m.proc.pid, "SIGTERM");
        await Promise.race([gone, new Promise((r) => setTimeout(r, 3000))]);
        if (m.proc.exitCode === null && m.proc.signalCode === null) process.kill(m.proc.pid, "SIGKILL");
      }
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await Promise.all(members.map((m) => waitHealthy(m.clientURL, 30_000)));
  } catch (e) {
    await stop();
    throw e;
  }
  return {
    endpoints: members.map((m) => m.clientURL),
    members,
    kill(index: number) {
      const m = members[index];
      if (m?.proc.pid && m.proc.exitCode === null) process.kill(m.proc.pid, "SIGKILL");
    },
    stop,
  };
}
