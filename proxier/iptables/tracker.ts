/**
 * Change tracking: informer callbacks only record here (like kube-proxy's ServiceChangeTracker /
 * EndpointsChangeTracker); the sync loop reads a snapshot. Tracks which Services (`ns/name`) changed since the
 * last successful sync and the EndpointSlice trigger times for the network-programming-latency metric.
 *
 * With `ingest` set, each added or updated object's model is built when its event arrives (model.ts, memoised per
 * object): a Service's ports with their SVC/SVL/EXT/FW chain names, as kube-proxy's ServiceChangeTracker.Update
 * does (newServiceInfo), and an EndpointSlice's endpoints with their SEP chain names. The latter is earlier than
 * kube-proxy, whose endpoint infos (newEndpointInfo, the SEP hash) are built inside syncProxyRules
 * (endpointsMap.Update → EndpointSliceCache.checkoutChanges). The sync then renders from the built model.
 */
import type { EndpointSlice, Node, Service } from "../../src/api/index.js";
import type { Family } from "./ip.js";
import { endpointsOfSlice, servicePortsOfService, sliceServiceKey } from "./model.js";

const TRIGGER_ANNOTATION = "endpoints.kubernetes.io/last-change-trigger-time";

function key(o: { metadata: { namespace?: string; name?: string } }): string {
  return `${o.metadata.namespace ?? "default"}/${o.metadata.name ?? ""}`;
}

/** When a service's first Service / EndpointSlice event since the last sync arrived (ms since epoch). */
export interface ChangeTimes {
  service?: number;
  slice?: number;
}

/** What the model is built for at event time (the proxier's family and node). */
export interface IngestConfig {
  family: Family;
  nodeName: string;
}

export class ChangeTracker {
  readonly services = new Map<string, Service>();
  readonly slices = new Map<string, EndpointSlice>();
  node: Node | undefined;
  /** Services whose Service or EndpointSlices changed since the last clearChanges(). */
  readonly changed = new Set<string>();
  /** First event times of the services in `changed` (for the proxier's programming trace). */
  readonly changedAt = new Map<string, ChangeTimes>();
  /** Trigger times (ms since epoch) of endpoint changes not yet programmed. */
  readonly triggerTimes: number[] = [];
  /** Node labels changed: kube-proxy does a full sync then. */
  topologyChanged = false;

  constructor(
    private readonly now: () => number = Date.now,
    private readonly ingest?: IngestConfig,
  ) {}

  /** Records a Service add/update (`svc`) or delete (`svc` undefined). Returns true when a sync is needed. */
  serviceUpdate(old: Service | undefined, svc: Service | undefined): boolean {
    const k = key((svc ?? old)!);
    if (svc) {
      this.services.set(k, svc);
      if (this.ingest) warm(() => servicePortsOfService(svc, this.ingest!.family));
    } else this.services.delete(k);
    this.changed.add(k);
    this.stamp(k, "service");
    return true;
  }

  sliceUpdate(slice: EndpointSlice, deleted: boolean): boolean {
    const k = key(slice);
    if (deleted) this.slices.delete(k);
    else {
      this.slices.set(k, slice);
      if (this.ingest) {
        const { family, nodeName } = this.ingest;
        warm(() => endpointsOfSlice(slice, family, nodeName));
      }
    }
    const svc = sliceServiceKey(slice);
    if (!svc) return false;
    this.changed.add(svc);
    this.stamp(svc, "slice");
    const t = slice.metadata.annotations?.[TRIGGER_ANNOTATION];
    if (t && !deleted) {
      const ms = Date.parse(t);
      if (!Number.isNaN(ms)) this.triggerTimes.push(ms);
    }
    return true;
  }

  /** Records this node's object; a label change forces the next sync to be full. */
  nodeUpdate(node: Node | undefined): boolean {
    const before = JSON.stringify(this.node?.metadata.labels ?? {});
    const after = JSON.stringify(node?.metadata.labels ?? {});
    this.node = node;
    if (before !== after) this.topologyChanged = true;
    return true;
  }

  private stamp(k: string, what: keyof ChangeTimes): void {
    const e = this.changedAt.get(k);
    if (!e) this.changedAt.set(k, { [what]: this.now() });
    else e[what] ??= this.now();
  }

  clearChanges(): void {
    this.changed.clear();
    this.changedAt.clear();
    this.triggerTimes.length = 0;
    this.topologyChanged = false;
  }
}

/** Builds an object's model ahead of the sync. Only a cache warm-up: an object the model cannot take fails in the
 * sync that renders it (logged and retried there), not in the informer's event handler. */
function warm(build: () => unknown): void {
  try {
    build();
  } catch {
    // the sync reports it
  }
}
