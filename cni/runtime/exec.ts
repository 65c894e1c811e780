/**
 * Executes one CNI plugin binary the way libcni's `invoke` does: find `type` in the CNI_PATH dirs, run it with the
 * CNI_* environment and the request config on stdin, parse stdout. On a non-zero exit the error JSON is read from
 * stdout (falling back to stderr text). `cniVersion` in errors is optional (Debian's plugins omit it).
 *
 *   const r = await execPlugin({ type: "bridge", path: ["/usr/lib/cni"], env: { CNI_COMMAND: "ADD", … }, stdin });
 *   r.ok ? r.result : r.error   // { code, msg, details? }
 */
import { spawn } from "node:child_process";
import { connect } from "node:net";
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

/**
 * Sends one request straight to a plugin server's unix socket (cni/plugin/server.ts protocol), skipping the exec of
 * bin/podwire-cni: what podwire's own kubelet does when the config names `agentSocket`. Resolves undefined when the
 * socket cannot be reached (the caller then execs the plugin).
 */
export function callPluginSocket(
  socketPath: string,
  env: Record<string, string>,
  stdin: string,
  timeoutMs = 60_000,
): Promise<ExecOutcome | undefined> {
  const header = Object.entries(env)
    .filter(([k]) => k.startsWith("CNI_"))
    .map(([k, v]) => `${k}=${v}`)
    .join("\n");
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let sent = false;
    const sock = connect({ path: socketPath, allowHalfOpen: true });
    const timer = setTimeout(() => sock.destroy(new Error("timeout")), timeoutMs);
    sock.on("connect", () => {
      sent = true;
      sock.end(`${header}\n--\n${stdin}`);
    });
    sock.on("data", (b: Buffer) => chunks.push(b));
    sock.on("error", () => {
      clearTimeout(timer);
      resolve(
        sent
          ? { ok: false, error: { code: 999, msg: "plugin socket failed mid-request" }, exitCode: -1, stderr: "" }
          : undefined,
      );
    });
    sock.on("end", () => {
      clearTimeout(timer);
      const text = Buffer.concat(chunks).toString("utf8");
      const nl = text.indexOf("\n");
      const code = Number(nl < 0 ? text : text.slice(0, nl));
      const stdout = nl < 0 ? "" : text.slice(nl + 1);
      if (!Number.isInteger(code)) {
        resolve({ ok: false, error: { code: 999, msg: `bad reply from ${socketPath}` }, exitCode: -1, stderr: "" });
        return;
      }
      if (code === 0) {
        let result: unknown;
        try {
          result = stdout.trim() ? JSON.parse(stdout) : undefined;
        } catch {
          result = undefined;
        }
        resolve({ ok: true, stdout, result, stderr: "" });
        return;
      }
      let error: PluginError = { code: 999, msg: stdout.trim() };
      try {
        error = JSON.parse(stdout) as PluginError;
      } catch {}
      resolve({ ok: false, error, exitCode: code, stderr: "" });
    });
  });
}
