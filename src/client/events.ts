/**
 * EventRecorder: writes core/v1 Events about objects (what `kubectl describe` shows under "Events:"), like
 * client-go's recorder: a repeat of the same reason+message for the same object raises `count` and
 * `lastTimestamp` on the existing Event instead of creating another. Fire-and-forget: failures are logged.
 */
import type { Event, KubeObject } from "../api/index.js";
import { type ClientLogger, silentLogger } from "./cache.js";
import type { KubeClient } from "./types.js";

export interface EventRecorder {
  /** `record(pod, "Normal", "Scheduled", "Successfully assigned default/web-1 to n1")` */
  record(obj: KubeObject, type: "Normal" | "Warning", reason: string, message: string): void;
}

const ts = (d: Date) => d.toISOString().replace(/\.\d+Z$/, "Z");

export function eventRecorder(
  client: KubeClient,
  component: string,
  opts: { log?: ClientLogger; now?: () => Date; host?: string } = {},
): EventRecorder {
  const log = opts.log ?? silentLogger;
  const now = opts.now ?? (() => new Date());
  // key → name and count of the Event already written (bounded: oldest entries dropped).
  const seen = new Map<string, { name: string; namespace: string; count: number }>();
  return {
    record(obj, type, reason, message) {
      const namespace = obj.metadata.namespace || "default";
      const key = `${obj.kind}/${namespace}/${obj.metadata.name}/${obj.metadata.uid}/${type}/${reason}/${message}`;
      const t = ts(now());
      const prev = seen.get(key);
      if (prev) {
        prev.count++;
        const count = prev.count;
        void client.patch("Event", prev.namespace, prev.name, { count, lastTimestamp: t }, "merge").then((r) => {
          if (!r.ok) log.debug?.({ err: r.error.message }, "event update failed");
        });
        return;
      }
      const name = `${obj.metadata.name}.${Date.now().toString(16)}${Math.floor(Math.random() * 0xfff).toString(16)}`;
      seen.set(key, { name, namespace, count: 1 });
      if (seen.size > 2000) seen.delete(seen.keys().next().value as string);
      const ev: Event = {
        apiVersion: "v1",
        kind: "Event",
        metadata: { name, namespace },
        involvedObject: {
          kind: obj.kind,
          namespace: obj.metadata.namespace,
          name: obj.metadata.name,
          uid: obj.metadata.uid,
          apiVersion: obj.apiVersion,
          resourceVersion: obj.metadata.resourceVersion,
        },
        reason,
        message,
        type,
        source: { component, ...(opts.host ? { host: opts.host } : {}) },
        firstTimestamp: t,
        lastTimestamp: t,
        count: 1,
        reportingComponent: component,
        reportingInstance: opts.host ?? "",
      };
      void client.create(ev).then((r) => {
        if (!r.ok) {
          seen.delete(key);
          log.debug?.({ err: r.error.message }, "event create failed");
        }
      });
    },
  };
}
