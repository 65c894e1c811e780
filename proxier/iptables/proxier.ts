/**
 * The iptables-mode proxier: informer callbacks record changes (ChangeTracker) and ask the bounded-frequency
 * runner for a sync; `syncProxyRules` renders the whole desired state (pure render()), plans a full or partial
 * restore (partial.ts), applies it with iptables-restore --noflush --counters, then updates metrics, health and
 * UDP conntrack. Nothing else writes to the kernel.
 *
 * Full syncs: at start, after any failure (the kernel keeps its previous rules; iptables-restore is atomic),
 * when the KUBE-PROXY-CANARY chain in mangle vanishes (someone flushed iptables), when node labels change, and
 * every `fullSyncPeriodMs`. A full sync also (re)installs the jump rules from the built-in chains and deletes
 * stale service chains found by iptables-save. Partial syncs rewrite only chains whose content changed.
 */
import type { EndpointSlice, Node, Service } from "../../src/api/index.js";
import type { Conntrack } from "../../src/netlinux/conntrack.js";
import { type Iptables, IptablesError, type Table } from "../../src/netlinux/iptables.js";
import { type UdpState, staleConntrackEntries, udpStateOf } from "../conntrack/cleanup.js";
import type { HealthState, ProxierMetrics } from "../metrics.js";
import { type IncrementalPlan, planIncremental, withKernelOrder } from "./incremental.js";
import { ensureJumpRules } from "./jumps.js";
import { type AppliedState, type RestorePlan, appliedStateOf, planFull, planPartial } from "./partial.js";
import { Chains, type RenderOptions, type RenderResult, render } from "./render.js";
import { BoundedFrequencyRunner } from "./runner.js";
import { type ChangeTimes, ChangeTracker } from "./tracker.js";

/** pino-compatible logger subset. */
export interface Logger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  debug(obj: object, msg?: string): void;
}

export interface IptablesProxierOptions {
  iptables: Iptables;
  conntrack?: Conntrack;
  nodeName: string;
  /** Explicit node IPs (--node-ip); otherwise the InternalIP/ExternalIP of this node's Node object. */
  nodeIPs?: string[];
  render: Omit<RenderOptions, "existingNatChains" | "randomFully">;
  minSyncPeriodMs?: number;
  /**
   * Wait this long after the first change before asking the runner for a sync, so changes that come together (a
   * Service and, milliseconds later, its EndpointSlice) share one sync instead of the second waiting for the first
   * to finish. Default 0 (ask at once, like kube-proxy).
   */
  batchDelayMs?: number;
  syncPeriodMs?: number;
  fullSyncPeriodMs?: number;
  /**
   * Partial syncs edit large chains already in the kernel in place (incremental.ts: -D, and -I at the top of the
   * dispatch chains or at the rendered position elsewhere) instead of rewriting them. Needs an iptables-restore
   * that takes -D and -I [rulenum] (the real runner and FakeIptables do).
   */
  incrementalEdits?: boolean;
  /** Chains with fewer rules than this are rewritten whole even with incrementalEdits (default 16; tests use 1). */
  incrementalMinRules?: number;
  /** Log one `programming trace` line per sync: the services it programmed with their event times (debugging latency). */
  trace?: boolean;
  metrics?: ProxierMetrics;
  health?: HealthState;
  logger?: Logger;
  now?: () => number;
}

export interface SyncOutcome {
  full: boolean;
  ok: boolean;
  plan?: RestorePlan | IncrementalPlan;
  error?: Error;
  durationMs: number;
  /** Where the time went (ms): render, planning, iptables calls (save/jumps for full syncs, restore). */
  phases?: { renderMs: number; planMs: number; iptablesMs: number };
}

const silent: Logger = { info() {}, warn() {}, error() {}, debug() {} };
const CANARY_TABLES: Table[] = ["mangle", "nat", "filter"];

/** InternalIP and ExternalIP addresses of a Node, in that order. */
export function nodeAddresses(node: Node | undefined): string[] {
  const addrs = node?.status?.addresses ?? [];
  return [
    ...addrs.filter((a) => a.type === "InternalIP").map((a) => a.address),
    ...addrs.filter((a) => a.type === "ExternalIP").map((a) => a.address),
  ];
}

export class IptablesProxier {
  /** Records informer events and builds each object's model as it arrives (tracker.ts). */
  readonly tracker: ChangeTracker;
  private readonly ipt: Iptables;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly runner: BoundedFrequencyRunner;
  private readonly syncPeriodMs: number;
  private readonly fullSyncPeriodMs: number;
  private applied: AppliedState | null = null;
  private lastUdp: UdpState | undefined;
  private needFullSync = true;
  private lastFullSync = 0;
  private servicesSynced = false;
  private slicesSynced = false;
  private randomFully: boolean | undefined;
  private canaryTimer: NodeJS.Timeout | undefined;
  private batchTimer: NodeJS.Timeout | undefined;
  /** Last render (for tests and debugging). */
  lastRender: RenderResult | undefined;
  /** Every sync's outcome, newest last (bounded). */
  readonly history: SyncOutcome[] = [];

  constructor(private readonly opts: IptablesProxierOptions) {
    this.ipt = opts.iptables;
    this.log = opts.logger ?? silent;
    this.now = opts.now ?? Date.now;
    this.tracker = new ChangeTracker(Date.now, { family: opts.render.ipFamily ?? "IPv4", nodeName: opts.nodeName });
    this.syncPeriodMs = opts.syncPeriodMs ?? 30_000;
    this.fullSyncPeriodMs = opts.fullSyncPeriodMs ?? 3_600_000;
    this.runner = new BoundedFrequencyRunner(
      async () => {
        await this.syncProxyRules();
      },
      opts.minSyncPeriodMs ?? 1_000,
      this.syncPeriodMs,
      // Intervals on a monotonic clock unless a test injects one: a wall-clock step must not bring syncs closer.
      opts.now,
    );
  }

  // --- event handlers: record only, then ask for a sync ---------------------------------------------------

  onServiceAdd(svc: Service): void {
    this.onServiceUpdate(undefined, svc);
  }
  onServiceUpdate(old: Service | undefined, svc: Service): void {
    this.tracker.serviceUpdate(old, svc);
    this.opts.metrics?.serviceChanges.inc();
    this.requestSync();
  }
  onServiceDelete(svc: Service): void {
    this.tracker.serviceUpdate(svc, undefined);
    this.opts.metrics?.serviceChanges.inc();
    this.requestSync();
  }
  onEndpointSliceAdd(s: EndpointSlice): void {
    this.onEndpointSliceUpdate(s);
  }
  onEndpointSliceUpdate(s: EndpointSlice): void {
    if (this.tracker.sliceUpdate(s, false)) {
      this.opts.metrics?.endpointChanges.inc();
      this.requestSync();
    }
  }
  onEndpointSliceDelete(s: EndpointSlice): void {
    if (this.tracker.sliceUpdate(s, true)) {
      this.opts.metrics?.endpointChanges.inc();
      this.requestSync();
    }
  }
  onNodeUpdate(node: Node | undefined): void {
    if (node && node.metadata.name !== this.opts.nodeName) return;
    this.tracker.nodeUpdate(node);
    this.requestSync();
  }
  /** Called once each informer holds a complete first list; nothing is written before both are synced. */
  onServicesSynced(): void {
    this.servicesSynced = true;
    this.requestSync();
  }
  onEndpointSlicesSynced(): void {
    this.slicesSynced = true;
    this.requestSync();
  }

  get initialized(): boolean {
    return this.servicesSynced && this.slicesSynced;
  }

  /** Forces the next sync to be full (what the canary monitor does). */
  forceFullSync(): void {
    this.needFullSync = true;
    this.requestSync();
  }

  private requestSync(): void {
    this.opts.health?.queued();
    this.opts.metrics?.lastQueuedTimestamp.set(this.now() / 1000);
    if (!this.initialized) return;
    const delay = this.opts.batchDelayMs ?? 0;
    if (delay <= 0) this.runner.run();
    else if (!this.batchTimer) {
      this.batchTimer = setTimeout(() => {
        this.batchTimer = undefined;
        this.runner.run();
      }, delay);
      this.batchTimer.unref?.();
    }
  }

  // --- lifecycle --------------------------------------------------------------------------------------------

  /** Starts the runner and the canary monitor (checks every syncPeriod). */
  start(): void {
    this.opts.health?.updated();
    this.runner.start();
    if (this.initialized) this.runner.run();
    this.canaryTimer = setInterval(() => void this.checkCanary(), this.syncPeriodMs);
    this.canaryTimer.unref?.();
  }

  async stop(): Promise<void> {
    if (this.canaryTimer) clearInterval(this.canaryTimer);
    if (this.batchTimer) clearTimeout(this.batchTimer);
    await this.runner.stop();
  }

  /** kube's iptables Monitor: if the mangle canary is gone, our rules were flushed — resync fully. */
  async checkCanary(): Promise<boolean> {
    try {
      if (this.applied && !(await this.ipt.chainExists("mangle", Chains.canary))) {
        this.log.warn(
          { chain: Chains.canary },
          "canary chain deleted, iptables rules were flushed; doing a full resync",
        );
        this.forceFullSync();
        return false;
      }
    } catch (e) {
      this.log.warn({ err: String(e) }, "canary check failed");
    }
    return true;
  }

  // --- the sync ---------------------------------------------------------------------------------------------

  private renderNow(existingNatChains?: Iterable<string>): RenderResult {
    const t = this.tracker;
    const nodeIPs = this.opts.nodeIPs?.length ? this.opts.nodeIPs : nodeAddresses(t.node);
    return render(
      {
        services: [...t.services.values()],
        endpointSlices: [...t.slices.values()],
        node: { name: this.opts.nodeName, ips: nodeIPs, labels: t.node?.metadata.labels },
      },
      {
        ...this.opts.render,
        randomFully: this.randomFully ?? false,
        ...(existingNatChains ? { existingNatChains } : {}),
      },
    );
  }

  /** One sync, now. Never throws: failures are logged, counted and turn the next sync into a full one. */
  async syncProxyRules(): Promise<SyncOutcome> {
    const start = this.now();
    if (!this.initialized) return { full: false, ok: false, durationMs: 0 };
    const t = this.tracker;
    const full =
      this.needFullSync ||
      t.topologyChanged ||
      this.applied === null ||
      start - this.lastFullSync > this.fullSyncPeriodMs;
    const m = this.opts.metrics;
    let outcome: SyncOutcome;
    let triggerTimes: number[] = [];
    let traced: [string, ChangeTimes][] | undefined;
    let iptMs = 0;
    let renderMs = 0;
    let planMs = 0;
    try {
      let existing: string[] | undefined;
      if (full) {
        if (this.randomFully === undefined) this.randomFully = await this.ipt.hasRandomFully();
        await ensureJumpRules(this.ipt, true);
        for (const table of CANARY_TABLES) await this.ipt.ensureChain(table, Chains.canary);
        existing = chainsOf(await this.ipt.save("nat"));
        iptMs += this.now() - start;
      }
      // Changes recorded from here on belong to the next sync.
      triggerTimes = [...t.triggerTimes];
      if (this.opts.trace) traced = [...t.changedAt];
      t.clearChanges();
      const t0 = this.now();
      const result = this.renderNow(existing);
      const t1 = this.now();
      renderMs = t1 - t0;
      let plan: RestorePlan | IncrementalPlan;
      if (full || !this.applied) plan = planFull(result);
      else {
        plan = planPartial(this.applied, result);
        if (this.opts.incrementalEdits)
          plan = planIncremental(this.applied, result, plan, this.opts.incrementalMinRules);
      }
      const t2 = this.now();
      planMs = t2 - t1;
      if (!plan.empty) await this.ipt.restore(plan.payload);
      iptMs += this.now() - t2;
      this.applied = withKernelOrder(appliedStateOf(result), "kernelOrder" in plan ? plan.kernelOrder : undefined);
      this.lastRender = result;
      this.needFullSync = false;
      if (full) this.lastFullSync = start;
      outcome = {
        full,
        ok: true,
        plan,
        durationMs: this.now() - start,
        phases: { renderMs, planMs, iptablesMs: iptMs },
      };
      m?.iptablesTotal.set({ table: "filter" }, result.stats.filterRules);
      m?.iptablesTotal.set({ table: "nat" }, result.stats.natRules);
      m?.iptablesLast.set({ table: "filter" }, full ? result.stats.filterRules : countTable(plan, "filter", result));
      m?.iptablesLast.set({ table: "nat" }, full ? result.stats.natRules : countTable(plan, "nat", result));
      m?.noLocalEndpoints.set({ traffic_policy: "internal" }, result.stats.noLocalEndpointsInternal);
      m?.noLocalEndpoints.set({ traffic_policy: "external" }, result.stats.noLocalEndpointsExternal);
      m?.lastTimestamp.set(this.now() / 1000);
      for (const tt of triggerTimes) m?.networkProgramming.observe(Math.max(0, (this.now() - tt) / 1000));
      this.opts.health?.updated();
      this.log.info(
        {
          full,
          servicePorts: result.stats.servicePorts,
          endpoints: result.stats.endpoints,
          linesWritten: plan.totalLines,
          rulesWritten: plan.ruleLines,
          chainsWritten: plan.writtenChains.filter.length + plan.writtenChains.nat.length,
          chainsDeleted: plan.deletedChains.length,
          chainsEdited: "editedChains" in plan ? plan.editedChains.length : 0,
          elapsedMs: this.now() - start,
          renderMs,
          planMs,
          iptablesMs: iptMs,
        },
        "SyncProxyRules complete",
      );
      if (traced?.length) {
        // One line per sync: [service key, first Service event ms, first EndpointSlice event ms] (epoch ms) of the
        // changes this sync programmed; start/done bracket the sync. Read by test/bench/e2e for its breakdown.
        this.log.info(
          {
            start,
            done: this.now(),
            full,
            services: traced.map(([k, e]) => [k, e.service ?? 0, e.slice ?? 0]),
          },
          "programming trace",
        );
      }
      await this.cleanConntrack(result);
    } catch (e) {
      const err = e instanceof Error ? e : new Error(String(e));
      this.needFullSync = true;
      m?.restoreFailures.inc();
      if (!full) m?.partialRestoreFailures.inc();
      this.log.error(
        { err: err.message, full, line: err instanceof IptablesError ? err.line : undefined },
        "sync failed; the kernel keeps the previous rules, next sync is full",
      );
      this.runner.retryAfter(Math.min(this.syncPeriodMs, 5_000));
      outcome = { full, ok: false, error: err, durationMs: this.now() - start };
      // The changes were not programmed: the retry (a full sync) programs them; keep their trace times.
      if (traced) for (const [k, e] of traced) t.changedAt.set(k, { ...t.changedAt.get(k), ...e }); // earliest wins
    }
    const secs = outcome.durationMs / 1000;
    m?.syncDuration.observe(secs);
    (full ? m?.syncFullDuration : m?.syncPartialDuration)?.observe(secs);
    this.history.push(outcome);
    if (this.history.length > 100) this.history.shift();
    return outcome;
  }

  private async cleanConntrack(result: RenderResult): Promise<void> {
    const next = udpStateOf(this.opts.render.ipFamily ?? "IPv4", result.servicePorts, result.endpoints);
    const deletions = staleConntrackEntries(this.lastUdp, next);
    this.lastUdp = next;
    if (!this.opts.conntrack) return;
    for (const d of deletions) {
      try {
        const n = await this.opts.conntrack.delete(d);
        this.opts.metrics?.conntrackDeletions.inc(n);
      } catch (e) {
        this.log.warn({ err: String(e), deletion: d }, "conntrack cleanup failed");
      }
    }
  }
}

/** Chain names declared in iptables-save output of one table. */
export function chainsOf(save: string): string[] {
  const out: string[] = [];
  for (const line of save.split("\n")) if (line.startsWith(":")) out.push(line.slice(1).split(" ")[0]!);
  return out;
}

function countTable(plan: RestorePlan, table: "filter" | "nat", r: RenderResult): number {
  const rules = table === "filter" ? r.filter.rules : r.nat.rules;
  let n = 0;
  for (const c of plan.writtenChains[table]) n += rules.get(c)?.length ?? 0;
  return n;
}
