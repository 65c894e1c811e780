/**
 * Namespace world for the userspace-mode tests:
 *   client ns (198.18.0.2) ── veth ── node ns (198.18.0.1; runs the proxy) ── veth ── backend ns i (10.244.i.2)
 * The client's default route points at the node, so ClusterIPs (10.96.0.0/12) reach the node's PREROUTING,
 * where the portal rules redirect them to the proxy. Backends answer the node through their own default route.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import type { EndpointSlice } from "../../../src/api/apps.js";
import type { Node, Protocol, Service } from "../../../src/api/core.js";
import type { KubeObject } from "../../../src/api/meta.js";
import { ip, netnsPath, runIn } from "../../../src/netlinux/netns.js";
import type { NetnsScope } from "../../support/netns.js";

export const NODE_IP = "198.18.0.1";
export const CLIENT_IP = "198.18.0.2";
const FIXTURES = new URL("./fixtures/", import.meta.url).pathname;

export interface World {
  node: string;
  client: string;
  backends: { ns: string; ip: string; name: string }[];
}

export async function makeWorld(scope: NetnsScope, nBackends: number): Promise<World> {
  const node = await scope.add("node");
  const client = await scope.add("cli");
  await ip(node, "link", "add", "c0", "type", "veth", "peer", "name", "eth0", "netns", client);
  await ip(node, "addr", "add", `${NODE_IP}/24`, "dev", "c0");
  await ip(node, "link", "set", "c0", "up");
  await ip(client, "addr", "add", `${CLIENT_IP}/24`, "dev", "eth0");
  await ip(client, "link", "set", "eth0", "up");
  await ip(client, "route", "add", "default", "via", NODE_IP);
  // A real node has a default route; locally generated packets to a ClusterIP need some route before OUTPUT's DNAT.
  await ip(node, "route", "add", "10.96.0.0/12", "dev", "c0");
  const backends: World["backends"] = [];
  for (let i = 0; i < nBackends; i++) {
    const ns = await scope.add(`b${i}`);
    const subnet = `10.244.${i + 1}`;
    await ip(node, "link", "add", `b${i}`, "type", "veth", "peer", "name", "eth0", "netns", ns);
    await ip(node, "addr", "add", `${subnet}.1/24`, "dev", `b${i}`);
    await ip(node, "link", "set", `b${i}`, "up");
    await ip(ns, "addr", "add", `${subnet}.2/24`, "dev", "eth0");
    await ip(ns, "link", "set", "eth0", "up");
    await ip(ns, "route", "add", "default", "via", `${subnet}.1`);
    backends.push({ ns, ip: `${subnet}.2`, name: `b${i}` });
  }
  return { node, client, backends };
}

/** A long-running node process inside a namespace, with its stdout lines observable. */
export class NsProcess {
  readonly lines: string[] = [];
  private waiters: { pred: (l: string) => boolean; resolve: (l: string) => void }[] = [];
  stderr = "";
  exited: Promise<number | null>;
  constructor(readonly child: ChildProcess) {
    const rl = createInterface({ input: child.stdout! });
    rl.on("line", (l) => {
      this.lines.push(l);
      this.waiters = this.waiters.filter((w) => {
        if (w.pred(l)) {
          w.resolve(l);
          return false;
        }
        return true;
      });
    });
    child.stderr!.on("data", (d: Buffer) => {
      this.stderr += d.toString();
      if (this.stderr.length > 20000) this.stderr = this.stderr.slice(-10000);
    });
    this.exited = new Promise((resolve) => child.once("exit", (code) => resolve(code)));
  }
  /** Resolves with the first line (already seen or future) matching pred; rejects after timeoutMs. */
  waitLine(pred: (l: string) => boolean, timeoutMs = 20_000): Promise<string> {
    const seen = this.lines.find(pred);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const t = setTimeout(
        () => reject(new Error(`no matching line in ${timeoutMs} ms; stderr: ${this.stderr.slice(-2000)}`)),
        timeoutMs,
      );
      this.waiters.push({
        pred,
        resolve: (l) => {
          clearTimeout(t);
          resolve(l);
        },
      });
    });
  }
  /** SIGTERM by PID, SIGKILL after 10 s. */
  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill("SIGTERM");
    const t = setTimeout(() => this.child.kill("SIGKILL"), 10_000);
    await this.exited;
    clearTimeout(t);
  }
}

/** This process's hard open-files limit (children cannot go above it without CAP_SYS_RESOURCE). */
export function hardNofile(): number {
  const m = /Max open files\s+\d+\s+(\d+)/.exec(readFileSync("/proc/self/limits", "utf8"));
  return m ? Number(m[1]) : 1024;
}

function withNofile(argv: string[], nofile?: number): string[] {
  if (!nofile) return argv;
  const n = Math.min(nofile, hardNofile());
  return ["prlimit", `--nofile=${n}:${n}`, ...argv];
}

/** Starts `node <fixture> args…` in ns, optionally with a raised open-files limit. */
export function startFixture(ns: string, fixture: string, args: string[], nofile?: number): NsProcess {
  const node = [process.execPath, join(FIXTURES, fixture), ...args];
  const argv = withNofile(node, nofile);
  const child = spawn("nsenter", [`--net=${netnsPath(ns)}`, "--", ...argv], { stdio: ["ignore", "pipe", "pipe"] });
  return new NsProcess(child);
}

export async function startBackends(w: World): Promise<NsProcess[]> {
  const procs = w.backends.map((b) => startFixture(b.ns, "backend.js", [b.name, "0.0.0.0", "8080", "8081"], 65536));
  await Promise.all(procs.map((p) => p.waitLine((l) => l === "ready")));
  return procs;
}

/** Runs the client fixture in the client namespace (or another) and parses its JSON result. */
export async function client<T = Record<string, unknown>>(ns: string, args: string[], nofile?: number): Promise<T> {
  const node = [process.execPath, join(FIXTURES, "client.js"), ...args];
  const argv = withNofile(node, nofile);
  const r = await runIn(ns, argv[0]!, argv.slice(1), { timeoutMs: 180_000 });
  return JSON.parse(r.stdout.trim().split("\n").at(-1)!) as T;
}

export interface SvcSpec {
  name: string;
  clusterIP: string;
  port: number;
  targetPort: number;
  protocol?: Protocol;
  nodePort?: number;
  affinitySeconds?: number;
  endpoints: string[];
  externalIPs?: string[];
}

export function objectsFor(svcs: SvcSpec[], nodeIP = NODE_IP): KubeObject[] {
  const out: KubeObject[] = [
    {
      apiVersion: "v1",
      kind: "Node",
      metadata: { name: "n1" },
      status: { addresses: [{ type: "InternalIP", address: nodeIP }] },
    } as Node,
  ];
  for (const s of svcs) {
    const svc: Service = {
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: s.name, namespace: "default" },
      spec: {
        type: s.nodePort ? "NodePort" : "ClusterIP",
        clusterIP: s.clusterIP,
        ports: [
          { name: "p", port: s.port, protocol: s.protocol ?? "TCP", targetPort: s.targetPort, nodePort: s.nodePort },
        ],
        externalIPs: s.externalIPs,
        ...(s.affinitySeconds
          ? { sessionAffinity: "ClientIP", sessionAffinityConfig: { clientIP: { timeoutSeconds: s.affinitySeconds } } }
          : {}),
      },
    };
    const eps: EndpointSlice = {
      apiVersion: "discovery.k8s.io/v1",
      kind: "EndpointSlice",
      metadata: { name: `${s.name}-x`, namespace: "default", labels: { "kubernetes.io/service-name": s.name } },
      addressType: "IPv4",
      endpoints: s.endpoints.map((ip) => ({ addresses: [ip], conditions: { ready: true } })),
      ports: [{ name: "p", port: s.targetPort, protocol: s.protocol ?? "TCP" }],
    };
    out.push(svc, eps);
  }
  return out;
}

/** A temp objects file that can be rewritten atomically. */
export class ObjectsFile {
  readonly dir = mkdtempSync(join(tmpdir(), "pwus-"));
  readonly path = join(this.dir, "objects.json");
  write(objs: KubeObject[]): void {
    const tmp = `${this.path}.tmp`;
    writeFileSync(tmp, JSON.stringify({ apiVersion: "v1", kind: "List", items: objs }));
    renameSync(tmp, this.path);
  }
  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Starts the proxy in the node namespace and waits for its first sync. */
export async function startProxy(
  w: World,
  file: ObjectsFile,
  extra: Record<string, unknown> = {},
  nofile?: number,
): Promise<NsProcess> {
  const p = startFixture(
    w.node,
    "proxy.js",
    [JSON.stringify({ objects: [file.path], nodeName: "n1", ...extra })],
    nofile,
  );
  await p.waitLine((l) => l.includes('"synced":1'));
  return p;
}

/** Waits for the proxy's sync number n. */
export function synced(p: NsProcess, n: number): Promise<string> {
  return p.waitLine((l) => l.includes(`"synced":${n},`));
}

export function countBy(names: string[]): Record<string, number> {
  const m: Record<string, number> = {};
  for (const n of names) m[n] = (m[n] ?? 0) + 1;
  return m;
}

export async function iptablesSave(ns: string): Promise<string> {
  return (await runIn(ns, "iptables-save", [])).stdout;
}
