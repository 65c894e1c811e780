/**
 * Probes: HTTP GET (200–399 passes), TCP connect, exec (exit 0 passes); and the pure threshold logic that turns
 * probe outcomes into a Ready/Live/Started verdict (initialDelaySeconds, periodSeconds, success/failureThreshold).
 */
import { connect } from "node:net";
import { request } from "node:http";
import { request as httpsRequest } from "node:https";
import type { Container, Probe } from "../api/core.js";

export type ProbeOutcome = { ok: boolean; message: string };

/** Runs a command in the pod for an exec probe; resolves to its exit code. */
export type ExecInPod = (argv: string[], timeoutMs: number) => Promise<{ code: number; output: string }>;

export function resolvePort(port: number | string, c: Container): number {
  if (typeof port === "number") return port;
  if (/^\d+$/.test(port)) return Number(port);
  const p = (c.ports ?? []).find((x) => x.name === port);
  if (!p) throw new Error(`port ${JSON.stringify(port)} is not a named port of container ${c.name}`);
  return p.containerPort;
}

/** A socket error in Go's words (`connect: connection refused`), as the kubelet's probe messages show it. */
export function dialErrorText(e: Error & { code?: string }): string {
  const go: Record<string, string> = {
    ECONNREFUSED: "connect: connection refused",
    EHOSTUNREACH: "connect: no route to host",
    ENETUNREACH: "connect: network is unreachable",
    ECONNRESET: "read: connection reset by peer",
    ETIMEDOUT: "i/o timeout",
  };
  return (e.code && go[e.code]) || e.message;
}

export function httpProbe(
  host: string,
  port: number,
  path: string,
  timeoutMs: number,
  https = false,
  headers: Record<string, string> = {},
): Promise<ProbeOutcome> {
  return new Promise((resolve) => {
    const fn = https ? httpsRequest : request;
    const req = fn(
      {
        host,
        port,
        path: path || "/",
        timeout: timeoutMs,
        headers: { "user-agent": "kube-probe/1.32", ...headers },
        rejectUnauthorized: false,
      },
      (res) => {
        res.resume();
        const code = res.statusCode ?? 0;
        resolve({ ok: code >= 200 && code < 400, message: `HTTP probe failed with statuscode: ${code}` });
      },
    );
    req.on("timeout", () => req.destroy(new Error(`Get "http://${host}:${port}${path}": context deadline exceeded`)));
    req.on("error", (e) => {
      const url = `${https ? "https" : "http"}://${host}:${port}${path || "/"}`;
      const text = dialErrorText(e);
      resolve({
        ok: false,
        message: text.includes("deadline") ? text : `Get "${url}": dial tcp ${host}:${port}: ${text}`,
      });
    });
    req.end();
  });
}

export function tcpProbe(host: string, port: number, timeoutMs: number): Promise<ProbeOutcome> {
  return new Promise((resolve) => {
    const s = connect({ host, port });
    const timer = setTimeout(() => {
      s.destroy();
      resolve({ ok: false, message: `dial tcp ${host}:${port}: i/o timeout` });
    }, timeoutMs);
    s.on("connect", () => {
      clearTimeout(timer);
      s.destroy();
      resolve({ ok: true, message: "" });
    });
    s.on("error", (e) => {
      clearTimeout(timer);
      resolve({ ok: false, message: `dial tcp ${host}:${port}: ${dialErrorText(e)}` });
    });
  });
}

/** Runs one probe attempt of any kind against a pod. */
export async function runProbe(probe: Probe, c: Container, podIP: string, execInPod: ExecInPod): Promise<ProbeOutcome> {
  const timeoutMs = (probe.timeoutSeconds ?? 1) * 1000;
  try {
    if (probe.httpGet) {
      const g = probe.httpGet;
      const headers: Record<string, string> = {};
      for (const h of g.httpHeaders ?? []) headers[h.name] = h.value;
      return await httpProbe(
        g.host || podIP,
        resolvePort(g.port, c),
        g.path ?? "/",
        timeoutMs,
        g.scheme === "HTTPS",
        headers,
      );
    }
    if (probe.tcpSocket)
      return await tcpProbe(probe.tcpSocket.host || podIP, resolvePort(probe.tcpSocket.port, c), timeoutMs);
    if (probe.exec) {
      const r = await execInPod(probe.exec.command ?? [], timeoutMs);
      return { ok: r.code === 0, message: r.code === 0 ? "" : `command exited ${r.code}: ${r.output.trim()}` };
    }
  } catch (e) {
    return { ok: false, message: e instanceof Error ? e.message : String(e) };
  }
  return { ok: false, message: "probe has no handler" };
}

/** Threshold state of one probe of one container. Pure. */
export interface ProbeState {
  /** Current verdict; readiness starts false, liveness starts true. */
  result: boolean;
  successes: number;
  failures: number;
  lastMessage: string;
}

export function initialProbeState(kind: "readiness" | "liveness" | "startup"): ProbeState {
  return { result: kind === "liveness", successes: 0, failures: 0, lastMessage: "" };
}

/** Applies one outcome to the state under the probe's thresholds. */
export function applyOutcome(s: ProbeState, o: ProbeOutcome, probe: Probe): ProbeState {
  const successThreshold = probe.successThreshold ?? 1;
  const failureThreshold = probe.failureThreshold ?? 3;
  if (o.ok) {
    const successes = s.successes + 1;
    return { result: s.result || successes >= successThreshold, successes, failures: 0, lastMessage: "" };
  }
  const failures = s.failures + 1;
  return { result: s.result && failures < failureThreshold, successes: 0, failures, lastMessage: o.message };
}

/** Where a container's startup probe stands: still probing, passed (liveness/readiness may run), or failed. */
export type StartupVerdict = "pending" | "started" | "failed";

/** The startup verdict after the outcomes in `s`: failed once failureThreshold consecutive attempts failed. */
export function startupVerdict(s: ProbeState, probe: Probe): StartupVerdict {
  if (s.result) return "started";
  return s.failures >= (probe.failureThreshold ?? 3) ? "failed" : "pending";
}

/**
 * Delay before the first attempt of a probe that becomes active `sinceStartMs` after the container started
 * (liveness/readiness wait for the startup probe): initialDelaySeconds counts from the container's start, as in
 * the kubelet's prober worker, so what has elapsed is subtracted.
 */
export function firstProbeDelayMs(probe: Probe, sinceStartMs: number): number {
  return Math.max(0, (probe.initialDelaySeconds ?? 0) * 1000 - sinceStartMs);
}
