/**
 * Agent components. The kubelet runs in-process; proxier, overlay and DNS run as `podwire <cmd>` children of the
 * agent with their log lines forwarded into the agent's one log stream (stdout/stderr → the agent's stderr), so
 * one agent PID owns the node and each product stays runnable alone with the same flags. A child that dies is
 * restarted with back-off (1 s … 30 s).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import type { Logger } from "../kubelet/podworker.js";

export interface Component {
  readonly name: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Whether it is currently up (metrics, health). */
  healthy(): boolean;
}

/** The `podwire` CLI entry (bin/podwire) next to this build. */
export function podwireBin(): string {
  return fileURLToPath(new URL("../../../bin/podwire", import.meta.url));
}

export class ChildComponent implements Component {
  private child: ChildProcess | null = null;
  private stopping = false;
  private delay = 1000;
  private timer: NodeJS.Timeout | undefined;
  restarts = 0;

  constructor(
    readonly name: string,
    private readonly args: string[],
    private readonly log: Logger,
    private readonly sink: (line: string) => void,
  ) {}

  healthy(): boolean {
    return this.child !== null && this.child.exitCode === null;
  }

  async start(): Promise<void> {
    this.stopping = false;
    this.spawnOnce();
  }

  private spawnOnce(): void {
    const child = spawn(process.execPath, [podwireBin(), ...this.args], { stdio: ["ignore", "pipe", "pipe"] });
    this.child = child;
    const started = Date.now();
    for (const s of [child.stdout, child.stderr]) {
      if (!s) continue;
      createInterface({ input: s }).on("line", (l) =>
        this.sink(l.startsWith("{") ? l : JSON.stringify({ component: this.name, msg: l })),
      );
    }
    this.log.info({ component: this.name, pid: child.pid, args: this.args }, "component started");
    child.on("exit", (code, signal) => {
      if (this.child === child) this.child = null;
      if (this.stopping) return;
      if (Date.now() - started > 60_000) this.delay = 1000;
      this.log.warn({ component: this.name, code, signal, retryMs: this.delay }, "component exited; restarting");
      this.restarts++;
      this.timer = setTimeout(() => this.spawnOnce(), this.delay);
      this.delay = Math.min(this.delay * 2, 30_000);
    });
  }

  async stop(): Promise<void> {
    this.stopping = true;
    if (this.timer) clearTimeout(this.timer);
    const c = this.child;
    if (!c || c.exitCode !== null) return;
    const gone = new Promise<void>((r) => c.once("exit", () => r()));
    c.kill("SIGTERM");
    const t = setTimeout(() => c.kill("SIGKILL"), 8000);
    await gone;
    clearTimeout(t);
  }
}

/**
 * The userspace proxier in the agent's own process (its proxy sockets then live in the node's namespace, where
 * the agent runs). Used because `podwire proxy --proxy-mode userspace` is not wired to a daemon in the CLI yet;
 * the library entry point is proxier/userspace/daemon.ts.
 */
export class InProcessUserspaceProxy implements Component {
  readonly name = "proxy";
  private daemon: { stop(opts?: { cleanup?: boolean }): Promise<void> } | null = null;

  constructor(
    private readonly opts: {
      kubeconfig: string;
      nodeName: string;
      nodeIP: string;
      metricsAddress: string;
      /** Named backend for the portal rules; unset = detect (src/netlinux/iptables.ts detectBackend). */
      backend?: "legacy" | "nft";
    },
    private readonly log: Logger,
  ) {}

  healthy(): boolean {
    return this.daemon !== null;
  }

  async start(): Promise<void> {
    const { startUserspaceDaemon } = await import("../../proxier/userspace/daemon.js");
    const { execRunner } = await import("../../proxier/userspace/runner.js");
    this.daemon = await startUserspaceDaemon({
      ...(this.opts.backend ? { runner: await execRunner(null, this.opts.backend) } : {}),
      kubeconfig: this.opts.kubeconfig,
      nodeName: this.opts.nodeName,
      nodeIPs: [this.opts.nodeIP],
      metricsAddress: this.opts.metricsAddress,
      log: {
        info: (msg, fields) => this.log.info({ component: "proxy", ...(fields ?? {}) }, msg),
        warn: (msg, fields) => this.log.warn({ component: "proxy", ...(fields ?? {}) }, msg),
      },
    });
  }

  async stop(): Promise<void> {
    await this.daemon?.stop();
    this.daemon = null;
  }
}
