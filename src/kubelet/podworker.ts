/**
 * One pod's lifecycle on this node: sandbox (netns + CNI + pause), containers as processes with restartPolicy and
 * back-off, probes driving readiness and liveness restarts, graceful termination. It reports every change through
 * `deps.changed`; the kubelet turns the worker's view into a PodStatus and writes it (debounced).
 */
import { join } from "node:path";
import type { Container, Pod, Service } from "../api/core.js";
import { resolveImage } from "../images/catalog.js";
import { type BackoffPolicy, RestartBackoff, shouldRestart } from "./backoff.js";
import {
  buildContainerEnv,
  type ContainerEnvResult,
  type EnvSources,
  expandArgv,
  referencedSources,
} from "./envvars.js";
import { type PodNetwork, type PodNetworkRef, podPortMappings } from "./network.js";
import type { ContainerView, PodView } from "./podstatus.js";
import {
  applyOutcome,
  firstProbeDelayMs,
  initialProbeState,
  type ProbeState,
  runProbe,
  startupVerdict,
} from "./probes.js";
import { type DnsSettings, formatResolvConf, podHostsFile, podResolvConf } from "./resolvconf.js";
import { type ContainerProcess, type PodRuntime, type Sandbox, signalNumber } from "./runtime.js";

export interface Logger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  debug(obj: object, msg?: string): void;
}

export interface PodWorkerDeps {
  runtime: PodRuntime;
  network: PodNetwork;
  services(): readonly Service[];
  /**
   * Data of a ConfigMap or Secret (Secret values decoded) the container's env refers to; null = not found.
   * Rejects on any other failure (the container then waits with CreateContainerConfigError and is retried).
   */
  envSource(kind: "ConfigMap" | "Secret", namespace: string, name: string): Promise<Record<string, string> | null>;
  /** Delay before retrying a container whose config (ConfigMap/Secret) could not be resolved (kubelet: 10 s). */
  configRetryMs: number;
  dns: DnsSettings;
  hostIP: string;
  rootDir: string;
  netnsPrefix: string;
  backoff: BackoffPolicy;
  /** Delay between sandbox creation attempts (CNI may say "try again later" until the overlay is up). */
  sandboxRetryMs: number;
  log: Logger;
  changed(w: PodWorker): void;
  /** Records an Event about the pod (what `kubectl describe pod` lists), as the kubelet does; optional. */
  event?(pod: Pod, type: "Normal" | "Warning", reason: string, message: string): void;
}

interface ContainerRun {
  spec: Container;
  /** An init container: runs to completion, in order, before the app containers start. */
  init: boolean;
  image: string;
  proc?: ContainerProcess;
  restartCount: number;
  state: ContainerView["state"];
  last?: ContainerView["last"];
  started: boolean;
  ready: boolean;
  willRestart: boolean;
  startedAtMs: number;
  backoff: RestartBackoff;
  timers: NodeJS.Timeout[];
  readiness: ProbeState;
  liveness: ProbeState;
  startup: ProbeState;
  /** Resolving env (ConfigMaps/Secrets) before a start; guards against a second concurrent start. */
  starting: boolean;
  env: Record<string, string>;
  /** Why the kubelet killed it (liveness), reported as the terminated message. */
  killMessage?: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const nowIso = () => new Date().toISOString().replace(/\.\d+Z$/, "Z");

export class PodWorker {
  pod: Pod;
  sandbox: Sandbox | null = null;
  podIPs: string[] = [];
  readonly containers = new Map<string, ContainerRun>();
  /** spec.initContainers in order; `initDone` once every one has exited 0. */
  readonly initContainers: ContainerRun[] = [];
  private initDone = false;
  sandboxError: { reason: string; message: string } | undefined;
  terminating = false;
  terminated = false;
  readonly startTime = nowIso();
  private retryTimer: NodeJS.Timeout | undefined;
  private netRef: PodNetworkRef | null = null;

  constructor(
    pod: Pod,
    private readonly deps: PodWorkerDeps,
  ) {
    this.pod = pod;
    const inits = pod.spec.initContainers ?? [];
    // With init containers pending, everything waits as "PodInitializing" (what the kubelet reports).
    const waiting = inits.length ? "PodInitializing" : "ContainerCreating";
    const run = (c: Container, init: boolean): ContainerRun => ({
      spec: c,
      init,
      image: c.image ?? "",
      restartCount: 0,
      state: { kind: "waiting", reason: waiting },
      started: false,
      ready: false,
      willRestart: true,
      startedAtMs: 0,
      backoff: new RestartBackoff(deps.backoff),
      timers: [],
      readiness: initialProbeState("readiness"),
      liveness: initialProbeState("liveness"),
      startup: initialProbeState("startup"),
      starting: false,
      env: {},
    });
    for (const c of inits) this.initContainers.push(run(c, true));
    this.initDone = inits.length === 0;
    for (const c of pod.spec.containers) this.containers.set(c.name, run(c, false));
  }

  private event(type: "Normal" | "Warning", reason: string, message: string): void {
    this.deps.event?.(this.pod, type, reason, message);
  }

  get uid(): string {
    return this.pod.metadata.uid ?? "";
  }

  get key(): string {
    return `${this.pod.metadata.namespace ?? "default"}/${this.pod.metadata.name ?? ""}`;
  }

  get netnsName(): string | null {
    return this.pod.spec.hostNetwork ? null : `${this.deps.netnsPrefix}${this.uid.replace(/-/g, "").slice(0, 12)}`;
  }

  view(): PodView {
    const v: PodView = {
      podIPs: this.pod.spec.hostNetwork ? [this.deps.hostIP] : this.podIPs,
      hostIP: this.deps.hostIP,
      startTime: this.startTime,
      terminating: this.terminating,
      containers: [...this.containers.values()].map((c) => this.containerView(c)),
    };
    if (this.initContainers.length) v.initContainers = this.initContainers.map((c) => this.containerView(c));
    if (this.sandboxError) v.sandboxError = this.sandboxError;
    return v;
  }

  private containerView(c: ContainerRun): ContainerView {
    const cv: ContainerView = {
      name: c.spec.name,
      image: c.image,
      restartCount: c.restartCount,
      ready: c.ready,
      started: c.started,
      state: c.state,
      willRestart: c.willRestart,
    };
    if (c.last) cv.last = c.last;
    if (c.proc) cv.containerID = `${this.uid}-${c.spec.name}-${c.restartCount}`;
    return cv;
  }

  /** Creates the sandbox and starts the containers; retries sandbox failures until the pod goes away. */
  async start(): Promise<void> {
    try {
      await this.createSandbox();
      this.sandboxError = undefined;
    } catch (e) {
      const message = e instanceof Error ? e.message : String(e);
      this.sandboxError = { reason: "FailedCreatePodSandBox", message };
      for (const c of this.allContainers())
        if (c.state.kind === "waiting") c.state = { kind: "waiting", reason: c.state.reason, message };
      this.deps.log.warn({ pod: this.key, err: message }, "pod sandbox creation failed; retrying");
      this.event("Warning", "FailedCreatePodSandBox", `Failed to create pod sandbox: ${message}`);
      this.deps.changed(this);
      await this.cleanupSandbox();
      if (!this.terminating) this.retryTimer = setTimeout(() => void this.start(), this.deps.sandboxRetryMs);
      return;
    }
    if (this.terminating) return;
    await this.startNext();
    this.deps.changed(this);
  }

  private allContainers(): ContainerRun[] {
    return [...this.initContainers, ...this.containers.values()];
  }

  /** The first init container that has not completed, or (all completed) every app container. */
  private async startNext(): Promise<void> {
    if (!this.initDone) {
      const next = this.initContainers.find((c) => !(c.state.kind === "terminated" && c.state.exitCode === 0));
      if (next) {
        await this.startContainer(next);
        return;
      }
      this.initDone = true;
    }
    await Promise.all([...this.containers.values()].map((c) => this.startContainer(c)));
  }

  private async createSandbox(): Promise<void> {
    const ns = this.netnsName;
    const dir = join(this.deps.rootDir, "pods", this.uid);
    const name = this.pod.metadata.name ?? "pod";
    const hostname = this.pod.spec.hostname ?? name;
    const t0 = Date.now();
    let tNetns = t0;
    let tCni = t0;
    if (ns) {
      await this.deps.runtime.createNetns(ns);
      tNetns = Date.now();
      this.netRef = {
        uid: this.uid,
        namespace: this.pod.metadata.namespace ?? "default",
        name,
        netnsPath: `/run/netns/${ns}`,
        ifname: "eth0",
        portMappings: podPortMappings(this.pod),
      };
      const r = await this.deps.network.setUp(this.netRef);
      this.podIPs = r.ips;
      tCni = Date.now();
    }
    const resolv = formatResolvConf(podResolvConf(this.pod, this.deps.dns));
    const ips = ns ? this.podIPs : [this.deps.hostIP];
    const sub = this.pod.spec.subdomain;
    const fqdn = sub
      ? `${hostname}.${sub}.${this.pod.metadata.namespace ?? "default"}.svc.${this.deps.dns.clusterDomain}`
      : undefined;
    this.sandbox = await this.deps.runtime.startSandbox(
      { uid: this.uid, hostname, netns: ns, dir },
      resolv,
      podHostsFile(hostname, ips, fqdn),
    );
    const t = Date.now();
    this.deps.log.info(
      {
        pod: this.key,
        ips: this.podIPs,
        netns: ns,
        ms: { netns: tNetns - t0, cni: tCni - tNetns, holder: t - Math.max(tCni, tNetns), total: t - t0 },
      },
      "pod sandbox ready",
    );
  }

  private async cleanupSandbox(): Promise<void> {
    try {
      if (this.netRef) await this.deps.network.tearDown(this.netRef);
    } catch (e) {
      this.deps.log.warn({ pod: this.key, err: (e as Error).message }, "network teardown failed");
    }
    try {
      if (this.sandbox) await this.deps.runtime.removeSandbox(this.sandbox);
      else if (this.netnsName) await this.deps.runtime.removeLeftover(this.netnsName);
    } catch (e) {
      this.deps.log.warn({ pod: this.key, err: (e as Error).message }, "sandbox removal failed");
    }
    this.sandbox = null;
  }

  /** Fetches what the container's env refers to and builds it; a fetch failure is a config error too. */
  private async containerEnvironment(c: ContainerRun): Promise<ContainerEnvResult> {
    const ns = this.pod.metadata.namespace ?? "default";
    const refs = referencedSources(c.spec);
    const fetchAll = async (kind: "ConfigMap" | "Secret", names: string[]) =>
      new Map(await Promise.all(names.map(async (n) => [n, await this.deps.envSource(kind, ns, n)] as const)));
    let sources: EnvSources;
    try {
      sources = {
        configMaps: await fetchAll("ConfigMap", refs.configMaps),
        secrets: await fetchAll("Secret", refs.secrets),
      };
    } catch (e) {
      return { ok: false, message: e instanceof Error ? e.message : String(e) };
    }
    const podIPs = this.view().podIPs;
    return buildContainerEnv(
      this.pod,
      c.spec,
      this.deps.services(),
      { podIP: podIPs[0] ?? "", podIPs, hostIP: this.deps.hostIP },
      sources,
    );
  }

  private async startContainer(c: ContainerRun): Promise<void> {
    const sb = this.sandbox;
    if (!sb || this.terminating || c.proc || c.starting) return;
    const img = resolveImage(c.spec);
    if (!img.ok) {
      c.state = { kind: "waiting", reason: img.reason, message: img.message };
      c.willRestart = false;
      this.deps.log.warn({ pod: this.key, container: c.spec.name, err: img.message }, "image not runnable");
      this.event("Warning", "Failed", `Error: ${img.reason}: ${img.message}`);
      return;
    }
    c.starting = true;
    let built: ContainerEnvResult;
    try {
      built = await this.containerEnvironment(c);
    } finally {
      c.starting = false;
    }
    if (this.terminating || this.sandbox !== sb || c.proc) return;
    if (!built.ok) {
      // As the kubelet: the container is not created; the pod worker retries on its next sync.
      c.state = { kind: "waiting", reason: "CreateContainerConfigError", message: built.message };
      this.deps.log.warn({ pod: this.key, container: c.spec.name, err: built.message }, "container config error");
      this.event("Warning", "Failed", `Error: ${built.message}`);
      c.timers.push(
        setTimeout(() => {
          void this.startContainer(c).then(() => this.deps.changed(this));
        }, this.deps.configRetryMs),
      );
      this.deps.changed(this);
      return;
    }
    if (built.invalidKeys.length)
      this.deps.log.warn(
        { pod: this.key, container: c.spec.name, keys: built.invalidKeys },
        "envFrom keys skipped: invalid environment variable names",
      );
    if (built.invalidKeys.length)
      this.event(
        "Warning",
        "InvalidEnvironmentVariableNames",
        `Keys [${built.invalidKeys.join(", ")}] from the EnvFrom of container ${c.spec.name} were skipped since they are considered invalid environment variable names.`,
      );
    const envMap = built.env;
    const env: Record<string, string> = {
      PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
      HOSTNAME: this.pod.spec.hostname ?? this.pod.metadata.name ?? "",
      HOME: "/root",
    };
    for (const [k, v] of envMap) env[k] = v;
    c.env = env;
    const args = img.builtin
      ? [img.args[0] ?? "", ...expandArgv(img.args.slice(1), envMap)]
      : expandArgv(img.args, envMap);
    const file = img.builtin ? img.file : (expandArgv([img.file], envMap)[0] ?? "");
    const logPath = join(sb.dir, c.spec.name, `${c.restartCount}.log`);
    const start: Parameters<PodRuntime["startContainer"]>[1] = { file, args, env, logPath };
    if (c.spec.workingDir) start.workingDir = c.spec.workingDir;
    const proc = this.deps.runtime.startContainer(sb, start);
    c.proc = proc;
    c.startedAtMs = Date.now();
    c.state = { kind: "running", startedAt: nowIso() };
    // Started (and so Ready) waits for the startup probe when there is one; an init container is ready only
    // once it has completed.
    c.started = c.init || !c.spec.startupProbe;
    c.ready = !c.init && c.started && !c.spec.readinessProbe;
    c.readiness = initialProbeState("readiness");
    c.liveness = initialProbeState("liveness");
    c.startup = initialProbeState("startup");
    c.killMessage = undefined;
    this.deps.log.info(
      { pod: this.key, container: c.spec.name, pid: proc.pid, restart: c.restartCount },
      "container started",
    );
    this.event("Normal", "Started", `Started container ${c.spec.name}`);
    if (!c.init) this.startProbes(c, proc);
    void proc.exited.then((r) => this.onExit(c, proc, r.code, r.signal));
  }

  private onExit(c: ContainerRun, proc: ContainerProcess, code: number, signal: NodeJS.Signals | null): void {
    if (c.proc !== proc) return;
    for (const t of c.timers) clearTimeout(t);
    c.timers = [];
    c.proc = undefined;
    const finishedAt = nowIso();
    const startedAt = c.state.kind === "running" ? c.state.startedAt : undefined;
    const reason = code === 0 ? "Completed" : "Error";
    c.state = {
      kind: "terminated",
      exitCode: code,
      reason,
      finishedAt,
      ...(signal ? { signal: signalNumber(signal) } : {}),
      ...(c.killMessage ? { message: c.killMessage } : {}),
      ...(startedAt ? { startedAt } : {}),
    };
    c.ready = false;
    c.started = false;
    this.deps.log.info({ pod: this.key, container: c.spec.name, code, signal }, "container exited");
    if (this.terminating) {
      this.deps.changed(this);
      return;
    }
    const policy = this.pod.spec.restartPolicy ?? "Always";
    if (c.init) {
      if (code === 0) {
        // Completed: ready, never run again; the next init container (or the app containers) starts.
        c.ready = true;
        c.willRestart = false;
        void this.startNext().then(() => this.deps.changed(this));
        this.deps.changed(this);
        return;
      }
      // A failed init container is retried unless restartPolicy is Never (then the pod fails).
      c.willRestart = policy !== "Never";
    } else {
      // A container killed by a failed liveness/startup probe restarts unless restartPolicy is Never (kubelet
      // computePodActions), whatever its exit code.
      c.willRestart = shouldRestart(policy, code) || (!!c.killMessage && policy !== "Never");
    }
    if (c.willRestart) {
      const ranFor = Date.now() - c.startedAtMs;
      const delay = c.restartCount === 0 && !c.last ? 0 : c.backoff.next(ranFor);
      c.last = {
        exitCode: code,
        reason,
        finishedAt,
        ...(c.killMessage ? { message: c.killMessage } : {}),
        ...(startedAt ? { startedAt } : {}),
      };
      if (delay > 0) {
        this.event(
          "Warning",
          "BackOff",
          `Back-off restarting failed container ${c.spec.name} in pod ${this.pod.metadata.name}_${this.pod.metadata.namespace ?? "default"}(${this.uid})`,
        );
        c.state = {
          kind: "waiting",
          reason: "CrashLoopBackOff",
          message: `back-off ${Math.round(delay / 1000)}s restarting failed container=${c.spec.name} pod=${this.pod.metadata.name}`,
        };
      }
      const t = setTimeout(() => {
        c.restartCount++;
        void this.startContainer(c).then(() => this.deps.changed(this));
        this.deps.changed(this);
      }, delay);
      c.timers.push(t);
    }
    this.deps.changed(this);
  }

  /** Startup probe first when there is one; liveness and readiness only once the container has started. */
  private startProbes(c: ContainerRun, proc: ContainerProcess): void {
    if (c.spec.startupProbe)
      this.scheduleProbe(c, proc, "startup", (c.spec.startupProbe.initialDelaySeconds ?? 0) * 1000);
    else this.startedProbes(c, proc);
  }

  private startedProbes(c: ContainerRun, proc: ContainerProcess): void {
    const since = Date.now() - c.startedAtMs;
    if (c.spec.readinessProbe)
      this.scheduleProbe(c, proc, "readiness", firstProbeDelayMs(c.spec.readinessProbe, since));
    if (c.spec.livenessProbe) this.scheduleProbe(c, proc, "liveness", firstProbeDelayMs(c.spec.livenessProbe, since));
  }

  private scheduleProbe(
    c: ContainerRun,
    proc: ContainerProcess,
    kind: "readiness" | "liveness" | "startup",
    firstDelayMs: number,
  ): void {
    const probe = { readiness: c.spec.readinessProbe, liveness: c.spec.livenessProbe, startup: c.spec.startupProbe }[
      kind
    ];
    if (!probe) return;
    const period = (probe.periodSeconds ?? 10) * 1000;
    const tick = async () => {
      if (c.proc !== proc || this.terminating) return;
      const podIP = this.view().podIPs[0] ?? "127.0.0.1";
      const sb = this.sandbox;
      const outcome = await runProbe(probe, c.spec, podIP, (argv, timeoutMs) =>
        sb
          ? this.deps.runtime
              .exec(sb, argv, c.env, timeoutMs)
              .then((r) => ({ code: r.code, output: r.stdout + r.stderr }))
          : Promise.resolve({ code: 1, output: "no sandbox" }),
      );
      if (c.proc !== proc || this.terminating) return;
      if (!outcome.ok)
        this.event(
          "Warning",
          "Unhealthy",
          `${kind[0]?.toUpperCase()}${kind.slice(1)} probe failed: ${outcome.message}`,
        );
      if (kind === "readiness") {
        const before = c.readiness.result;
        c.readiness = applyOutcome(c.readiness, outcome, probe);
        c.ready = c.readiness.result;
        if (before !== c.readiness.result) {
          this.deps.log.info(
            { pod: this.key, container: c.spec.name, ready: c.ready, msg: c.readiness.lastMessage },
            "readiness changed",
          );
          this.deps.changed(this);
        }
      } else if (kind === "startup") {
        c.startup = applyOutcome(c.startup, outcome, probe);
        const verdict = startupVerdict(c.startup, probe);
        if (verdict === "started") {
          c.started = true;
          c.ready = !c.spec.readinessProbe;
          this.deps.log.info({ pod: this.key, container: c.spec.name }, "startup probe succeeded");
          this.deps.changed(this);
          this.startedProbes(c, proc);
          return; // the startup probe stops once it has succeeded
        }
        if (verdict === "failed") {
          this.killForProbe(c, proc, "startup", probe.terminationGracePeriodSeconds);
          return;
        }
      } else {
        c.liveness = applyOutcome(c.liveness, outcome, probe);
        if (!c.liveness.result) {
          this.killForProbe(c, proc, "liveness", probe.terminationGracePeriodSeconds);
          return;
        }
      }
      c.timers.push(setTimeout(() => void tick(), period));
    };
    c.timers.push(setTimeout(() => void tick(), firstDelayMs));
  }

  /** A failed liveness or startup probe kills the container; onExit restarts it unless restartPolicy is Never. */
  private killForProbe(
    c: ContainerRun,
    proc: ContainerProcess,
    kind: "liveness" | "startup",
    probeGrace: number | undefined,
  ): void {
    const state = kind === "liveness" ? c.liveness : c.startup;
    const restart = (this.pod.spec.restartPolicy ?? "Always") !== "Never" ? ", will be restarted" : "";
    c.killMessage = `Container ${c.spec.name} failed ${kind} probe${restart}: ${state.lastMessage}`;
    this.event("Normal", "Killing", `Container ${c.spec.name} failed ${kind} probe${restart}`);
    this.deps.log.info(
      { pod: this.key, container: c.spec.name, msg: state.lastMessage },
      `${kind} probe failed; killing`,
    );
    void this.killContainer(c, proc, probeGrace ?? this.pod.spec.terminationGracePeriodSeconds ?? 30);
  }

  /** SIGTERM, then SIGKILL after the grace period; resolves when the process is gone. */
  private async killContainer(c: ContainerRun, proc: ContainerProcess, graceSeconds: number): Promise<void> {
    this.deps.runtime.kill(proc.pid, "SIGTERM");
    const gone = await Promise.race([
      proc.exited.then(() => true),
      sleep(Math.max(0, graceSeconds) * 1000).then(() => false),
    ]);
    if (!gone) {
      this.deps.runtime.kill(proc.pid, "SIGKILL");
      await proc.exited;
    }
    void c;
  }

  /** Stops every container (grace period, then SIGKILL), tears the network and sandbox down. Idempotent. */
  async terminate(graceSeconds: number): Promise<void> {
    if (this.terminated) return;
    const first = !this.terminating;
    this.terminating = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    if (!first) return;
    for (const c of this.allContainers()) {
      for (const t of c.timers) clearTimeout(t);
      c.timers = [];
      c.ready = false;
    }
    this.deps.changed(this);
    await Promise.all(
      this.allContainers().map((c) => {
        if (!c.proc) return Promise.resolve();
        this.event("Normal", "Killing", `Stopping container ${c.spec.name}`);
        return this.killContainer(c, c.proc, graceSeconds);
      }),
    );
    await this.cleanupSandbox();
    this.terminated = true;
    this.deps.log.info({ pod: this.key }, "pod terminated");
  }

  /** The pod object changed (labels, deletion); spec changes other than these are immutable in Kubernetes. */
  update(pod: Pod): void {
    this.pod = pod;
  }

  /** The running container of a name (for logs/exec). */
  container(name: string | undefined): ContainerRun | undefined {
    if (!name) return this.containers.values().next().value;
    return this.containers.get(name) ?? this.initContainers.find((c) => c.spec.name === name);
  }
}
