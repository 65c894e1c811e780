/**
 * The runtime side of CNI (what libcni does for a container runtime; used by the kubelet and by the CNI tests).
 *
 *   const list = loadConfListFromDir("/etc/cni/net.d");             // first *.conflist (lexical order)
 *   const rt = new CniRuntime({ binDirs: ["/usr/lib/cni"], cacheDir: "/var/lib/cni",
 *                               wrap: ["nsenter", "--net=/run/netns/node1", "--"] });  // exec plugins in a node ns
 *   const att = { containerId: "abc", netns: "/run/netns/pod1", ifname: "eth0",
 *                 args: { K8S_POD_NAME: "p" }, capabilityArgs: { portMappings: [...] } };
 *   const result = await rt.add(list, att);  // chain in order, prevResult threaded, final result cached
 *   await rt.check(list, att);               // uses the cached result as prevResult (skipped if disableCheck)
 *   await rt.del(list, att);                 // chain in reverse, prevResult = cached result; cache removed
 *   await rt.gc(list, [{ containerID, ifname }]);  // GC to plugins reporting ≥ 1.1.0 (both attachment keys)
 *   await rt.status(list);                   // STATUS to plugins reporting ≥ 1.1.0
 *
 * Failures throw CniPluginError (code/msg/details of the plugin's error object, plus the plugin type).
 * Result cache: `<cacheDir>/results/<net>-<containerID>-<ifname>` in libcni's `cniCacheV1` format.
 */
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type ExecOutcome, execPlugin } from "./exec.js";

export const RUNTIME_VERSIONS = ["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"];

export interface PluginEntry {
  type: string;
  capabilities?: Record<string, boolean>;
  [k: string]: unknown;
}

export interface NetworkConfigList {
  cniVersion: string;
  cniVersions?: string[];
  name: string;
  disableCheck?: boolean;
  disableGC?: boolean;
  plugins: PluginEntry[];
  [k: string]: unknown;
}

export interface Attachment {
  containerId: string;
  netns: string;
  ifname: string;
  /** CNI_ARGS pairs. */
  args?: Record<string, string>;
  /** Capability arguments (portMappings, ips, mac, …): passed as runtimeConfig to plugins declaring them. */
  capabilityArgs?: Record<string, unknown>;
}

export interface RuntimeOptions {
  binDirs: string[];
  /** Result cache root (libcni: /var/lib/cni). Omit to keep results in memory only. */
  cacheDir?: string;
  /** argv prefix for every plugin exec, e.g. nsenter into the node namespace. */
  wrap?: string[];
  timeoutMs?: number;
}

export class CniConfigError extends Error {
  override name = "CniConfigError";
}

export class CniPluginError extends Error {
  override name = "CniPluginError";
  constructor(
    readonly plugin: string,
    readonly code: number,
    readonly msg: string,
    readonly details?: string,
  ) {
    super(`plugin type="${plugin}" failed (code ${code}): ${msg}${details ? ` (${details})` : ""}`);
  }
}

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

function cmpVersion(a: string, b: string): number {
  const x = a.split(".").map(Number);
  const y = b.split(".").map(Number);
  for (let i = 0; i < 3; i++) if ((x[i] ?? 0) !== (y[i] ?? 0)) return (x[i] ?? 0) - (y[i] ?? 0);
  return 0;
}

/** Validates a parsed conflist and picks the protocol version (the highest supported of `cniVersions`). */
export function parseConfList(text: string, source = "conflist"): NetworkConfigList {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new CniConfigError(`${source}: invalid JSON: ${(e as Error).message}`);
  }
  if (!raw || typeof raw !== "object") throw new CniConfigError(`${source}: not an object`);
  const l = raw as NetworkConfigList;
  if (typeof l.name !== "string" || !NAME_RE.test(l.name)) throw new CniConfigError(`${source}: invalid network name`);
  if (!Array.isArray(l.plugins) || l.plugins.length === 0) throw new CniConfigError(`${source}: no plugins`);
  for (const p of l.plugins)
    if (!p || typeof p.type !== "string" || !p.type || p.type.includes("/"))
      throw new CniConfigError(`${source}: plugin without a valid type`);
  let version = l.cniVersion;
  if (Array.isArray(l.cniVersions) && l.cniVersions.length > 0) {
    const ok = l.cniVersions.filter((v) => RUNTIME_VERSIONS.includes(v)).sort(cmpVersion);
    if (ok.length === 0) throw new CniConfigError(`${source}: no supported version in cniVersions`);
    version = ok[ok.length - 1]!;
  }
  if (typeof version !== "string") throw new CniConfigError(`${source}: cniVersion missing`);
  return { ...l, cniVersion: version };
}

/** Loads the first conflist of a directory (files sorted by name: *.conflist, then *.conf/*.json lists). */
export function loadConfListFromDir(dir: string): NetworkConfigList {
  const files = readdirSync(dir)
    .filter((f) => /\.(conflist|conf|json)$/.test(f))
    .sort();
  for (const f of files) {
    const text = readFileSync(join(dir, f), "utf8");
    try {
      const parsed = JSON.parse(text) as { plugins?: unknown; type?: string; name?: string; cniVersion?: string };
      // A single-plugin .conf is wrapped into a list (libcni's ConfListFromConf).
      if (!parsed.plugins && parsed.type)
        return parseConfList(
          JSON.stringify({ cniVersion: parsed.cniVersion, name: parsed.name, plugins: [parsed] }),
          f,
        );
    } catch {
      continue;
    }
    return parseConfList(text, join(dir, f));
  }
  throw new CniConfigError(`no network configuration found in ${dir}`);
}

export class CniRuntime {
  private readonly mem = new Map<string, unknown>();
  private readonly memCaps = new Map<string, Record<string, unknown>>();
  private readonly versions = new Map<string, string[]>();

  constructor(readonly opts: RuntimeOptions) {}

  private cachePath(list: NetworkConfigList, a: Pick<Attachment, "containerId" | "ifname">): string | undefined {
    if (!this.opts.cacheDir) return undefined;
    return join(this.opts.cacheDir, "results", `${list.name}-${a.containerId}-${a.ifname}`);
  }

  /** The cached final ADD result of an attachment, if any. */
  cachedResult(list: NetworkConfigList, a: Pick<Attachment, "containerId" | "ifname">): unknown {
    const key = `${list.name}-${a.containerId}-${a.ifname}`;
    const p = this.cachePath(list, a);
    if (p) {
      try {
        return (JSON.parse(readFileSync(p, "utf8")) as { result?: unknown }).result;
      } catch {
        return undefined;
      }
    }
    return this.mem.get(key);
  }

  private storeResult(list: NetworkConfigList, a: Attachment, result: unknown): void {
    const key = `${list.name}-${a.containerId}-${a.ifname}`;
    const p = this.cachePath(list, a);
    if (!p) {
      this.mem.set(key, result);
      if (a.capabilityArgs) this.memCaps.set(key, a.capabilityArgs);
      return;
    }
    mkdirSync(join(this.opts.cacheDir!, "results"), { recursive: true, mode: 0o700 });
    const entry = {
      kind: "cniCacheV1",
      containerId: a.containerId,
      config: Buffer.from(JSON.stringify(list)).toString("base64"),
      ifName: a.ifname,
      networkName: list.name,
      ...(a.capabilityArgs ? { capabilityArgs: a.capabilityArgs } : {}),
      result,
    };
    writeFileSync(p, JSON.stringify(entry), { mode: 0o600 });
  }

  private dropResult(list: NetworkConfigList, a: Attachment): void {
    this.mem.delete(`${list.name}-${a.containerId}-${a.ifname}`);
    this.memCaps.delete(`${list.name}-${a.containerId}-${a.ifname}`);
    const p = this.cachePath(list, a);
    if (p) rmSync(p, { force: true });
  }

  /** The request config for one plugin of the list (SPEC §3 "Deriving request configuration"). */
  requestConfig(list: NetworkConfigList, p: PluginEntry, a: Attachment | undefined, prevResult: unknown): string {
    const { capabilities, ...rest } = p;
    const conf: Record<string, unknown> = { ...rest, cniVersion: list.cniVersion, name: list.name };
    if (a?.capabilityArgs && capabilities) {
      const rc: Record<string, unknown> = {};
      for (const [k, on] of Object.entries(capabilities))
        if (on && a.capabilityArgs[k] !== undefined) rc[k] = a.capabilityArgs[k];
      if (Object.keys(rc).length) conf.runtimeConfig = rc;
    }
    if (prevResult !== undefined) conf.prevResult = prevResult;
    return JSON.stringify(conf);
  }

  private env(command: string, a?: Attachment): Record<string, string> {
    const env: Record<string, string> = { CNI_COMMAND: command };
    if (a) {
      env.CNI_CONTAINERID = a.containerId;
      env.CNI_NETNS = a.netns;
      env.CNI_IFNAME = a.ifname;
      const args = Object.entries(a.args ?? {});
      if (args.length) env.CNI_ARGS = args.map(([k, v]) => `${k}=${v}`).join(";");
    }
    return env;
  }

  private async exec(type: string, env: Record<string, string>, stdin: string): Promise<ExecOutcome> {
    // Always the CNI exec protocol (env + stdin → stdout + exit code), also for podwire-cni: its C client forwards
    // to the agent's socket itself, so the exec adds only a small C program's start (test/bench/cni/latency.ts).
    return execPlugin({
      type,
      path: this.opts.binDirs,
      env,
      stdin,
      ...(this.opts.wrap ? { wrap: this.opts.wrap } : {}),
      timeoutMs: this.opts.timeoutMs ?? 30_000,
    });
  }

  /** ADD through the chain; on failure the runtime must still DEL (the caller decides when). */
  async add(list: NetworkConfigList, a: Attachment): Promise<unknown> {
    let prev: unknown;
    for (const p of list.plugins) {
      const r = await this.exec(p.type, this.env("ADD", a), this.requestConfig(list, p, a, prev));
      if (!r.ok) throw new CniPluginError(p.type, r.error.code, r.error.msg, r.error.details);
      prev = r.result;
    }
    this.storeResult(list, a, prev);
    return prev;
  }

  async check(list: NetworkConfigList, a: Attachment): Promise<void> {
    if (list.disableCheck) return;
    if (cmpVersion(list.cniVersion, "0.4.0") < 0) throw new CniConfigError("CHECK needs cniVersion >= 0.4.0");
    const prev = this.cachedResult(list, a);
    if (prev === undefined) throw new CniConfigError(`no cached result for ${a.containerId}/${a.ifname}`);
    for (const p of list.plugins) {
      const r = await this.exec(p.type, this.env("CHECK", a), this.requestConfig(list, p, a, prev));
      if (!r.ok) throw new CniPluginError(p.type, r.error.code, r.error.msg, r.error.details);
    }
  }

  /** The capability args the attachment was added with (libcni reuses them on DEL). */
  cachedCapabilityArgs(
    list: NetworkConfigList,
    a: Pick<Attachment, "containerId" | "ifname">,
  ): Record<string, unknown> | undefined {
    const p = this.cachePath(list, a);
    if (p) {
      try {
        return (JSON.parse(readFileSync(p, "utf8")) as { capabilityArgs?: Record<string, unknown> }).capabilityArgs;
      } catch {
        return undefined;
      }
    }
    return this.memCaps.get(`${list.name}-${a.containerId}-${a.ifname}`);
  }

  /**
   * DEL in reverse order with prevResult = cached result (and the cached capability args when the caller gives
   * none). Best effort: every plugin runs; the first error is thrown and the cache entry is kept.
   */
  async del(list: NetworkConfigList, a: Attachment): Promise<void> {
    const prev = this.cachedResult(list, a);
    if (!a.capabilityArgs) {
      const caps = this.cachedCapabilityArgs(list, a);
      if (caps) a = { ...a, capabilityArgs: caps };
    }
    let first: CniPluginError | undefined;
    for (const p of [...list.plugins].reverse()) {
      const r = await this.exec(p.type, this.env("DEL", a), this.requestConfig(list, p, a, prev));
      if (!r.ok) first ??= new CniPluginError(p.type, r.error.code, r.error.msg, r.error.details);
    }
    if (first) throw first;
    this.dropResult(list, a);
  }

  /** The versions a plugin binary reports (cached per type). */
  async pluginVersions(type: string): Promise<string[]> {
    const hit = this.versions.get(type);
    if (hit) return hit;
    const r = await this.exec(type, { CNI_COMMAND: "VERSION" }, JSON.stringify({ cniVersion: "0.4.0" }));
    const v = r.ok ? ((r.result as { supportedVersions?: string[] })?.supportedVersions ?? []) : [];
    this.versions.set(type, v);
    return v;
  }

  private async supports11(type: string): Promise<boolean> {
    return (await this.pluginVersions(type)).some((v) => cmpVersion(v, "1.1.0") >= 0);
  }

  /** GC: only plugins that speak ≥ 1.1.0 get it (older ones misread it, see reference §4.5). */
  async gc(list: NetworkConfigList, valid: { containerID: string; ifname: string }[]): Promise<void> {
    if (list.disableGC || cmpVersion(list.cniVersion, "1.1.0") < 0) return;
    let first: CniPluginError | undefined;
    for (const p of list.plugins) {
      if (!(await this.supports11(p.type))) continue;
      const { capabilities: _c, ...rest } = p;
      const conf = {
        ...rest,
        cniVersion: list.cniVersion,
        name: list.name,
        "cni.dev/valid-attachments": valid,
        "cni.dev/attachments": valid,
      };
      const r = await this.exec(p.type, this.env("GC"), JSON.stringify(conf));
      if (!r.ok) first ??= new CniPluginError(p.type, r.error.code, r.error.msg, r.error.details);
    }
    // Cached results of attachments that are no longer valid are garbage too.
    if (this.opts.cacheDir) {
      const keep = new Set(valid.map((v) => `${list.name}-${v.containerID}-${v.ifname}`));
      const dir = join(this.opts.cacheDir, "results");
      let names: string[] = [];
      try {
        names = readdirSync(dir);
      } catch {}
      for (const n of names) if (n.startsWith(`${list.name}-`) && !keep.has(n)) rmSync(join(dir, n), { force: true });
    }
    if (first) throw first;
  }

  async status(list: NetworkConfigList): Promise<void> {
    if (cmpVersion(list.cniVersion, "1.1.0") < 0) return;
    for (const p of list.plugins) {
      if (!(await this.supports11(p.type))) continue;
      const r = await this.exec(p.type, { CNI_COMMAND: "STATUS" }, this.requestConfig(list, p, undefined, undefined));
      if (!r.ok) throw new CniPluginError(p.type, r.error.code, r.error.msg, r.error.details);
    }
  }
}
