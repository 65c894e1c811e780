/**
 * podwire-cni's command handlers: a bridge (default `cni0`) + veth plugin with host-local IPAM served in-process.
 *
 * Runs in the node's network namespace (where the runtime execs it). Node cannot setns, so the node side uses one
 * `ip -batch` process and the pod side one `nsenter --net=<CNI_NETNS> ip -batch` process; MACs are chosen here so
 * no read-back is needed. The host veth name is derived from (network, container, ifname), which makes DEL total
 * without stored state (delete that name, release by owner) and lets GC find leaked veths.
 */
import { createHash, randomBytes } from "node:crypto";
import { closeSync, existsSync, openSync, readFileSync, writeFileSync } from "node:fs";
import { CommandError } from "../../src/netlinux/exec.js";
import { type IpLink, type IpRoute, ipBatch, ipJson } from "../../src/netlinux/iproute.js";
import { runIn } from "../../src/netlinux/netns.js";
import { Rtnl } from "../../src/netlinux/rtnl.js";
import { IpamConfigError } from "../ipam/allocator.js";
import {
  allocate,
  checkReserved,
  gc as gcIpam,
  type HostLocalConfig,
  IpamDuplicateError,
  IpamExhaustedError,
  type IpamIp,
  type IpamRoute,
  release,
} from "../ipam/hostlocal.js";
import { formatCidr4, parseCidr4 } from "../ipam/ipv4.js";
import { LockTimeoutError } from "../ipam/store.js";
import { execPlugin } from "../runtime/exec.js";
import { parseSubnetEnv, SubnetEnvError } from "../subnetenv.js";
import { encodeRequest, findHelperBinary, PodSideError, PodSideHelper, type PodSetup } from "./podside.js";
import type { CniArgs, Handlers } from "./skel.js";
import { CniError, type CniResult, type CniRoute, ErrCode, type PluginConf } from "./types.js";

const DEFAULT_BRIDGE = "cni0";

/** Host-side veth name for an attachment: `veth` + 8 hex of sha256(network|container|ifname). */
export function hostVethName(network: string, containerId: string, ifname: string): string {
  return `veth${createHash("sha256").update(`${network}|${containerId}|${ifname}`).digest("hex").slice(0, 8)}`;
}

function randomMac(): string {
  const b = randomBytes(6);
  b[0] = (b[0]! & 0xfe) | 0x02; // unicast, locally administered
  return [...b].map((x) => x.toString(16).padStart(2, "0")).join(":");
}

interface Settings {
  network: string;
  bridge: string;
  mtu?: number;
  ipam: HostLocalConfig & Record<string, unknown>;
  isGateway: boolean;
  isDefaultGateway: boolean;
  hairpin: boolean;
}

function networkName(conf: PluginConf): string {
  if (!conf.name || typeof conf.name !== "string") throw new CniError(ErrCode.invalidConfig, "network name is missing");
  return conf.name;
}

function hasRanges(ipam: PluginConf["ipam"]): boolean {
  return !!ipam && ((Array.isArray(ipam.ranges) && ipam.ranges.length > 0) || typeof ipam.subnet === "string");
}

/** Effective settings; the subnet comes from the config or (flannel style) from `subnetFile`. */
function settingsFor(conf: PluginConf): Settings {
  const network = networkName(conf);
  let ipam = conf.ipam ? { ...conf.ipam } : undefined;
  let mtu = conf.mtu;
  if (!hasRanges(ipam) && (conf.subnetFile || !ipam)) {
    const file = conf.subnetFile ?? "/run/flannel/subnet.env";
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch {
      throw new CniError(
        ErrCode.tryAgainLater,
        `subnet file ${file} not written yet (overlay agent not ready); try again later`,
      );
    }
    try {
      const env = parseSubnetEnv(text);
      const sub = parseCidr4(env.subnet);
      ipam = {
        type: "host-local",
        ...(ipam ?? {}),
        ranges: [[{ subnet: formatCidr4(sub), gateway: env.subnet.split("/")[0]! }]],
        routes: [...(ipam?.routes ?? []), ...env.networks.map((dst) => ({ dst }))],
      };
      mtu ??= env.mtu;
    } catch (e) {
      if (e instanceof SubnetEnvError) throw new CniError(ErrCode.invalidConfig, `${file}: ${e.message}`);
      throw new CniError(ErrCode.invalidConfig, `${file}: ${(e as Error).message}`);
    }
  }
  if (!ipam?.type) throw new CniError(ErrCode.invalidConfig, "ipam.type is missing");
  if (mtu !== undefined && (!Number.isInteger(mtu) || mtu < 68 || mtu > 65535))
    throw new CniError(ErrCode.invalidConfig, `invalid mtu ${mtu}`);
  const bridge = conf.bridge ?? DEFAULT_BRIDGE;
  if (!/^[A-Za-z0-9_.-]{1,15}$/.test(bridge))
    throw new CniError(ErrCode.invalidConfig, `invalid bridge name ${bridge}`);
  const isDefaultGateway = conf.isDefaultGateway === true;
  return {
    network,
    bridge,
    ...(mtu !== undefined ? { mtu } : {}),
    ipam,
    isGateway: conf.isGateway === true || isDefaultGateway,
    isDefaultGateway,
    hairpin: conf.hairpinMode === true,
  };
}

function requestedIps(a: CniArgs, conf: PluginConf): string[] {
  const out: string[] = [];
  if (a.args.IP) out.push(...a.args.IP.split(",").filter(Boolean));
  if (Array.isArray(conf.args?.cni?.ips)) out.push(...conf.args.cni.ips);
  const rc = conf.runtimeConfig?.ips;
  if (Array.isArray(rc)) out.push(...rc.filter((x): x is string => typeof x === "string"));
  return out.map((s) => s.split("/")[0]!);
}

function delegateEnv(a: CniArgs, command: string): Record<string, string> {
  return {
    CNI_COMMAND: command,
    CNI_CONTAINERID: a.containerId,
    CNI_NETNS: a.netns,
    CNI_IFNAME: a.ifname,
    CNI_ARGS: Object.entries(a.args)
      .map(([k, v]) => `${k}=${v}`)
      .join(";"),
    CNI_PATH: a.path.join(":"),
  };
}

async function delegate(a: CniArgs, command: string, conf: PluginConf, s: Settings): Promise<unknown> {
  const stdin = JSON.stringify({ ...conf, ipam: s.ipam });
  const r = await execPlugin({ type: s.ipam.type, path: a.path, env: delegateEnv(a, command), stdin });
  if (!r.ok) throw new CniError(r.error.code, r.error.msg, r.error.details);
  return r.result;
}

interface IpamOut {
  ips: IpamIp[];
  routes: IpamRoute[];
}

async function ipamAdd(a: CniArgs, conf: PluginConf, s: Settings): Promise<IpamOut> {
  if (s.ipam.type !== "host-local") {
    const r = (await delegate(a, "ADD", conf, s)) as CniResult;
    const ips = r?.ips ?? [];
    if (ips.length === 0) throw new CniError(ErrCode.internal, `IPAM plugin ${s.ipam.type} returned no address`);
    return {
      ips: ips.map((ip) => ({ address: ip.address, gateway: ip.gateway ?? "" })),
      routes: (r.routes ?? []).map((x) => ({ dst: x.dst, ...(x.gw ? { gw: x.gw } : {}) })),
    };
  }
  try {
    return allocate(s.network, s.ipam, a.containerId, a.ifname, requestedIps(a, conf));
  } catch (e) {
    if (e instanceof IpamConfigError) throw new CniError(ErrCode.invalidConfig, e.message);
    if (e instanceof IpamExhaustedError || e instanceof IpamDuplicateError)
      throw new CniError(ErrCode.internal, e.message);
    if (e instanceof LockTimeoutError) throw new CniError(ErrCode.tryAgainLater, e.message);
    throw new CniError(ErrCode.io, `IPAM store: ${(e as Error).message}`);
  }
}

async function ipamDel(a: CniArgs, conf: PluginConf, ipam: PluginConf["ipam"]): Promise<void> {
  const type = ipam?.type ?? "host-local";
  if (type !== "host-local") {
    const r = await execPlugin({
      type,
      path: a.path,
      env: delegateEnv(a, "DEL"),
      stdin: JSON.stringify(conf),
    });
    if (!r.ok) throw new CniError(r.error.code, r.error.msg, r.error.details);
    return;
  }
  release(networkName(conf), { ...(ipam?.dataDir ? { dataDir: ipam.dataDir } : {}) }, a.containerId, a.ifname);
}

function enableForwarding(v6: boolean): void {
  // /proc/sys/net is per network namespace of the reader: this is the node namespace the plugin runs in.
  for (const f of ["/proc/sys/net/ipv4/ip_forward", ...(v6 ? ["/proc/sys/net/ipv6/conf/all/forwarding"] : [])])
    try {
      if (readFileSync(f, "utf8").trim() !== "1") writeFileSync(f, "1");
    } catch {}
}

function famOf(addr: string): "inet" | "inet6" {
  return addr.includes(":") ? "inet6" : "inet";
}

/**
 * Host-side link operations. An exec'd plugin uses `ip` (loading the netlink addon would cost more start-up than
 * it saves); a long-running server (the agent's CNI socket) sets `useNetlink` and talks rtnetlink directly, so an
 * ADD spawns one process (the pod side) and a DEL none.
 */
let nl: Rtnl | undefined;
let useNetlink = false;

/** Switches this process to rtnetlink for host-side operations (call once in a long-running server). */
export function useRtnetlink(): void {
  useNetlink = true;
}

async function deleteLink(name: string): Promise<void> {
  if (useNetlink) {
    await (nl ??= Rtnl.open()).deleteLink(name);
    return;
  }
  await runIn(null, "ip", ["link", "del", name], { check: false });
}

/** The long-running server's pod-side helper (undefined: not tried yet; null: not available → `ip -batch`). */
let podSide: PodSideHelper | null | undefined;

/** Interface up, addresses and routes inside the pod's netns. */
async function configurePod(s: PodSetup): Promise<void> {
  if (useNetlink && podSide === undefined) {
    const bin = findHelperBinary();
    podSide = bin ? new PodSideHelper(bin) : null;
  }
  const line = podSide ? encodeRequest(s) : undefined;
  if (podSide && line) {
    try {
      await podSide.setup(s, line);
      return;
    } catch (e) {
      if (e instanceof PodSideError) throw new CniError(ErrCode.internal, `pod ${s.netns}: ${e.message}`);
      // The helper itself failed (not the kernel): this request goes through ip; the next one restarts it.
    }
  }
  const lines = [
    `link set ${s.ifname} up`,
    ...s.addresses.map((x) => `addr add ${x} dev ${s.ifname}${x.includes(":") ? " nodad" : ""}`),
  ];
  for (const r of s.routes) lines.push(`route add ${r.dst}${r.gw ? ` via ${r.gw}` : ""} dev ${s.ifname}`);
  await ipBatch(s.netns, lines);
}

/**
 * Bridge state as last seen by this process. A long-running server (the agent's CNI socket) skips the query
 * for a few seconds after a successful ADD; any failure drops the entry. An exec'd plugin always queries.
 */
const bridgeCache = new Map<string, { info: IpLink; at: number }>();
const BRIDGE_CACHE_MS = 5_000;

async function bridgeInfo(name: string): Promise<IpLink | undefined> {
  const hit = bridgeCache.get(name);
  if (hit && Date.now() - hit.at < BRIDGE_CACHE_MS) return hit.info;
  return (await ipJson<IpLink[]>(null, ["-d", "addr", "show", "dev", name]))?.[0];
}

async function add(a: CniArgs, conf: PluginConf): Promise<CniResult> {
  try {
    return await addOnce(a, conf);
  } catch (e) {
    bridgeCache.clear();
    throw e;
  }
}

async function addOnce(a: CniArgs, conf: PluginConf): Promise<CniResult> {
  const s = settingsFor(conf);
  if (!existsSync(a.netns)) throw new CniError(ErrCode.invalidNetns, `failed to open netns "${a.netns}": no such file`);
  const brInfo = await bridgeInfo(s.bridge);
  if (brInfo && brInfo.linkinfo?.info_kind !== "bridge")
    throw new CniError(ErrCode.internal, `${s.bridge} already exists but is not a bridge`);
  const ipam = await ipamAdd(a, conf, s);
  const hostVeth = hostVethName(s.network, a.containerId, a.ifname);
  const hostMac = randomMac();
  const podMac = randomMac();
  const brMac = brInfo?.address ?? randomMac();
  // One address per range set (dual-stack: an IPv4 and an IPv6 one); the gateway of each family goes on the bridge.
  const gwOf = (family: "inet" | "inet6") => ipam.ips.find((x) => famOf(x.address) === family)?.gateway || undefined;
  const mtu = s.mtu !== undefined ? ` mtu ${s.mtu}` : "";
  try {
    const lines: string[] = [];
    if (!brInfo) lines.push(`link add ${s.bridge} address ${brMac}${mtu} type bridge`);
    if (!brInfo || brInfo.operstate === "DOWN" || !brInfo.flags?.includes("UP")) lines.push(`link set ${s.bridge} up`);
    const brAddrs: { family: string; local: string; prefixlen: number }[] = [];
    for (const ip of s.isGateway ? ipam.ips : []) {
      const family = famOf(ip.address);
      const plen = Number(ip.address.split("/")[1]);
      const gw = ip.gateway;
      if (!gw) continue;
      brAddrs.push({ family, local: gw, prefixlen: plen });
      // Link-local IPv6 addresses are the kernel's, not a lease's.
      const have = (brInfo?.addr_info ?? []).filter((x) => x.family === family && !x.local.startsWith("fe80:"));
      if (have.some((x) => x.local === gw && x.prefixlen === plen)) continue;
      if (have.length > 0) {
        // A stale gateway from an older lease (flannel pain point: "cni0 already has an IP address different
        // from …"): replace it when forced or when no pod is attached any more, otherwise refuse.
        const ports = (await ipJson<IpLink[]>(null, ["link", "show", "master", s.bridge])) ?? [];
        if (!conf.forceAddress && ports.length > 0)
          throw new CniError(
            ErrCode.internal,
            `failed to set bridge addr: "${s.bridge}" already has an IP address different from ${gw}/${plen}`,
          );
        for (const h of have) lines.push(`addr del ${h.local}/${h.prefixlen} dev ${s.bridge}`);
      }
      // No DAD on the gateway: pods must reach it at once (it is ours; nothing else on the bridge claims it).
      lines.push(`addr add ${gw}/${plen} dev ${s.bridge}${family === "inet6" ? " nodad" : ""}`);
    }
    const exists = () => new CniError(ErrCode.internal, `container veth name provided (${a.ifname}) already exists`);
    if (useNetlink) {
      await ipBatch(null, lines);
      const rt = (nl ??= Rtnl.open());
      const master = brInfo?.ifindex || (await rt.linkIndexOne(s.bridge));
      const fd = openSync(a.netns, "r");
      try {
        const idx = await rt.createVeth({
          name: hostVeth,
          mac: hostMac,
          ...(s.mtu ? { mtu: s.mtu } : {}),
          ...(master ? { master } : {}),
          peer: { name: a.ifname, mac: podMac, ...(s.mtu ? { mtu: s.mtu } : {}), netnsFd: fd },
        });
        if (s.hairpin) await rt.setHairpin(idx, true);
      } catch (e) {
        if (/EEXIST/.test(String((e as Error)?.message))) throw exists();
        throw e;
      } finally {
        closeSync(fd);
      }
    } else {
      lines.push(
        `link add ${hostVeth}${mtu} address ${hostMac} type veth peer name ${a.ifname}${mtu} address ${podMac} netns ${a.netns}`,
      );
      lines.push(`link set ${hostVeth} master ${s.bridge}`);
      if (s.hairpin) lines.push(`link set ${hostVeth} type bridge_slave hairpin on`);
      lines.push(`link set ${hostVeth} up`);
      try {
        await ipBatch(null, lines);
      } catch (e) {
        if (e instanceof CommandError && /File exists/.test(e.result.stderr) && /veth/.test(e.result.stderr))
          throw exists();
        throw e;
      }
    }
    if (s.isGateway) enableForwarding(ipam.ips.some((x) => famOf(x.address) === "inet6"));
    const routes: CniRoute[] = ipam.routes.map((r) => ({ dst: r.dst, ...(r.gw ? { gw: r.gw } : {}) }));
    if (s.isDefaultGateway)
      for (const [family, dst] of [
        ["inet", "0.0.0.0/0"],
        ["inet6", "::/0"],
      ] as const) {
        const gw = gwOf(family);
        if (gw && !routes.some((r) => r.dst === dst)) routes.push({ dst, gw });
      }
    const podRoutes = routes.flatMap((r) => {
      const family = famOf(r.dst);
      // A route of a family the pod has no address of cannot be installed (e.g. flannel's v4 routes, v6-only pod).
      if (!ipam.ips.some((x) => famOf(x.address) === family)) return [];
      const via = r.gw ?? gwOf(family);
      return [{ dst: r.dst, ...(via ? { gw: via } : {}) }];
    });
    await configurePod({
      netns: a.netns,
      ifname: a.ifname,
      addresses: ipam.ips.map((x) => x.address),
      routes: podRoutes,
    });
    // What the bridge looks like now (for the next ADD served by this process).
    const brNow: IpLink = {
      ...(brInfo ?? { ifindex: 0, ifname: s.bridge, mtu: s.mtu ?? 1500, linkinfo: { info_kind: "bridge" } }),
      address: brMac,
      flags: ["UP"],
      operstate: "UP",
      addr_info: brAddrs.length ? brAddrs : (brInfo?.addr_info ?? []),
    };
    bridgeCache.set(s.bridge, { info: brNow, at: Date.now() });
    const result: CniResult = {
      cniVersion: conf.cniVersion ?? "1.1.0",
      interfaces: [
        { name: s.bridge, mac: brMac },
        { name: hostVeth, mac: hostMac },
        { name: a.ifname, mac: podMac, sandbox: a.netns },
      ],
      ips: ipam.ips.map((x) => ({ address: x.address, ...(x.gateway ? { gateway: x.gateway } : {}), interface: 2 })),
      routes,
      dns: conf.dns ?? {},
    };
    return mergePrev(conf.prevResult, result);
  } catch (e) {
    // A failed ADD undoes what it did (the runtime will still call DEL, which is then a no-op).
    await deleteLink(hostVeth);
    try {
      await ipamDel(a, conf, s.ipam);
    } catch {}
    if (e instanceof CniError) throw e;
    throw new CniError(ErrCode.internal, (e as Error).message);
  }
}

/** A plugin given prevResult outputs it again with its own additions (interface indices shifted). */
function mergePrev(prev: CniResult | undefined, mine: CniResult): CniResult {
  if (!prev) return mine;
  const off = prev.interfaces?.length ?? 0;
  return {
    cniVersion: mine.cniVersion,
    interfaces: [...(prev.interfaces ?? []), ...(mine.interfaces ?? [])],
    ips: [
      ...(prev.ips ?? []),
      ...(mine.ips ?? []).map((ip) => ({
        ...ip,
        ...(ip.interface !== undefined ? { interface: ip.interface + off } : {}),
      })),
    ],
    routes: [...(prev.routes ?? []), ...(mine.routes ?? [])],
    dns: { ...(prev.dns ?? {}), ...(mine.dns ?? {}) },
  };
}

async function del(a: CniArgs, conf: PluginConf): Promise<void> {
  const network = networkName(conf);
  // Total: the derived name exists or not; removing the host end removes the pod end in any namespace.
  await deleteLink(hostVethName(network, a.containerId, a.ifname));
  try {
    await ipamDel(a, conf, conf.ipam);
  } catch (e) {
    if (e instanceof CniError) throw e;
    if (e instanceof LockTimeoutError) throw new CniError(ErrCode.tryAgainLater, e.message);
    throw new CniError(ErrCode.io, (e as Error).message);
  }
}

function sameDst(kernelDst: string, dst: string): boolean {
  if (dst === "0.0.0.0/0" || dst === "::/0") return kernelDst === "default" || kernelDst === dst;
  return (
    kernelDst === dst ||
    (dst.endsWith("/32") && kernelDst === dst.slice(0, -3)) ||
    (dst.endsWith("/128") && kernelDst === dst.slice(0, -4))
  );
}

async function check(a: CniArgs, conf: PluginConf): Promise<void> {
  const prev = conf.prevResult;
  if (!prev) throw new CniError(ErrCode.invalidConfig, "Required prevResult missing");
  const network = networkName(conf);
  const bridge = conf.bridge ?? DEFAULT_BRIDGE;
  const hostVeth = hostVethName(network, a.containerId, a.ifname);
  const ifaces = prev.interfaces ?? [];
  const podIdx = ifaces.findIndex((i) => i.name === a.ifname && !!i.sandbox);
  if (podIdx < 0) throw new CniError(ErrCode.internal, `interface ${a.ifname} not found in prevResult`);
  const host = (await ipJson<IpLink[]>(null, ["link", "show", "dev", hostVeth]))?.[0];
  if (!host) throw new CniError(ErrCode.internal, `host veth ${hostVeth} not found`);
  if (host.master !== bridge)
    throw new CniError(ErrCode.internal, `host veth ${hostVeth} is not attached to ${bridge}`);
  if (!existsSync(a.netns)) throw new CniError(ErrCode.invalidNetns, `failed to open netns "${a.netns}"`);
  const pod = (await ipJson<IpLink[]>(a.netns, ["addr", "show", "dev", a.ifname]))?.[0];
  if (!pod) throw new CniError(ErrCode.internal, `container interface ${a.ifname} not found`);
  const want = ifaces[podIdx]!;
  if (want.mac && pod.address && want.mac.toLowerCase() !== pod.address.toLowerCase())
    throw new CniError(ErrCode.internal, `interface ${a.ifname} MAC ${pod.address} does not match ${want.mac}`);
  const addrs = (prev.ips ?? []).filter((ip) => ip.interface === podIdx);
  for (const ip of addrs) {
    const [addr, len] = ip.address.split("/");
    if (!(pod.addr_info ?? []).some((x) => x.local === addr && x.prefixlen === Number(len)))
      throw new CniError(ErrCode.internal, `Failed to match addr ${ip.address} on interface ${a.ifname}`);
  }
  const want6 = (prev.routes ?? []).some((r) => r.dst.includes(":"));
  const routes = [
    ...((await ipJson<IpRoute[]>(a.netns, ["route", "show"])) ?? []),
    ...(want6 ? ((await ipJson<IpRoute[]>(a.netns, ["-6", "route", "show"])) ?? []) : []),
  ];
  for (const r of prev.routes ?? []) {
    // Routes of a family the pod has no address of were not installed (see addOnce).
    if (!addrs.some((ip) => famOf(ip.address) === famOf(r.dst))) continue;
    // A route given without gw matches any gateway (the fix of plugins c347755f).
    const ok = routes.some((k) => sameDst(k.dst, r.dst) && (!r.gw || k.gateway === r.gw));
    if (!ok)
      throw new CniError(
        ErrCode.internal,
        `Expected Route ${r.dst}${r.gw ? ` via ${r.gw}` : ""} not found in routing table`,
      );
  }
  const ipamType = conf.ipam?.type ?? "host-local";
  if (ipamType === "host-local") {
    const problem = checkReserved(
      network,
      { ...(conf.ipam?.dataDir ? { dataDir: conf.ipam.dataDir } : {}) },
      a.containerId,
      a.ifname,
      addrs.map((x) => x.address),
    );
    if (problem) throw new CniError(ErrCode.internal, problem);
  } else {
    const r = await execPlugin({
      type: ipamType,
      path: a.path,
      env: delegateEnv(a, "CHECK"),
      stdin: JSON.stringify(conf),
    });
    if (!r.ok) throw new CniError(r.error.code, r.error.msg, r.error.details);
  }
}

async function gc(a: CniArgs, conf: PluginConf): Promise<void> {
  const network = networkName(conf);
  const valid = conf["cni.dev/valid-attachments"] ?? conf["cni.dev/attachments"] ?? [];
  if (!Array.isArray(valid)) throw new CniError(ErrCode.invalidConfig, "cni.dev/valid-attachments must be a list");
  const errors: string[] = [];
  const ipamType = conf.ipam?.type ?? "host-local";
  try {
    if (ipamType === "host-local")
      gcIpam(network, { ...(conf.ipam?.dataDir ? { dataDir: conf.ipam.dataDir } : {}) }, valid);
    else {
      const r = await execPlugin({
        type: ipamType,
        path: a.path,
        env: { CNI_COMMAND: "GC" },
        stdin: JSON.stringify(conf),
      });
      if (!r.ok) errors.push(r.error.msg);
    }
  } catch (e) {
    errors.push((e as Error).message);
  }
  // Leaked host veths: ours by name pattern, on our bridge, not belonging to a valid attachment.
  const keep = new Set(valid.map((v) => hostVethName(network, v.containerID, v.ifname)));
  const ports = (await ipJson<IpLink[]>(null, ["link", "show", "master", conf.bridge ?? DEFAULT_BRIDGE])) ?? [];
  for (const p of ports) {
    const name = p.ifname.split("@")[0]!;
    if (/^veth[0-9a-f]{8}$/.test(name) && !keep.has(name)) await deleteLink(name);
  }
  if (errors.length) throw new CniError(ErrCode.internal, `GC: ${errors.join("; ")}`);
}

async function status(a: CniArgs, conf: PluginConf): Promise<void> {
  try {
    const s = settingsFor(conf);
    if (s.ipam.type !== "host-local") {
      const r = await execPlugin({
        type: s.ipam.type,
        path: a.path,
        env: { CNI_COMMAND: "STATUS" },
        stdin: JSON.stringify(conf),
      });
      if (!r.ok) throw new CniError(r.error.code, r.error.msg, r.error.details);
    }
  } catch (e) {
    if (e instanceof CniError && e.code === ErrCode.tryAgainLater) throw new CniError(ErrCode.notReady, e.message);
    throw e;
  }
}

export const bridgeHandlers: Handlers = { add, del, check, gc, status };
