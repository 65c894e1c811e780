/**
 * The VXLAN device (flannel.1 style): VNI 1, dstport 8472, learning off, local = the node's public IP on the
 * underlay interface, MTU = underlay MTU − 50, address `<lease>.0/32`, a MAC that survives restarts. An existing
 * device with other parameters is deleted and created again (flannel's `vxlanLinksIncompat`). Uses `ip` because
 * the netlink package has no typed vxlan link-info builder.
 */
import { createHash } from "node:crypto";
import { type IpLink, ipBatch, ipJson } from "../../src/netlinux/iproute.js";
import { runIn } from "../../src/netlinux/netns.js";

export const VXLAN_OVERHEAD = 50;
export const DEFAULT_VNI = 1;
export const DEFAULT_PORT = 8472;

export interface VtepSpec {
  name: string;
  vni: number;
  port: number;
  localIp: string;
  underlay: string;
  mtu: number;
  mac: string;
  /** `<lease>.0/32` */
  address: string;
}

export interface Underlay {
  name: string;
  index: number;
  mtu: number;
  cidrs: string[]; // connected IPv4 subnets (a.b.c.d/len, network form not required)
  ips: string[];
}

/** A stable, locally administered unicast MAC derived from the node name (used when none is persisted). */
export function derivedMac(nodeName: string): string {
  const b = createHash("sha256").update(`podwire-vtep|${nodeName}`).digest().subarray(0, 6);
  b[0] = (b[0]! & 0xfe) | 0x02;
  return [...b].map((x) => x.toString(16).padStart(2, "0")).join(":");
}

/** The underlay interface: the named one, else the one holding `ip`. */
export async function findUnderlay(opts: { iface?: string; ip?: string }): Promise<Underlay> {
  const links = (await ipJson<IpLink[]>(null, ["addr", "show"])) ?? [];
  const l = opts.iface
    ? links.find((x) => x.ifname === opts.iface)
    : links.find((x) => (x.addr_info ?? []).some((a) => a.family === "inet" && a.local === opts.ip));
  if (!l) throw new Error(opts.iface ? `interface ${opts.iface} not found` : `no interface holds ${opts.ip}`);
  const v4 = (l.addr_info ?? []).filter((a) => a.family === "inet");
  return {
    name: l.ifname,
    index: l.ifindex,
    mtu: l.mtu,
    cidrs: v4.map((a) => `${a.local}/${a.prefixlen}`),
    ips: v4.map((a) => a.local),
  };
}

export async function readVtep(name: string): Promise<IpLink | undefined> {
  return (await ipJson<IpLink[]>(null, ["-d", "addr", "show", "dev", name]))?.[0];
}

function compatible(l: IpLink, s: VtepSpec): boolean {
  const d = (l.linkinfo?.info_data ?? {}) as Record<string, unknown>;
  return (
    l.linkinfo?.info_kind === "vxlan" &&
    d.id === s.vni &&
    d.port === s.port &&
    d.local === s.localIp &&
    d.learning === false
  );
}

/** Creates or repairs the VTEP; returns its ifindex. */
export async function ensureVtep(s: VtepSpec): Promise<number> {
  let l = await readVtep(s.name);
  if (l && !compatible(l, s)) {
    await runIn(null, "ip", ["link", "del", s.name], { check: false });
    l = undefined;
  }
  const lines: string[] = [];
  if (!l)
    lines.push(
      `link add ${s.name} address ${s.mac} mtu ${s.mtu} type vxlan id ${s.vni} local ${s.localIp} dev ${s.underlay} dstport ${s.port} nolearning`,
    );
  else {
    if (l.address?.toLowerCase() !== s.mac) lines.push(`link set ${s.name} address ${s.mac}`);
    if (l.mtu !== s.mtu) lines.push(`link set ${s.name} mtu ${s.mtu}`);
  }
  const have = (l?.addr_info ?? []).filter((a) => a.family === "inet");
  for (const a of have)
    if (`${a.local}/${a.prefixlen}` !== s.address) lines.push(`addr del ${a.local}/${a.prefixlen} dev ${s.name}`);
  if (!have.some((a) => `${a.local}/${a.prefixlen}` === s.address)) lines.push(`addr add ${s.address} dev ${s.name}`);
  if (!l?.flags?.includes("UP")) lines.push(`link set ${s.name} up`);
  await ipBatch(null, lines);
  const after = await readVtep(s.name);
  if (!after) throw new Error(`VTEP ${s.name} missing after creation`);
  return after.ifindex;
}
