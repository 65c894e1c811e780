/** Runs `podwire server` as a child process (the real CLI) on a free loopback port in a temp data dir. */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { request } from "node:https";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

export const podwireBin = resolve("bin/podwire");

export async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once("error", rej);
    s.listen(0, "127.0.0.1", () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => res(p));
    });
  });
}

export interface ServerProcess {
  dir: string;
  port: number;
  kubeconfig: string;
  proc: ChildProcess;
  log: () => string;
  /** SIGTERM (or SIGKILL) by PID and wait for exit. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  /** Stop and start again on the same data dir and port. */
  restart(signal?: NodeJS.Signals): Promise<void>;
  cleanup(): Promise<void>;
}

function healthy(port: number): Promise<boolean> {
  return new Promise((res) => {
    const r = request({ host: "127.0.0.1", port, path: "/readyz", rejectUnauthorized: false, timeout: 1000 }, (rsp) => {
      rsp.resume();
      res(rsp.statusCode === 200);
    });
    r.on("error", () => res(false));
    r.on("timeout", () => {
      r.destroy();
      res(false);
    });
    r.end();
  });
}

export async function startServerProcess(extraArgs: string[] = [], dirIn?: string): Promise<ServerProcess> {
  const dir = dirIn ?? mkdtempSync(join(tmpdir(), "pw-srv-"));
  const port = await freePort();
  let out = "";
  const launch = async (): Promise<ChildProcess> => {
    // PODWIRE_SERVER_NODE_ARGS (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof") profiles the server in benchmarks.
    const nodeArgs = (process.env.PODWIRE_SERVER_NODE_ARGS ?? "").split(" ").filter(Boolean);
    const proc = spawn(
      process.execPath,
      [
        ...nodeArgs,
        podwireBin,
        "server",
        "--data-dir",
        join(dir, "data"),
        "--listen",
        `127.0.0.1:${port}`,
        ...extraArgs,
      ],
      {
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    proc.stdout?.on("data", (c: Buffer) => {
      out += c.toString();
    });
    proc.stderr?.on("data", (c: Buffer) => {
      out += c.toString();
    });
    // Generous: on a loaded 2-core CI machine a cold start (node, sqlite, openssl key generation) has taken over
    // 30 s. This is a deadline for a condition, not a wait.
    const deadline = Date.now() + 120_000;
    while (!(await healthy(port))) {
      if (proc.exitCode !== null || proc.signalCode !== null)
        throw new Error(`podwire server exited ${proc.exitCode ?? proc.signalCode}: ${out}`);
      if (Date.now() > deadline) {
        // Kill it before giving up: a live child keeps the test file's process (and node --test, and CI) waiting
        // forever, and the caller never gets the handle to clean it up.
        const exited = new Promise((r) => proc.once("exit", r));
        proc.kill("SIGKILL");
        await exited;
        throw new Error(`podwire server not ready after 120 s: ${out}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    return proc;
  };
  const sp: ServerProcess = {
    dir,
    port,
    kubeconfig: join(dir, "data", "admin.kubeconfig"),
    proc: await launch(),
    log: () => out,
    async stop(signal = "SIGTERM") {
      const p = sp.proc;
      if (p.exitCode !== null || p.signalCode !== null) return p.exitCode;
      const done = new Promise<number | null>((r) => p.once("exit", (code) => r(code)));
      if (p.pid) process.kill(p.pid, signal);
      return done;
    },
    async restart(signal = "SIGTERM") {
      await sp.stop(signal);
      sp.proc = await launch();
    },
    async cleanup() {
      await sp.stop("SIGTERM");
      if (!dirIn && existsSync(dir)) rmSync(dir, { recursive: true, force: true });
    },
  };
  return sp;
}
