/** Test support: runs `podwire server` on 127.0.0.1 with a free port and a temp data dir; cleans up on stop. */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadKubeconfig, RestClient } from "../../../src/client/index.js";

const bin = new URL("../../../../bin/podwire", import.meta.url).pathname;

export interface RunningServer {
  dir: string;
  port: number;
  kubeconfig: string;
  client: RestClient;
  log: () => string;
  /** SIGTERM (then SIGKILL after 10 s); removes the data dir unless `keepDir`. */
  stop(opts?: { keepDir?: boolean }): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** Starts a server; pass `dir` and `port` of a stopped one to restart it on the same state. */
export async function startServer(
  extraArgs: string[] = [],
  reuse: { dir?: string; port?: number } = {},
): Promise<RunningServer> {
  const dir = reuse.dir ?? mkdtempSync(join(tmpdir(), "podwire-cp-"));
  const port = reuse.port ?? (await freePort());
  let out = "";
  const child: ChildProcess = spawn(bin, ["server", "--data-dir", dir, "--listen", `127.0.0.1:${port}`, ...extraArgs], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stdout?.on("data", (d) => (out += d));
  child.stderr?.on("data", (d) => (out += d));
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  const stop = async (keepDir = false) => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
      const t = setTimeout(() => child.kill("SIGKILL"), 10_000);
      await exited;
      clearTimeout(t);
    }
    if (!keepDir) rmSync(dir, { recursive: true, force: true });
  };
  try {
    const kubeconfig = join(dir, "admin.kubeconfig");
    // A deadline for a condition (not a wait): a cold start on a loaded 2-core CI machine has taken over 30 s.
    const deadline = Date.now() + 120_000;
    while (!existsSync(kubeconfig) || !/listening/.test(out)) {
      if (child.exitCode !== null) throw new Error(`podwire server exited: ${out}`);
      if (Date.now() > deadline) throw new Error(`podwire server did not start: ${out}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const client = new RestClient(loadKubeconfig(kubeconfig));
    return {
      dir,
      port,
      kubeconfig,
      client,
      log: () => out,
      stop: async (o = {}) => {
        client.close();
        await stop(o.keepDir);
      },
    };
  } catch (e) {
    await stop();
    throw e;
  }
}
