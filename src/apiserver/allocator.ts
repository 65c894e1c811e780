/**
 * ClusterIP and NodePort allocation. Every allocated IP/port is its own storage key
 * (`/registry/ranges/serviceips/<ip>`, `/registry/ranges/servicenodeports/<port>`), created in the same
 * transaction as the Service write and deleted with it, so an address can never be handed out twice, also
 * across restarts and crashes: the store's create-if-absent is the only source of truth.
 */
import type { Service, ServicePort } from "../api/core.js";
import type { StatusCause } from "../api/meta.js";
import type { Store, TxnOp } from "../storage/types.js";

export const serviceIPPrefix = "/registry/ranges/serviceips/";
export const nodePortPrefix = "/registry/ranges/servicenodeports/";

export function ipToInt(ip: string): number {
  const p = ip.split(".").map(Number);
  return (((p[0] ?? 0) << 24) >>> 0) + ((p[1] ?? 0) << 16) + ((p[2] ?? 0) << 8) + (p[3] ?? 0);
}

export function intToIp(n: number): string {
  return [(n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join(".");
}

export interface Cidr {
  base: number;
  size: number;
  text: string;
}

export function parseCidr4(text: string): Cidr {
  const m = /^(\d+\.\d+\.\d+\.\d+)\/(\d+)$/.exec(text);
  if (!m) throw new Error(`invalid IPv4 CIDR: ${text}`);
  const bits = Number(m[2]);
  if (bits < 8 || bits > 30) throw new Error(`service CIDR ${text} must be between /8 and /30`);
  const size = 2 ** (32 - bits);
  const base = ipToInt(m[1] as string) - (ipToInt(m[1] as string) % size);
  return { base, size, text };
}

export function isIPv4(s: string): boolean {
  return /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.test(s) && s.split(".").every((x) => Number(x) <= 255);
}

export interface AllocatorConfig {
  serviceCIDR: string;
  nodePortRange: [number, number];
}

/** The result of planning one Service write: extra txn ops, plus the keys that were picked at random. */
export interface AllocationPlan {
  ops: TxnOp[];
  /** Index into `ops` → true when picked by us (retry on conflict), false when the user asked for it (422). */
  random: Map<number, { field: string; value: string | number }>;
  requested: Map<number, { field: string; value: string | number }>;
}

const needsNodePorts = (s: Service) => s.spec?.type === "NodePort" || s.spec?.type === "LoadBalancer";
const needsClusterIP = (s: Service) => s.spec?.type !== "ExternalName" && s.spec?.clusterIP !== "None";

export class ServiceAllocator {
  readonly cidr: Cidr;
  constructor(
    private store: Store,
    readonly cfg: AllocatorConfig,
  ) {
    this.cidr = parseCidr4(cfg.serviceCIDR);
  }

  /** The first usable address: the `kubernetes` service's ClusterIP. */
  firstIP(): string {
    return intToIp(this.cidr.base + 1);
  }

  inRange(ip: string): boolean {
    if (!isIPv4(ip)) return false;
    const n = ipToInt(ip);
    return n > this.cidr.base && n < this.cidr.base + this.cidr.size - 1;
  }

  /** Validation errors for requested IPs/ports that are outside the configured ranges. */
  rangeErrors(svc: Service): StatusCause[] {
    const causes: StatusCause[] = [];
    const ip = svc.spec?.clusterIP;
    if (ip && ip !== "None" && !this.inRange(ip))
      causes.push({
        reason: "FieldValueInvalid",
        field: "spec.clusterIPs",
        message: `Invalid value: []string{"${ip}"}: failed to allocate IP ${ip}: the provided IP (${ip}) is not in the valid range. The range of valid IPs is ${this.cidr.text}`,
      });
    const [lo, hi] = this.cfg.nodePortRange;
    (svc.spec?.ports ?? []).forEach((p, i) => {
      if (p.nodePort && (p.nodePort < lo || p.nodePort > hi))
        causes.push({
          reason: "FieldValueInvalid",
          field: `spec.ports[${i}].nodePort`,
          message: `Invalid value: ${p.nodePort}: provided port is not in the valid range. The range of valid ports is ${lo}-${hi}`,
        });
    });
    return causes;
  }

  private async freeIP(avoid: Set<string>): Promise<string> {
    const { base, size } = this.cidr;
    // Like kube-apiserver, dynamic allocation prefers the upper band and leaves the first addresses for static use.
    const reserved = Math.min(Math.max(16, Math.floor(size / 16)), 256);
    const lo = size > reserved * 2 ? reserved : 1;
    const span = size - 1 - lo;
    for (let i = 0; i < 32; i++) {
      const ip = intToIp(base + lo + Math.floor(Math.random() * span));
      if (avoid.has(ip)) continue;
      if (!(await this.store.get(serviceIPPrefix + ip))) return ip;
    }
    const used = new Set(
      (await this.store.list(serviceIPPrefix)).kvs.map((kv) => kv.key.slice(serviceIPPrefix.length)),
    );
    for (let n = 1; n < size - 1; n++) {
      const ip = intToIp(base + n);
      if (!used.has(ip) && !avoid.has(ip)) return ip;
    }
    throw new Error(`no ClusterIP left in ${this.cidr.text}`);
  }

  private async freePort(avoid: Set<number>): Promise<number> {
    const [lo, hi] = this.cfg.nodePortRange;
    for (let i = 0; i < 32; i++) {
      const p = lo + Math.floor(Math.random() * (hi - lo + 1));
      if (avoid.has(p)) continue;
      if (!(await this.store.get(nodePortPrefix + p))) return p;
    }
    const used = new Set(
      (await this.store.list(nodePortPrefix)).kvs.map((kv) => Number(kv.key.slice(nodePortPrefix.length))),
    );
    for (let p = lo; p <= hi; p++) if (!used.has(p) && !avoid.has(p)) return p;
    throw new Error(`no NodePort left in ${lo}-${hi}`);
  }

  /**
   * Fills in clusterIP(s) and nodePorts of `next` (mutating it) and returns the txn ops that claim the new ones and
   * release those `prev` held but `next` no longer does. `prev` is undefined on create, `next` undefined on delete.
   */
  async plan(
    prev: Service | undefined,
    next: Service | undefined,
    avoid?: { ips: Set<string>; ports: Set<number> },
  ): Promise<AllocationPlan> {
    const plan: AllocationPlan = { ops: [], random: new Map(), requested: new Map() };
    const owner = next ? `${next.metadata.namespace}/${next.metadata.name}` : "";
    const prevIP = prev && needsClusterIP(prev) ? prev.spec?.clusterIP : undefined;
    const avoidIPs = avoid?.ips ?? new Set<string>();
    const avoidPorts = avoid?.ports ?? new Set<number>();

    if (next) {
      next.spec = next.spec ?? {};
      if (needsClusterIP(next)) {
        if (!next.spec.clusterIP && prevIP) next.spec.clusterIP = prevIP;
        if (!next.spec.clusterIP) {
          const ip = await this.freeIP(avoidIPs);
          next.spec.clusterIP = ip;
          plan.random.set(plan.ops.length, { field: "spec.clusterIPs", value: ip });
          plan.ops.push({ op: "create", key: serviceIPPrefix + ip, value: owner });
        } else if (next.spec.clusterIP !== prevIP) {
          plan.requested.set(plan.ops.length, { field: "spec.clusterIPs", value: next.spec.clusterIP });
          plan.ops.push({ op: "create", key: serviceIPPrefix + next.spec.clusterIP, value: owner });
        }
        next.spec.clusterIPs = [next.spec.clusterIP];
      } else if (next.spec.type === "ExternalName") {
        delete next.spec.clusterIP;
        delete next.spec.clusterIPs;
      } else {
        next.spec.clusterIPs = ["None"];
      }
    }
    const nextIP = next && needsClusterIP(next) ? next.spec?.clusterIP : undefined;
    if (prevIP && prevIP !== nextIP) plan.ops.push({ op: "delete", key: serviceIPPrefix + prevIP, ifExists: true });

    const prevPorts = new Map<string, number>();
    const prevHeld = new Set<number>();
    if (prev && needsNodePorts(prev))
      for (const p of prev.spec?.ports ?? [])
        if (p.nodePort) {
          prevPorts.set(portId(p), p.nodePort);
          prevHeld.add(p.nodePort);
        }
    const nextHeld = new Set<number>();
    if (next && needsNodePorts(next)) {
      const ports = next.spec?.ports ?? [];
      for (let i = 0; i < ports.length; i++) {
        const p = ports[i] as ServicePort;
        if (!p.nodePort) {
          const reuse = prevPorts.get(portId(p));
          if (reuse && !nextHeld.has(reuse)) p.nodePort = reuse;
        }
        if (p.nodePort) {
          if (nextHeld.has(p.nodePort)) continue; // the same port for TCP and UDP shares one allocation
          nextHeld.add(p.nodePort);
          if (!prevHeld.has(p.nodePort)) {
            plan.requested.set(plan.ops.length, { field: `spec.ports[${i}].nodePort`, value: p.nodePort });
            plan.ops.push({ op: "create", key: nodePortPrefix + p.nodePort, value: owner });
          }
          continue;
        }
        const port = await this.freePort(new Set([...avoidPorts, ...nextHeld, ...prevHeld]));
        p.nodePort = port;
        nextHeld.add(port);
        plan.random.set(plan.ops.length, { field: `spec.ports[${i}].nodePort`, value: port });
        plan.ops.push({ op: "create", key: nodePortPrefix + port, value: owner });
      }
    } else if (next) {
      for (const p of next.spec?.ports ?? []) delete p.nodePort;
    }
    for (const port of prevHeld)
      if (!nextHeld.has(port)) plan.ops.push({ op: "delete", key: nodePortPrefix + port, ifExists: true });
    return plan;
  }
}

function portId(p: ServicePort): string {
  return `${p.name ?? ""}/${p.port}/${p.protocol ?? "TCP"}`;
}
