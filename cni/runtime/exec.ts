/**
 * Executes one CNI plugin binary the way libcni's `invoke` does: find `type` in the CNI_PATH dirs, run it with the
 * CNI_* environment and the request config on stdin, parse stdout. On a non-zero exit the error JSON is read from
 * stdout (falling back to stderr text). `cniVersion` in errors is optional (Debian's plugins omit it).
 *
 *   const r = await execPlugin({ type: "bridge", path: ["/usr/lib/cni"], env: { CNI_COMMAND: "ADD", … }, stdin });
 *   r.ok ? r.result : r.error   // { code, msg, details? }
 */
import { spawn } from "node:child_process";
import { accessSync, constants } from "node:fs";
import { join } from "node:path";

export interface PluginError {
  code: number;
  msg: string;
  details?: string;
  cniVersion?: string;
}

export type ExecOutcome =
  | { ok: true; stdout: string; result: unknown; stderr: string }
  | { ok: false; error: PluginError; exitCode: number; stderr: string };

export interface ExecRequest {
  type: string;
  /** Directories searched for the binary (CNI_PATH). */
  path: string[];
  /** CNI_* variables (CNI_PATH is filled from `path` when absent). */
  env: Record<string, string>;
  stdin: string;
  /** Prefix argv, e.g. ["nsenter", "--net=/run/netns/node1", "--"] to exec the plugin inside a node namespace. */
  wrap?: string[];
  timeoutMs?: number;
  /** Extra environment inherited by the plugin (default: PATH only, like a runtime's clean env). */
  baseEnv?: Record<string, string>;
}

export class PluginNotFoundError extends Error {
  override name = "PluginNotFoundError";
}

/** Locates the plugin binary for `type` in the path directories. */
export function findPlugin(type: string, path: string[]): string {
  if (!type || type.includes("/")) throw new PluginNotFoundError(`invalid plugin type: ${type}`);
  for (const dir of path) {
    const f = join(dir, type);
    try {
      accessSync(f, constants.X_OK);
      return f;
    } catch {}
  }
  throw new PluginNotFoundError(`failed to find plugin "${type}" in path [${path.join(" ")}]`);
}

export function execPlugin(req: ExecRequest): Promise<ExecOutcome> {
  let bin: string;
  try {
    bin = findPlugin(req.type, req.path);
  } catch (e) {
    return Promise.resolve({ ok: false, error: { code: 999, msg: (e as Error).message }, exitCode: -1, stderr: "" });
  }
  const env = {
    ...(req.baseEnv ?? { PATH: process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin" }),
    CNI_PATH: req.path.join(":"),
    ...req.env,
  };
  const argv = [...(req.wrap ?? []), bin];
  return new Promise((resolve) => {
    const child = spawn(argv[0]!, argv.slice(1), { env, stdio: ["pipe", "pipe", "pipe"] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timer: NodeJS.Timeout | undefined;
    if (req.timeoutMs) timer = setTimeout(() => child.kill("SIGKILL"), req.timeoutMs);
    child.stdout.on("data", (b: Buffer) => out.push(b));
    child.stderr.on("data", (b: Buffer) => err.push(b));
    child.on("error", (e) => {
      if (timer) clearTimeout(timer);
      resolve({ ok: false, error: { code: 999, msg: `exec ${bin}: ${e.message}` }, exitCode: -1, stderr: "" });
    });
    child.on("close", (code, signal) => {
      if (timer) clearTimeout(timer);
      const stdout = Buffer.concat(out).toString("utf8");
      const stderr = Buffer.concat(err).toString("utf8");
      if (code === 0) {
        let result: unknown;
        try {
          result = stdout.trim() ? JSON.parse(stdout) : undefined;
        } catch (e) {
          resolve({
            ok: false,
            error: { code: 6, msg: `decoding plugin output: ${(e as Error).message}`, details: stdout },
            exitCode: 0,
            stderr,
          });
          return;
        }
        resolve({ ok: true, stdout, result, stderr });
        return;
      }
      let error: PluginError;
      try {
        const e = JSON.parse(stdout) as PluginError;
        if (typeof e?.code !== "number" || typeof e?.msg !== "string") throw new Error("not an error object");
        error = e;
      } catch {
        error = {
          code: 999,
          msg: stderr.trim() || stdout.trim() || `plugin ${req.type} exited ${code ?? signal}`,
        };
      }
      resolve({ ok: false, error, exitCode: code ?? 128, stderr });
    });
    child.stdin.on("error", () => {});
    child.stdin.end(req.stdin);
  });
}
