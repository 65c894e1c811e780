/**
 * The kubelet: registers its Node and heartbeats its status; watches the pods bound to it
 * (`spec.nodeName=<node>`) and the services (for env vars); runs one PodWorker per pod; writes pod status
 * (debounced merge patches to pods/status); finishes graceful deletions; serves logs/exec over HTTP.
 */
import type { Server } from "node:http";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { ConfigMap, Node, Pod, PodStatus, Secret, Service } from "../api/core.js";
import type { Informer, InformerSource } from "../client/cache.js";
import { type EventRecorder, eventRecorder } from "../client/events.js";
import type { KubeClient } from "../client/types.js";
import { DEFAULT_BACKOFF, type BackoffPolicy } from "./backoff.js";
import { configMapEnvData, secretEnvData } from "./envvars.js";
import type { PodNetwork } from "./network.js";
import { hostFacts, nodeObject, nodeStatus } from "./node.js";
import { buildPodStatus } from "./podstatus.js";
import { type Logger, PodWorker } from "./podworker.js";
import type { PodRuntime } from "./runtime.js";
import { ensureKubeletServingCert } from "./pki.js";
import { type KubeletServerTls, startKubeletServer } from "./server.js";
import { spawnInProcess } from "../netlinux/netns.js";

export interface KubeletOptions {
  nodeName: string;
  nodeIP: string;
  rootDir: string;
  /** Prefix of pod network namespace names (GC removes leftovers with it at start). */
  netnsPrefix: string;
  clusterDNS: string[];
  clusterDomain: string;
  /** Kubelet API server port (0 = ephemeral, -1 = none). */
  port: number;
  /**
   * How the kubelet API is served: HTTPS with these PEM files (like --tls-cert-file/--tls-private-key-file; the
   * sandbox issues them from the cluster CA, src/kubelet/pki.ts), HTTPS with a self-signed certificate kept in
   * `<rootDir>/pki` when absent (what the kubelet does), or plain HTTP when `servingTls` is "none".
   */
  tlsCertFile?: string;
  tlsPrivateKeyFile?: string;
  servingTls?: "https" | "none";
  /** Like --client-ca-file: PEM CA file that verifies callers' client certificates (the apiserver's). */
  clientCAFile?: string;
  /** Like --anonymous-auth (default true, as the kubelet): false answers unauthenticated callers 401. */
  anonymousAuth?: boolean;
  heartbeatMs: number;
  backoff?: BackoffPolicy;
  sandboxRetryMs?: number;
  labels?: Record<string, string>;
  resolvConfPath?: string;
  /** Retry of a container whose ConfigMap/Secret is missing (CreateContainerConfigError); default 10 s. */
  configRetryMs?: number;
  /** Like the kubelet's old --pod-cidr: set on the Node at registration when it has none (sandbox: fixed per node). */
  podCIDR?: string;
}

const nowIso = () => new Date().toISOString().replace(/\.\d+Z$/, "Z");

export class Kubelet {
  private readonly workers = new Map<string, PodWorker>();
  private pods: Informer<Pod> | undefined;
  private services: Informer<Service> | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private server: Server | undefined;
  private readonly pending = new Map<string, NodeJS.Timeout>();
  private stopped = false;
  private lastNodeStatus: Node["status"] | undefined;
  readonly stats = { statusWrites: 0, statusErrors: 0, heartbeats: 0 };
  private readonly events: EventRecorder;

  constructor(
    private readonly opts: KubeletOptions,
    private readonly client: KubeClient,
    private readonly source: InformerSource,
    private readonly runtime: PodRuntime,
    private readonly network: PodNetwork,
    private readonly log: Logger,
  ) {
    this.events = eventRecorder(client, "kubelet", { host: opts.nodeName });
  }

  get port(): number {
    const a = this.server?.address();
    return a && typeof a === "object" ? a.port : this.opts.port;
  }

  async start(): Promise<void> {
    await this.gc();
    if (this.opts.port >= 0) {
      const tls = this.servingCert();
      const auth = {
        anonymous: this.opts.anonymousAuth ?? true,
        ...(this.opts.clientCAFile ? { clientCA: readFileSync(this.opts.clientCAFile, "utf8") } : {}),
      };
      this.server = await startKubeletServer(this.httpBackend(), this.opts.nodeIP, this.opts.port, tls, auth);
      this.log.info(
        {
          addr: `${this.opts.nodeIP}:${this.port}`,
          scheme: tls ? "https" : "http",
          cert: this.certSource,
          clientCA: this.opts.clientCAFile ?? null,
          anonymousAuth: auth.anonymous,
        },
        "kubelet server listening",
      );
    }
    await this.registerNode();
    this.heartbeat = setInterval(() => void this.postNodeStatus(), this.opts.heartbeatMs);
    this.services = this.source.informer<Service>("Service");
    // Service env vars need the services known before the first container starts, as the kubelet waits too.
    await this.services.synced;
    this.pods = this.source.informer<Pod>("Pod", { fieldSelector: `spec.nodeName=${this.opts.nodeName}` });
    this.pods.addHandler({
      onAdd: (p) => this.syncPod(p),
      onUpdate: (_o, p) => this.syncPod(p),
      onDelete: (p) => this.podGone(p),
    });
  }

  private certSource = "";

  private servingCert(): KubeletServerTls | undefined {
    if (this.opts.servingTls === "none") return undefined;
    if (this.opts.tlsCertFile && this.opts.tlsPrivateKeyFile) {
      this.certSource = this.opts.tlsCertFile;
      return {
        cert: readFileSync(this.opts.tlsCertFile, "utf8"),
        key: readFileSync(this.opts.tlsPrivateKeyFile, "utf8"),
      };
    }
    const c = ensureKubeletServingCert({
      dir: join(this.opts.rootDir, "pki"),
      nodeName: this.opts.nodeName,
      ips: [this.opts.nodeIP],
    });
    this.certSource = `self-signed ${c.certPath}`;
    return c;
  }

  /** Start-up GC: pod namespaces and network state left by an earlier run are removed (pods are recreated). */
  private async gc(): Promise<void> {
    const left = this.runtime.leftoverNetns(this.opts.netnsPrefix);
    for (const ns of left) await this.runtime.removeLeftover(ns);
    try {
      await this.network.gc([]);
    } catch (e) {
      this.log.warn({ err: (e as Error).message }, "network GC failed");
    }
    if (left.length) this.log.info({ removed: left }, "removed leftover pod sandboxes");
  }

  private async registerNode(): Promise<void> {
    const id = {
      name: this.opts.nodeName,
      ip: this.opts.nodeIP,
      kubeletPort: this.port,
      labels: this.opts.labels ?? {},
    };
    const facts = hostFacts();
    for (;;) {
      const got = await this.client.get("Node", undefined, this.opts.nodeName);
      if (got.ok) {
        const n = got.value as Node;
        n.metadata.labels = { ...(n.metadata.labels ?? {}), ...nodeObject(id, facts, nowIso()).metadata.labels };
        if (this.opts.podCIDR && !n.spec?.podCIDR)
          n.spec = { ...(n.spec ?? {}), podCIDR: this.opts.podCIDR, podCIDRs: [this.opts.podCIDR] };
        await this.client.update(n);
        break;
      }
      if (got.error.code === 404) {
        const obj = nodeObject(id, facts, nowIso());
        if (this.opts.podCIDR) obj.spec = { podCIDR: this.opts.podCIDR, podCIDRs: [this.opts.podCIDR] };
        const created = await this.client.create(obj);
        if (created.ok) break;
        this.log.warn({ err: created.error.message }, "node registration failed; retrying");
      } else this.log.warn({ err: got.error.message }, "apiserver not reachable; retrying node registration");
      if (this.stopped) return;
      await new Promise((r) => setTimeout(r, 1000));
    }
    this.log.info({ node: this.opts.nodeName, ip: this.opts.nodeIP }, "node registered");
    await this.postNodeStatus();
  }

  private async postNodeStatus(): Promise<void> {
    if (this.stopped) return;
    const id = { name: this.opts.nodeName, ip: this.opts.nodeIP, kubeletPort: this.port };
    const status = nodeStatus(id, hostFacts(), nowIso(), this.lastNodeStatus);
    const r = await this.client.patch("Node", undefined, this.opts.nodeName, { status }, "merge", {
      subresource: "status",
    });
    if (r.ok) {
      this.lastNodeStatus = status;
      this.stats.heartbeats++;
    } else {
      this.log.warn({ err: r.error.message, code: r.error.code }, "node status update failed");
      if (r.error.code === 404) await this.registerNode();
    }
  }

  private workerDeps() {
    return {
      runtime: this.runtime,
      network: this.network,
      services: () => this.services?.list() ?? [],
      envSource: (kind: "ConfigMap" | "Secret", ns: string, name: string) => this.envSource(kind, ns, name),
      configRetryMs: this.opts.configRetryMs ?? 10_000,
      dns: {
        clusterDNS: this.opts.clusterDNS,
        clusterDomain: this.opts.clusterDomain,
        hostResolvConf: readResolv(this.opts.resolvConfPath ?? "/etc/resolv.conf"),
      },
      hostIP: this.opts.nodeIP,
      rootDir: this.opts.rootDir,
      netnsPrefix: this.opts.netnsPrefix,
      backoff: this.opts.backoff ?? DEFAULT_BACKOFF,
      sandboxRetryMs: this.opts.sandboxRetryMs ?? 2000,
      log: this.log,
      changed: (w: PodWorker) => this.scheduleStatus(w),
      event: (pod: Pod, type: "Normal" | "Warning", reason: string, message: string) => {
        if (!this.stopped) this.events.record({ ...pod, apiVersion: "v1", kind: "Pod" }, type, reason, message);
      },
    };
  }

  /**
   * A ConfigMap's or Secret's data for container env, read from the API when the container starts (the
   * kubelet's "Get" strategy; node credentials may read them). null = not found; other errors reject.
   */
  private async envSource(
    kind: "ConfigMap" | "Secret",
    ns: string,
    name: string,
  ): Promise<Record<string, string> | null> {
    const r = await this.client.get(kind, ns, name);
    if (r.ok) return kind === "Secret" ? secretEnvData(r.value as Secret) : configMapEnvData(r.value as ConfigMap);
    if (r.error.code === 404) return null;
    throw new Error(`couldn't get ${kind.toLowerCase()} ${ns}/${name}: ${r.error.message}`);
  }

  private syncPod(pod: Pod): void {
    if (this.stopped) return;
    const uid = pod.metadata.uid ?? "";
    let w = this.workers.get(uid);
    if (!w) {
      const phase = pod.status?.phase;
      if (phase === "Succeeded" || phase === "Failed") return;
      if (pod.metadata.deletionTimestamp) {
        void this.finishDeletion(pod);
        return;
      }
      w = new PodWorker(pod, this.workerDeps());
      this.workers.set(uid, w);
      this.log.info({ pod: w.key, uid }, "pod added");
      void w.start();
      return;
    }
    w.update(pod);
    if (pod.metadata.deletionTimestamp && !w.terminating) {
      const grace = pod.metadata.deletionGracePeriodSeconds ?? pod.spec.terminationGracePeriodSeconds ?? 30;
      const worker = w;
      void worker.terminate(grace).then(() => this.finishDeletion(worker.pod));
    }
  }

  /** Graceful deletion finished on this node: remove the object for good (gracePeriodSeconds=0). */
  private async finishDeletion(pod: Pod): Promise<void> {
    const uid = pod.metadata.uid ?? "";
    const r = await this.client.delete("Pod", pod.metadata.namespace, pod.metadata.name ?? "", {
      gracePeriodSeconds: 0,
      preconditions: { uid },
    });
    if (!r.ok && r.error.code !== 404 && r.error.code !== 409)
      this.log.warn({ pod: pod.metadata.name, err: r.error.message }, "final pod delete failed");
    this.workers.delete(uid);
  }

  private podGone(pod: Pod): void {
    const uid = pod.metadata.uid ?? "";
    const w = this.workers.get(uid);
    if (!w) return;
    const t = this.pending.get(uid);
    if (t) clearTimeout(t);
    this.pending.delete(uid);
    void w
      .terminate(w.terminating ? 0 : (pod.metadata.deletionGracePeriodSeconds ?? 0))
      .then(() => this.workers.delete(uid));
  }

  private scheduleStatus(w: PodWorker): void {
    if (this.pending.has(w.uid) || this.stopped) return;
    this.pending.set(
      w.uid,
      setTimeout(() => {
        this.pending.delete(w.uid);
        void this.writeStatus(w);
      }, 50),
    );
  }

  private async writeStatus(w: PodWorker): Promise<void> {
    if (!this.workers.has(w.uid) || w.terminated) return;
    const built: PodStatus = buildPodStatus(w.pod, w.view(), nowIso());
    // Merge patch: clear fields an earlier status set and this one does not.
    const status: Record<string, unknown> = { reason: null, message: null, ...built };
    const r = await this.client.patch("Pod", w.pod.metadata.namespace, w.pod.metadata.name ?? "", { status }, "merge", {
      subresource: "status",
    });
    if (r.ok) {
      this.stats.statusWrites++;
      const p = r.value as Pod;
      if (p.metadata?.uid === w.uid && p.status) w.pod = { ...w.pod, status: p.status };
    } else {
      this.stats.statusErrors++;
      if (r.error.code !== 404) {
        this.log.warn({ pod: w.key, err: r.error.message }, "pod status update failed; retrying");
        setTimeout(() => this.scheduleStatus(w), 1000);
      }
    }
  }

  private findWorker(ns: string, name: string): PodWorker | undefined {
    for (const w of this.workers.values())
      if (w.pod.metadata.namespace === ns && w.pod.metadata.name === name && !w.terminated) return w;
    return undefined;
  }

  private httpBackend() {
    return {
      podList: () => ({
        kind: "PodList",
        apiVersion: "v1",
        metadata: {},
        items: [...this.workers.values()].map((w) => w.pod),
      }),
      logPath: (ns: string, pod: string, container: string | undefined, previous: boolean) => {
        const w = this.findWorker(ns, pod);
        const c = w?.container(container);
        if (!w || !c) return undefined;
        const n = previous ? c.restartCount - 1 : c.restartCount;
        if (n < 0) return null;
        return join(this.opts.rootDir, "pods", w.uid, c.spec.name, `${n}.log`);
      },
      execTarget: (ns: string, pod: string, container: string | undefined) => {
        const w = this.findWorker(ns, pod);
        const c = w?.container(container);
        const sb = w?.sandbox;
        if (!w || !c || !sb) return undefined;
        return {
          spawn: (argv: string[]) =>
            spawnInProcess(sb.pausePid, sb.kinds, argv[0] ?? "sh", argv.slice(1), {
              env: c.env,
              wd: c.spec.workingDir || "/",
              stdio: ["pipe", "pipe", "pipe"],
            }),
        };
      },
    };
  }

  /** Pod workers (tests and metrics). */
  workerList(): PodWorker[] {
    return [...this.workers.values()];
  }

  /**
   * Stops watching and heartbeating. Pods keep running (as containers outlive a kubelet) unless `killPods`;
   * the next start's GC removes them.
   */
  async stop(killPods = false): Promise<void> {
    this.stopped = true;
    if (this.heartbeat) clearInterval(this.heartbeat);
    for (const t of this.pending.values()) clearTimeout(t);
    this.pods?.stop();
    this.services?.stop();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
    this.server?.closeAllConnections();
    if (killPods) await Promise.all([...this.workers.values()].map((w) => w.terminate(0)));
  }
}

function readResolv(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return "";
  }
}
