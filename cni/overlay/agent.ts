/**
 * The overlay agent's loop (level-driven): on every Node change (debounced) and every resync period it recomputes
 * the whole desired state from the current Node list and converges the kernel to it:
 *   own lease (spec.podCIDR) → VTEP device → subnet.env → peers' neigh/FDB/route (pure plan, then apply) →
 *   masquerade/forward chains → own annotations (when a publisher is given).
 * Runs in the node's network namespace (rtnetlink binds to the namespace of the process).
 *
 *   const agent = new OverlayAgent(opts, { nodes: () => informer.list(), publish });
 *   informer.onChange(() => agent.trigger());
 *   agent.start(); … await agent.stop();
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import type { Node } from "../../src/api/index.js";
import { Rtnl } from "../../src/netlinux/rtnl.js";
import { formatIp4, parseCidr4 } from "../ipam/ipv4.js";
import { formatSubnetEnv } from "../subnetenv.js";
import { type OverlayKernel, RtnlKernel } from "./kernel.js";
import { ensureRules } from "./masq.js";
import { ANN, internalIpOf, peersOf, podCidrOf, vtepMacOf } from "./peers.js";
import { type Action, plan } from "./reconcile.js";
import { DEFAULT_PORT, DEFAULT_VNI, derivedMac, ensureVtep, findUnderlay, readVtep, VXLAN_OVERHEAD } from "./vtep.js";

export interface OverlayOptions {
  nodeName: string;
  iface?: string;
  publicIp?: string;
  directRouting: boolean;
  clusterCidr: string;
  subnetFile: string;
  ipMasq: boolean;
  forwardRules: boolean;
  resyncMs: number;
  vni?: number;
  port?: number;
  /** Override the VTEP MTU (default underlay MTU − 50). */
  mtu?: number;
  vtepName?: string;
}

export interface OverlayLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}

export interface OverlayDeps {
  nodes: () => Node[];
  /** Writes our annotations onto our Node (strategic merge). Absent in --objects mode. */
  publish?: (annotations: Record<string, string>) => Promise<void>;
  /** Kernel adapter factory (tests inject a fake); default rtnetlink in this namespace. */
  kernel?: (vtepIndex: number) => OverlayKernel;
  log?: OverlayLogger;
}

export interface SyncReport {
  ready: boolean;
  reason?: string;
  actions: Action[];
  errors: string[];
  mac?: string;
  podCidr?: string;
  /** Tables whose masquerade/forward chain this sync (re)wrote; [] = checked and already right; absent = not checked. */
  rulesWritten?: string[];
}

const silent: OverlayLogger = { info() {}, warn() {} };

/** flannel's FLANNEL_SUBNET is the lease's first address with the lease's length: 10.244.1.1/24. */
export function subnetEnvFor(podCidr: string, clusterCidr: string, mtu: number, ipMasq: boolean): string {
  const c = parseCidr4(podCidr);
  return formatSubnetEnv({
    networks: [clusterCidr],
    subnet: `${formatIp4(c.net + 1)}/${c.len}`,
    mtu,
    ipMasq,
  });
}

function writeIfChanged(path: string, text: string): boolean {
  try {
    if (readFileSync(path, "utf8") === text) return false;
  } catch {}
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.tmp.${process.pid}`;
  writeFileSync(tmp, text, { mode: 0o644 });
  renameSync(tmp, path); // readers (the plugin) never see a half-written file
  return true;
}

export class OverlayAgent {
  private nl: Rtnl | undefined;
  private timer: NodeJS.Timeout | undefined;
  private debounce: NodeJS.Timeout | undefined;
  private running: Promise<SyncReport> | undefined;
  private again = false;
  private stopped = false;
  private lastRulesAt = 0;
  private lastRulesKey = "";
  private published = "";
  readonly log: OverlayLogger;
  last: SyncReport | undefined;

  constructor(
    readonly opts: OverlayOptions,
    private readonly deps: OverlayDeps,
  ) {
    this.log = deps.log ?? silent;
  }

  /** Starts periodic resyncs and runs a first sync. */
  start(): void {
    this.timer = setInterval(() => this.trigger(0), this.opts.resyncMs);
    this.trigger(0);
  }

  /** Asks for a sync soon (coalesces bursts of events). */
  trigger(delayMs = 50): void {
    if (this.stopped) return;
    if (this.debounce) clearTimeout(this.debounce);
    this.debounce = setTimeout(() => {
      this.debounce = undefined;
      void this.syncSerial();
    }, delayMs);
  }

  private async syncSerial(): Promise<SyncReport> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      let r: SyncReport;
      do {
        this.again = false;
        r = await this.syncOnce().catch((e: unknown) => ({
          ready: false,
          reason: (e as Error)?.message ?? String(e),
          actions: [],
          errors: [String(e)],
        }));
        this.last = r;
        if (r.errors.length) this.log.warn({ errors: r.errors }, "overlay sync had errors");
      } while (this.again && !this.stopped);
      return r;
    })();
    try {
      return await this.running;
    } finally {
      this.running = undefined;
    }
  }

  /** One full reconcile pass. */
  async syncOnce(): Promise<SyncReport> {
    const o = this.opts;
    const nodes = this.deps.nodes();
    const self = nodes.find((n) => n.metadata.name === o.nodeName);
    if (!self) return { ready: false, reason: `node ${o.nodeName} not found`, actions: [], errors: [] };
    const podCidr = podCidrOf(self);
    if (!podCidr) return { ready: false, reason: "node has no spec.podCIDR yet", actions: [], errors: [] };
    const wantIp = o.publicIp ?? self.metadata.annotations?.[ANN.publicIpOverwrite] ?? internalIpOf(self);
    const underlay = await findUnderlay({ ...(o.iface ? { iface: o.iface } : {}), ...(wantIp ? { ip: wantIp } : {}) });
    const publicIp = wantIp ?? underlay.ips[0];
    if (!publicIp) return { ready: false, reason: `no IPv4 address on ${underlay.name}`, actions: [], errors: [] };
    const vtepName = o.vtepName ?? `flannel.${o.vni ?? DEFAULT_VNI}`;
    const existing = await readVtep(vtepName);
    // The MAC survives restarts: our published annotation first, then the live device, then a name-derived one.
    const mac = vtepMacOf(self) ?? existing?.address?.toLowerCase() ?? derivedMac(o.nodeName);
    const mtu = o.mtu ?? underlay.mtu - VXLAN_OVERHEAD;
    const vtepIndex = await ensureVtep({
      name: vtepName,
      vni: o.vni ?? DEFAULT_VNI,
      port: o.port ?? DEFAULT_PORT,
      localIp: publicIp,
      underlay: underlay.name,
      mtu,
      mac,
      address: `${podCidr.split("/")[0]}/32`,
    });
    if (writeIfChanged(o.subnetFile, subnetEnvFor(podCidr, o.clusterCidr, mtu, o.ipMasq)))
      this.log.info({ file: o.subnetFile, podCidr, mtu }, "wrote subnet env");

    const kernel = this.deps.kernel?.(vtepIndex) ?? new RtnlKernel((this.nl ??= Rtnl.open()), vtepIndex);
    const actual = await kernel.read();
    const actions = plan(peersOf(nodes, o.nodeName), actual, {
      vtepIndex,
      underlayIndex: underlay.index,
      underlayCidrs: underlay.cidrs,
      clusterCidr: o.clusterCidr,
      directRouting: o.directRouting,
    });
    const errors: string[] = [];
    for (const a of actions) {
      try {
        await kernel.apply(a);
      } catch (e) {
        errors.push(`${a.op} ${JSON.stringify(a)}: ${(e as Error)?.message ?? e}`);
      }
    }
    if (actions.length) this.log.info({ actions: actions.length }, "overlay entries reconciled");

    let rulesWritten: string[] | undefined;
    if (o.ipMasq || o.forwardRules) {
      const key = `${podCidr}|${o.clusterCidr}`;
      if (key !== this.lastRulesKey || Date.now() - this.lastRulesAt >= o.resyncMs - 50) {
        try {
          const { written } = await ensureRules({
            clusterCidr: o.clusterCidr,
            podCidr,
            ipMasq: o.ipMasq,
            forwardRules: o.forwardRules,
          });
          rulesWritten = written;
          if (written.length) this.log.info({ tables: written }, "masquerade/forward chains written");
          this.lastRulesKey = key;
          this.lastRulesAt = Date.now();
        } catch (e) {
          errors.push(`iptables: ${(e as Error).message}`);
        }
      }
    }

    if (this.deps.publish) {
      const ann = {
        [ANN.backendData]: JSON.stringify({ VNI: o.vni ?? DEFAULT_VNI, VtepMAC: mac }),
        [ANN.backendType]: "vxlan",
        [ANN.publicIp]: publicIp,
        [ANN.kubeSubnetManager]: "true",
      };
      const cur = self.metadata.annotations ?? {};
      const differs = Object.entries(ann).some(([k, v]) => cur[k] !== v);
      const key = JSON.stringify(ann);
      if (differs && key !== this.published) {
        try {
          await this.deps.publish(ann);
          this.published = key;
        } catch (e) {
          errors.push(`publish annotations: ${(e as Error).message}`);
        }
      } else if (!differs) this.published = key;
    }
    return { ready: true, actions, errors, mac, podCidr, rulesWritten };
  }

  /** Runs one sync now (tests, --once). */
  sync(): Promise<SyncReport> {
    return this.syncSerial();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    if (this.debounce) clearTimeout(this.debounce);
    await this.running?.catch(() => undefined);
    this.nl?.close();
    this.nl = undefined;
  }
}
