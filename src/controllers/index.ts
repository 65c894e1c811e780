/**
 * podwire's controller manager. `startControllers` runs the chosen controllers in this process against an
 * apiserver (a KubeClient, or a kubeconfig path), sharing one set of informers:
 *
 * | name                  | does                                                                           |
 * |-----------------------|--------------------------------------------------------------------------------|
 * | deployment            | Deployment → ReplicaSets (rolling update with maxSurge/maxUnavailable, Recreate,|
 * |                       | revision annotation, pod-template-hash, revision history, status)              |
 * | replicaset            | ReplicaSet → Pods (create/delete/adopt, status)                                |
 * | replicationcontroller | ReplicationController → Pods (same logic)                                      |
 * | endpointslice         | Service + Pods → EndpointSlices (ready/serving/terminating, ≤100 per slice)    |
 * | endpoints             | Service + Pods → legacy Endpoints                                              |
 * | nodelifecycle         | missed heartbeats → node conditions Unknown + taint → pods' Ready=False        |
 * | nodeipam              | a podCIDR per node from the cluster CIDR(s)                                    |
 *
 * Example (inside `podwire server`): `const cm = startControllers({ client, clusterCIDR: "10.244.0.0/16" });
 * …; await cm.stop();`
 */
import {
  ApiSource,
  type ClientLogger,
  connect,
  eventRecorder,
  type KubeClient,
  silentLogger,
} from "../client/index.js";
import type { ControllerContext, RunningController } from "./context.js";
import { startDeploymentController } from "./deployment-controller.js";
import { startEndpointSliceController, startEndpointsController } from "./endpoints-controller.js";
import { startNodeIpamController, startNodeLifecycleController } from "./node-controllers.js";
import { startReplicaController } from "./replicaset-controller.js";

export const allControllers = [
  "deployment",
  "replicaset",
  "replicationcontroller",
  "endpointslice",
  "endpoints",
  "nodelifecycle",
  "nodeipam",
] as const;
export type ControllerName = (typeof allControllers)[number];

export interface ControllersOptions {
  /** Use this client (in-process), or connect with this kubeconfig. */
  client?: KubeClient;
  kubeconfig?: string;
  /** Which controllers; `*` = all, `-name` removes one (like kube-controller-manager's --controllers). Default all. */
  controllers?: string[];
  /** Cluster CIDR(s) for node IPAM, comma-separated or a list; node IPAM is skipped without one. */
  clusterCIDR?: string | string[];
  /** Per-node prefix length (IPv4 default 24; IPv6 default 64). */
  nodeCIDRMaskSize?: number;
  nodeCIDRMaskSizeIPv6?: number;
  /** Seconds without a node heartbeat before it is marked Unknown (default 50, kube-controller-manager 1.32). */
  nodeMonitorGracePeriod?: number;
  /** Seconds a pod stays on a node that is not Ready before it is evicted (default 300; -1 = never). */
  podEvictionTimeout?: number;
  /** Seconds between node health checks (default 5). */
  nodeMonitorPeriod?: number;
  /** Workers per controller (default 2). */
  workers?: number;
  /**
   * Workers of the EndpointSlice and of the Endpoints controller (default 8; kube-controller-manager's
   * --concurrent-service-endpoint-syncs/--concurrent-endpointslice-syncs). Each Service create brings one write
   * from each, so with fewer workers than the clients creating Services the controllers fall behind.
   */
  endpointWorkers?: number;
  /** Full re-sync interval in seconds (default 30). */
  resyncPeriod?: number;
  log?: ClientLogger;
  now?: () => Date;
}

export interface ControllerManager {
  readonly running: readonly string[];
  /** Resolves once every informer the controllers use has its first list. */
  readonly synced: Promise<void>;
  stop(): Promise<void>;
}

/** Expands a --controllers list into names (throws on an unknown name). */
export function selectControllers(list: readonly string[] | undefined): ControllerName[] {
  const items =
    list && list.length > 0
      ? list
          .flatMap((s) => s.split(","))
          .map((s) => s.trim())
          .filter(Boolean)
      : ["*"];
  const known = new Set<string>(allControllers);
  const on = new Set<ControllerName>();
  // Only removals (`-nodeipam`) mean "all but these".
  if (items.every((it) => it.startsWith("-"))) for (const c of allControllers) on.add(c);
  for (const it of items) {
    if (it === "*") for (const c of allControllers) on.add(c);
    else if (it.startsWith("-")) {
      if (!known.has(it.slice(1)))
        throw new Error(`unknown controller: ${it.slice(1)} (known: ${allControllers.join(", ")})`);
      on.delete(it.slice(1) as ControllerName);
    } else {
      if (!known.has(it)) throw new Error(`unknown controller: ${it} (known: ${allControllers.join(", ")})`);
      on.add(it as ControllerName);
    }
  }
  return allControllers.filter((c) => on.has(c));
}

export function startControllers(opts: ControllersOptions): ControllerManager {
  const names = selectControllers(opts.controllers);
  const ownClient = !opts.client;
  const client = opts.client ?? connect({ kubeconfig: opts.kubeconfig, userAgent: "podwire-controller-manager" });
  const log = opts.log ?? silentLogger;
  const source = new ApiSource(client, { log });
  const ctx: ControllerContext = {
    client,
    source,
    log,
    events: eventRecorder(client, "podwire-controller-manager", { log }),
    now: opts.now ?? (() => new Date()),
    workers: opts.workers ?? 2,
    endpointWorkers: opts.endpointWorkers ?? 8,
    resyncMs: (opts.resyncPeriod ?? 30) * 1000,
  };
  const clusterCIDRs = (Array.isArray(opts.clusterCIDR) ? opts.clusterCIDR : (opts.clusterCIDR ?? "").split(","))
    .map((s) => s.trim())
    .filter(Boolean);
  const running: RunningController[] = [];
  for (const n of names) {
    switch (n) {
      case "deployment":
        running.push(startDeploymentController(ctx));
        break;
      case "replicaset":
        running.push(startReplicaController(ctx, "ReplicaSet"));
        break;
      case "replicationcontroller":
        running.push(startReplicaController(ctx, "ReplicationController"));
        break;
      case "endpointslice":
        running.push(startEndpointSliceController(ctx));
        break;
      case "endpoints":
        running.push(startEndpointsController(ctx));
        break;
      case "nodelifecycle":
        running.push(
          startNodeLifecycleController(ctx, {
            gracePeriodMs: (opts.nodeMonitorGracePeriod ?? 50) * 1000,
            monitorPeriodMs: (opts.nodeMonitorPeriod ?? 5) * 1000,
            evictionSeconds: opts.podEvictionTimeout ?? 300,
          }),
        );
        break;
      case "nodeipam":
        if (clusterCIDRs.length === 0) {
          log.info?.({}, "node IPAM off: no cluster CIDR");
          break;
        }
        running.push(
          startNodeIpamController(ctx, {
            clusterCIDRs,
            maskSizeV4: opts.nodeCIDRMaskSize,
            maskSizeV6: opts.nodeCIDRMaskSizeIPv6,
          }),
        );
        break;
    }
  }
  return {
    running: running.map((r) => r.name),
    synced: Promise.all(source.all().map((i) => i.synced)).then(() => undefined),
    stop: async () => {
      await Promise.all(running.map((r) => r.stop()));
      source.stop();
      if (ownClient) client.close();
    },
  };
}

export type { ControllerContext, RunningController } from "./context.js";
