/**
 * The userspace proxier: keeps one listener per service port (TCP or UDP), holds the NodePorts, feeds the load
 * balancer, and writes the portal rules with one iptables-restore per sync. Changes are serialised; each sync
 * opens new listeners before the rules point at them and closes removed ones only after the rules are gone.
 */
import dgram from "node:dgram";
import net from "node:net";
import os from "node:os";
import type { Conntrack } from "../../src/netlinux/conntrack.js";
import { RoundRobinBalancer } from "./loadbalancer.js";
import { UserspaceMetrics } from "./metrics.js";
import { type ServicePortInfo, type UserspaceInput, nodeIPsOf, servicePorts } from "./model.js";
import { PortAllocator, type PortRange, parsePortRange } from "./ports.js";
import { countRules, renderPortalRules } from "./rules.js";
import { type UserspaceIptables, cleanupUserspaceRules, ensureJumpRules } from "./runner.js";
import { type TcpPortal, createTcpProxySocket } from "./tcp.js";
import { UdpProxySocket } from "./udp.js";
import { TcpWorkerPool } from "./workers.js";

export interface UserspaceLogger {
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
}

const silent: UserspaceLogger = { info() {}, warn() {} };

export interface UserspaceProxierOptions {
  runner: UserspaceIptables;
  /** Address the proxy sockets bind to (default 0.0.0.0; loopback is refused like kube-proxy's ErrProxyOnLocalhost). */
  listenIP?: string;
  /** DNAT target of host portals (default: first node IP, else the first non-loopback IPv4 of this namespace). */
  hostIP?: string;
  /** `--proxy-port-range` (`A-B`/`A+N`); absent = kernel-chosen ports. */
  portRange?: string | PortRange | null;
  /** `--udp-timeout` in ms (default 250). */
  udpTimeoutMs?: number;
  /** How long an unanswered UDP request keeps its client entry (default 5000 ms). */
  udpReplyWaitMs?: number;
  dialTimeoutsMs?: number[];
  metrics?: UserspaceMetrics;
  log?: UserspaceLogger;
  /** Re-ensure jump rules and drop stale affinity entries this often (default 30 s; 0 = never). */
  syncPeriodMs?: number;
  physdev?: boolean;
  /**
   * Extra TCP worker processes (`--proxy-workers`, default 0): they accept on the listening sockets instead of
   * this process for services without ClientIP affinity (this one keeps the control plane and the affinity
   * services), spreading CPU and fds. Round robin is then per process.
   */
  workers?: number;
  /**
   * Deletes conntrack entries of removed UDP service ports (their REDIRECT entries would otherwise keep pointing
   * at a closed port until they expire), as kube-proxy's userspace mode ran `conntrack -D`. Absent = skipped.
   */
  conntrack?: Conntrack;
  /** Tests only: allow a loopback listenIP (in-process tests run in the initial namespace, where 0.0.0.0 is off limits). */
  testOnlyAllowLoopback?: boolean;
  /** First state to apply before returning. */
  input?: UserspaceInput;
}

export interface UserspaceProxier {
  /** Applies a new cluster state (serialised with other updates); resolves when rules are written. */
  update(input: UserspaceInput): Promise<void>;
  /** Stops listeners and connections; removes the userspace rules unless cleanup is false. */
  stop(opts?: { cleanup?: boolean }): Promise<void>;
  /** Current proxy port of each service port key (`ns/svc:port/tcp`). */
  proxyPorts(): Map<string, number>;
  /** Service port info by key, as last applied. */
  servicePorts(): Map<string, ServicePortInfo>;
  readonly metrics: UserspaceMetrics;
  readonly balancer: RoundRobinBalancer;
  /** Last restore payload written. */
  lastPayload(): string;
  /** With workers: resolves true once every worker accepts on every shared socket. */
  workersSettled(timeoutMs?: number): Promise<boolean>;
}

interface Listener {
  info: ServicePortInfo;
  sock: TcpPortal | UdpProxySocket;
  port: number;
}

interface Claim {
  close(): void;
}

function isTcp(s: TcpPortal | UdpProxySocket): s is TcpPortal {
  return !(s instanceof UdpProxySocket);
}

function isLoopback(ip: string): boolean {
  return ip.startsWith("127.") || ip === "::1";
}

/** First non-internal IPv4 address of this namespace (kube-proxy's ChooseHostInterface, simplified). */
export function detectHostIP(): string | undefined {
  for (const list of Object.values(os.networkInterfaces())) {
    for (const a of list ?? []) if (a.family === "IPv4" && !a.internal) return a.address;
  }
  return undefined;
}

/** Holds a NodePort so nothing else on the node can take it (kube-proxy's claimNodePort). */
async function claimPort(protocol: "tcp" | "udp", port: number, host: string): Promise<Claim> {
  if (protocol === "tcp") {
    const srv = net.createServer((c) => c.destroy());
    await new Promise<void>((resolve, reject) => {
      srv.once("error", reject);
      srv.listen({ host, port, exclusive: true, backlog: 1 }, () => resolve());
    });
    srv.on("error", () => {});
    return { close: () => srv.close() };
  }
  const s = dgram.createSocket("udp4");
  await new Promise<void>((resolve, reject) => {
    s.once("error", reject);
    s.bind({ address: host, port, exclusive: true }, () => resolve());
  });
  s.on("error", () => {});
  return { close: () => s.close() };
}

async function clearUdpFlows(ct: Conntrack, info: ServicePortInfo): Promise<void> {
  const ips = [info.clusterIP, ...info.externalIPs, ...info.loadBalancerIPs];
  try {
    for (const ip of ips) await ct.delete({ kind: "ip", ip, proto: "udp" });
    if (info.nodePort) await ct.delete({ kind: "port", port: info.nodePort, proto: "udp", family: "IPv4" });
  } catch {
    // best effort: entries expire on their own
  }
}

export async function startUserspaceProxier(opts: UserspaceProxierOptions): Promise<UserspaceProxier> {
  const listenIP = opts.listenIP ?? "0.0.0.0";
  if (isLoopback(listenIP) && !opts.testOnlyAllowLoopback)
    throw new Error(`cannot proxy on localhost (${listenIP}): portals cannot DNAT to loopback`);
  const metrics = opts.metrics ?? new UserspaceMetrics();
  const log = opts.log ?? silent;
  const lb = new RoundRobinBalancer();
  const range = typeof opts.portRange === "string" ? parsePortRange(opts.portRange) : (opts.portRange ?? null);
  const alloc = new PortAllocator(range);
  const listeners = new Map<string, Listener>();
  const claims = new Map<string, Claim>();
  let jumpsEnsured = false;
  let payload = "";
  let lastInput: UserspaceInput | undefined;
  let stopped = false;
  let chain: Promise<void> = Promise.resolve();
  const pool =
    opts.workers && opts.workers > 0
      ? new TcpWorkerPool(
          opts.workers,
          metrics,
          opts.dialTimeoutsMs,
          (m) => log.warn(m),
          (key, spare) => {
            const l = listeners.get(key);
            if (l && isTcp(l.sock) && pool?.isShared(key)) l.sock.handOff(spare);
            else (spare as { close?: () => void }).close?.();
          },
        )
      : null;
  await pool?.start();

  async function openListener(info: ServicePortInfo): Promise<Listener> {
    for (let tries = 0; ; tries++) {
      const want = alloc.allocate();
      const sock =
        info.protocol === "tcp"
          ? createTcpProxySocket(info, lb, metrics, opts.dialTimeoutsMs)
          : new UdpProxySocket(info, lb, metrics, { idleMs: opts.udpTimeoutMs, replyWaitMs: opts.udpReplyWaitMs });
      try {
        const port = await sock.listen(listenIP, want);
        alloc.markUsed(port);
        metrics.listeners.inc();
        log.info("opened proxy listener", { service: info.name, protocol: info.protocol, port });
        return { info, sock, port };
      } catch (err) {
        // A port from the range that something else holds stays marked used; try another.
        if (!range || (err as NodeJS.ErrnoException).code !== "EADDRINUSE" || tries >= range.size) throw err;
      }
    }
  }

  async function closeListener(l: Listener): Promise<void> {
    await l.sock.close();
    alloc.release(l.port);
    metrics.listeners.dec();
    log.info("closed proxy listener", { service: l.info.name, port: l.port });
  }

  async function sync(input: UserspaceInput): Promise<void> {
    const t0 = process.hrtime.bigint();
    const desired = new Map(servicePorts(input).map((sp) => [sp.key, sp]));
    // 1. Listeners for new service ports (before any rule points at them).
    for (const [key, info] of desired) {
      const l = listeners.get(key);
      if (l) {
        l.info = info;
        continue;
      }
      try {
        listeners.set(key, await openListener(info));
      } catch (err) {
        log.warn("cannot open proxy listener", { service: info.name, error: (err as Error).message });
      }
    }
    // 2. NodePort claims.
    const wantClaims = new Set<string>();
    for (const info of desired.values())
      if (info.nodePort && listeners.has(info.key)) wantClaims.add(`${info.protocol}:${info.nodePort}`);
    for (const c of wantClaims) {
      if (claims.has(c)) continue;
      const [proto, port] = c.split(":") as ["tcp" | "udp", string];
      try {
        claims.set(c, await claimPort(proto, Number(port), opts.testOnlyAllowLoopback ? listenIP : "0.0.0.0"));
      } catch (err) {
        log.warn("cannot claim node port", { port: c, error: (err as Error).message });
      }
    }
    // 3. Load balancer state.
    for (const info of desired.values()) lb.setService(info.key, info.endpoints, info.affinitySeconds);
    if (pool) {
      for (const info of desired.values()) {
        const l = listeners.get(info.key);
        if (!l || !isTcp(l.sock)) continue;
        const sock = l.sock;
        if (info.affinitySeconds > 0) {
          pool.unshare(info.key); // affinity state must live in one process
          sock.acceptHere();
        } else if (pool.isShared(info.key)) pool.setEndpoints(info.key, info.endpoints);
        else pool.share(info.key, info.name, () => sock.shareable(), info.endpoints);
      }
    }
    // 4. Rules.
    const proxyPorts = new Map([...listeners].filter(([k]) => desired.has(k)).map(([k, l]) => [k, l.port]));
    const hostIP = opts.hostIP ?? nodeIPsOf(input)[0] ?? detectHostIP();
    const next = renderPortalRules([...desired.values()], {
      proxyPorts,
      listenIP,
      hostIP,
      physdev: opts.physdev,
    });
    try {
      await opts.runner.restore(next);
      if (!jumpsEnsured) {
        await ensureJumpRules(opts.runner);
        jumpsEnsured = true;
      }
    } catch (err) {
      metrics.restoreFailures.inc();
      throw err;
    }
    payload = next;
    for (const [table, n] of Object.entries(countRules(next))) metrics.iptablesTotal.set({ table }, n);
    // 5. Close what is gone, now that no rule leads to it.
    for (const [key, l] of [...listeners]) {
      if (desired.has(key)) continue;
      listeners.delete(key);
      lb.removeService(key);
      pool?.unshare(key);
      await closeListener(l);
      if (l.info.protocol === "udp" && opts.conntrack) await clearUdpFlows(opts.conntrack, l.info);
    }
    for (const [c, claim] of [...claims]) {
      if (wantClaims.has(c)) continue;
      claim.close();
      claims.delete(c);
    }
    lastInput = input;
    metrics.syncDuration.observe(Number(process.hrtime.bigint() - t0) / 1e9);
    metrics.syncLastTimestamp.set(Date.now() / 1000);
  }

  const update = (input: UserspaceInput): Promise<void> => {
    if (stopped) return Promise.reject(new Error("userspace proxier stopped"));
    const p = chain.then(() => sync(input));
    chain = p.catch(() => {});
    return p;
  };

  const periodMs = opts.syncPeriodMs ?? 30_000;
  const timer =
    periodMs > 0
      ? setInterval(() => {
          lb.cleanupStaleSessions();
          jumpsEnsured = false; // someone may have flushed PREROUTING/OUTPUT: check again
          if (lastInput) update(lastInput).catch((err) => log.warn("periodic sync failed", { error: String(err) }));
        }, periodMs)
      : null;
  timer?.unref();

  if (opts.input) await update(opts.input);

  return {
    update,
    async stop(stopOpts = {}) {
      if (stopped) return;
      stopped = true;
      if (timer) clearInterval(timer);
      await chain;
      await pool?.stop();
      for (const l of listeners.values()) {
        await l.sock.close();
        if (isTcp(l.sock)) l.sock.destroyConnections();
      }
      listeners.clear();
      for (const c of claims.values()) c.close();
      claims.clear();
      if (stopOpts.cleanup ?? true) await cleanupUserspaceRules(opts.runner);
    },
    proxyPorts: () => new Map([...listeners].map(([k, l]) => [k, l.port])),
    servicePorts: () => new Map([...listeners].map(([k, l]) => [k, l.info])),
    metrics,
    balancer: lb,
    lastPayload: () => payload,
    workersSettled: (ms) => pool?.settled(ms) ?? Promise.resolve(true),
  };
}
