/** What every controller gets: the client to write with, shared informers to read from, a logger and a clock. */
import type { ClientLogger, EventRecorder, InformerSource, KubeClient } from "../client/index.js";

export interface ControllerContext {
  client: KubeClient;
  source: InformerSource;
  log: ClientLogger;
  /** Events for `kubectl describe` (reason and message as kube-controller-manager writes them). */
  events: EventRecorder;
  now: () => Date;
  /** Worker count per controller (default 2). */
  workers?: number;
  /** Workers of the EndpointSlice and Endpoints controllers each (their writes follow every Service create). */
  endpointWorkers?: number;
  /** Periodic full re-enqueue, the safety net of a level-driven loop (default 30 s). */
  resyncMs?: number;
}

export interface RunningController {
  readonly name: string;
  stop(): Promise<void>;
}
