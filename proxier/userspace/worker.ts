/**
 * A TCP data-plane worker process (`--proxy-workers`): accepts on listening sockets the primary bound and
 * passed over IPC, and proxies with its own load balancer copy. Several processes accepting on one socket
 * spread connections over CPUs and spread the fds (two per connection) over several processes' limits.
 * Only services without ClientIP affinity are shared (affinity state lives in one process: the primary).
 */
import type { SendHandle } from "node:child_process";
import { RoundRobinBalancer } from "./loadbalancer.js";
import { UserspaceMetrics } from "./metrics.js";
import { type TcpPortal, createTcpProxySocket, tcpImplementation } from "./tcp.js";

export type ToWorker =
  | { type: "open"; key: string; name: string; dialTimeoutsMs?: number[] }
  | { type: "lb"; key: string; endpoints: string[] }
  | { type: "close"; key: string }
  | { type: "stop" };

export interface ServiceCounters {
  accepted: number;
  active: number;
  bytesIn: number;
  bytesOut: number;
  dialFailures: number;
  noEndpoints: number;
}

export type FromWorker =
  | { type: "ready" }
  | { type: "opened"; key: string; handOff?: boolean }
  | { type: "metrics"; services: Record<string, ServiceCounters> };

async function metricValues(m: UserspaceMetrics): Promise<Record<string, ServiceCounters>> {
  const out: Record<string, ServiceCounters> = {};
  const get = (svc: string) =>
    (out[svc] ??= { accepted: 0, active: 0, bytesIn: 0, bytesOut: 0, dialFailures: 0, noEndpoints: 0 });
  for (const v of (await m.connectionsTotal.get()).values) get(String(v.labels.service)).accepted += v.value;
  for (const v of (await m.activeConnections.get()).values) get(String(v.labels.service)).active += v.value;
  for (const v of (await m.bytes.get()).values) {
    if (v.labels.direction === "in") get(String(v.labels.service)).bytesIn += v.value;
    else get(String(v.labels.service)).bytesOut += v.value;
  }
  for (const v of (await m.dialFailures.get()).values) get(String(v.labels.service)).dialFailures += v.value;
  for (const v of (await m.noEndpoints.get()).values) get(String(v.labels.service)).noEndpoints += v.value;
  return out;
}

function main(): void {
  const lb = new RoundRobinBalancer();
  const metrics = new UserspaceMetrics();
  const sockets = new Map<string, TcpPortal>();
  const send = (m: FromWorker) => process.send?.(m);
  const report = async () => send({ type: "metrics", services: await metricValues(metrics) });
  const timer = setInterval(() => void report(), 500);
  process.on("message", (msg: ToWorker, handle?: unknown) => {
    switch (msg.type) {
      case "open": {
        if (!handle || sockets.has(msg.key)) return;
        const s = createTcpProxySocket({ key: msg.key, name: msg.name }, lb, metrics, msg.dialTimeoutsMs);
        sockets.set(msg.key, s);
        s.listenOn(handle).then(
          () => {
            // With Node's handles or the native engine, send the socket back: the primary keeps that (unwatched)
            // descriptor and stops accepting itself, so this process is the only one woken for new connections.
            if (tcpImplementation !== "net")
              process.send?.({ type: "opened", key: msg.key, handOff: true }, handle as SendHandle);
            else send({ type: "opened", key: msg.key });
          },
          () => sockets.delete(msg.key),
        );
        break;
      }
      case "lb":
        lb.setService(msg.key, msg.endpoints, 0);
        break;
      case "close": {
        const s = sockets.get(msg.key);
        sockets.delete(msg.key);
        lb.removeService(msg.key);
        void s?.close();
        break;
      }
      case "stop":
        clearInterval(timer);
        for (const s of sockets.values()) {
          void s.close();
          s.destroyConnections();
        }
        void report().finally(() => process.exit(0));
        break;
    }
  });
  process.on("disconnect", () => process.exit(0)); // the primary is gone
  send({ type: "ready" });
}

main();
