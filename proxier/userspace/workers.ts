/**
 * The primary's side of `--proxy-workers`: forks the worker processes, shares listening sockets with them, keeps
 * their load balancers in step, folds their counters into the primary's metrics, and re-forks a worker that dies
 * (re-sending every shared socket — the primary keeps its own copy of each listener, and accepts on it too).
 */
import { type ChildProcess, fork } from "node:child_process";
import type { SendHandle } from "node:child_process";
import type { UserspaceMetrics } from "./metrics.js";
import type { FromWorker, ServiceCounters, ToWorker } from "./worker.js";

interface Shared {
  key: string;
  name: string;
  /** The listening socket as the TCP portal shares it now (a TCP handle, or a net.Server in the fallback). */
  server: () => unknown;
  endpoints: string[];
}

interface Slot {
  child: ChildProcess;
  last: Record<string, ServiceCounters>;
  opened: Set<string>;
}

export class TcpWorkerPool {
  private readonly slots: Slot[] = [];
  private readonly shared = new Map<string, Shared>();
  private stopping = false;

  constructor(
    readonly size: number,
    private readonly metrics: UserspaceMetrics,
    private readonly dialTimeoutsMs?: number[],
    private readonly onLog: (msg: string) => void = () => {},
    /** A worker accepts on the key's socket and sent back a descriptor of it (see TcpPortal.handOff). */
    private readonly onHandOff: (key: string, spare: unknown) => void = () => {},
  ) {}

  async start(): Promise<void> {
    await Promise.all(Array.from({ length: this.size }, (_, i) => this.spawn(i)));
  }

  private spawn(i: number): Promise<void> {
    const child = fork(new URL("./worker.js", import.meta.url).pathname, [], {
      stdio: ["ignore", "inherit", "inherit", "ipc"],
      serialization: "json",
    });
    const slot: Slot = { child, last: {}, opened: new Set() };
    this.slots[i] = slot;
    child.on("message", (m: FromWorker, handle?: unknown) => {
      if (m.type === "metrics") this.fold(slot, m.services);
      else if (m.type === "opened") {
        slot.opened.add(m.key);
        if (m.handOff && handle) this.onHandOff(m.key, handle);
      }
    });
    child.on("exit", (code, signal) => {
      if (this.stopping) return;
      this.onLog(`proxy worker ${i} exited (${code ?? signal}); restarting`);
      // Its connections are gone: take its active count out of the gauges.
      this.fold(slot, Object.fromEntries(Object.entries(slot.last).map(([k, c]) => [k, { ...c, active: 0 }])));
      void this.spawn(i).then(() => {
        for (const s of this.shared.values()) this.sendOpen(this.slots[i]!, s);
      });
    });
    return new Promise((resolve) => {
      const onMsg = (m: FromWorker) => {
        if (m.type === "ready") {
          child.off("message", onMsg);
          resolve();
        }
      };
      child.on("message", onMsg);
      child.once("exit", () => resolve());
    });
  }

  private send(slot: Slot, msg: ToWorker, handle?: unknown): void {
    if (!slot.child.connected) return;
    try {
      slot.child.send(msg, handle as SendHandle | undefined);
    } catch {
      // worker going away; its exit handler re-forks it
    }
  }

  private sendOpen(slot: Slot, s: Shared): void {
    this.send(slot, { type: "lb", key: s.key, endpoints: s.endpoints });
    this.send(slot, { type: "open", key: s.key, name: s.name, dialTimeoutsMs: this.dialTimeoutsMs }, s.server());
  }

  /** Shares a listening server with every worker (idempotent per key). */
  share(key: string, name: string, server: () => unknown, endpoints: string[]): void {
    if (this.shared.has(key)) return;
    const s = { key, name, server, endpoints: [...endpoints] };
    this.shared.set(key, s);
    for (const slot of this.slots) this.sendOpen(slot, s);
  }

  isShared(key: string): boolean {
    return this.shared.has(key);
  }

  setEndpoints(key: string, endpoints: string[]): void {
    const s = this.shared.get(key);
    if (!s) return;
    s.endpoints = [...endpoints];
    for (const slot of this.slots) this.send(slot, { type: "lb", key, endpoints: s.endpoints });
  }

  /** Workers stop accepting on the key's socket (their established connections stay). */
  unshare(key: string): void {
    if (!this.shared.delete(key)) return;
    for (const slot of this.slots) {
      slot.opened.delete(key);
      this.send(slot, { type: "close", key });
    }
  }

  /** Resolves once every worker accepts on every shared socket (tests wait for this). */
  async settled(timeoutMs = 5000): Promise<boolean> {
    const until = Date.now() + timeoutMs;
    while (Date.now() < until) {
      if (this.slots.every((sl) => [...this.shared.keys()].every((k) => sl.opened.has(k)))) return true;
      await new Promise((r) => setTimeout(r, 20));
    }
    return false;
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all(
      this.slots.map(
        (slot) =>
          new Promise<void>((resolve) => {
            if (slot.child.exitCode !== null || slot.child.signalCode !== null) return resolve();
            const t = setTimeout(() => slot.child.kill("SIGKILL"), 3000);
            slot.child.once("exit", () => {
              clearTimeout(t);
              resolve();
            });
            this.send(slot, { type: "stop" });
            if (!slot.child.connected) slot.child.kill("SIGTERM");
          }),
      ),
    );
  }

  private fold(slot: Slot, now: Record<string, ServiceCounters>): void {
    const m = this.metrics;
    for (const [svc, c] of Object.entries(now)) {
      const p = slot.last[svc] ?? { accepted: 0, active: 0, bytesIn: 0, bytesOut: 0, dialFailures: 0, noEndpoints: 0 };
      if (c.accepted > p.accepted) m.connectionsTotal.labels(svc, "tcp").inc(c.accepted - p.accepted);
      if (c.active !== p.active) m.activeConnections.labels(svc, "tcp").inc(c.active - p.active);
      if (c.bytesIn > p.bytesIn) m.bytes.labels(svc, "in").inc(c.bytesIn - p.bytesIn);
      if (c.bytesOut > p.bytesOut) m.bytes.labels(svc, "out").inc(c.bytesOut - p.bytesOut);
      if (c.dialFailures > p.dialFailures) m.dialFailures.labels(svc).inc(c.dialFailures - p.dialFailures);
      if (c.noEndpoints > p.noEndpoints) m.noEndpoints.labels(svc).inc(c.noEndpoints - p.noEndpoints);
    }
    slot.last = now;
  }
}
