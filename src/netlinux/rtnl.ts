/**
 * rtnetlink access (the `netlink` npm package) for neighbours, bridge/vxlan FDB entries and routes in the network
 * namespace of the current process. A netlink socket is bound to the namespace it was opened in and Node cannot
 * setns, so a daemon that programs a node namespace runs inside it (started through netns.ts `spawnIn`).
 *
 *   const nl = Rtnl.open();
 *   const idx = await nl.linkIndex("flannel.1");
 *   await nl.replaceNeigh(idx, "10.244.2.0", "aa:bb:cc:dd:ee:ff");          // ip neigh replace … nud permanent
 *   await nl.replaceFdb(idx, "aa:bb:cc:dd:ee:ff", "198.18.0.2");            // bridge fdb replace … self permanent
 *   await nl.replaceRoute({ dst: "10.244.2.0/24", gw: "10.244.2.0", ifindex: idx, onlink: true });
 *   nl.close();
 *
 * Link creation (vxlan, veth, bridge) is not done here: the package has no typed builders for link info data, so
 * those use `ip` (src/netlinux/iproute.ts).
 */
import { createRequire } from "node:module";
import type * as NL from "netlink";

const require = createRequire(import.meta.url);

const AF_INET = 2;
const AF_BRIDGE = 7;
const RTNH_F_ONLINK = 4;
const NLM_F_REPLACE = 0x100;
const NLM_F_CREATE = 0x400;
const RT_TABLE_MAIN = 254;
const RTPROT_BOOT = 3;

export interface NeighEntry {
  ip: string;
  mac: string;
  permanent: boolean;
}
export interface FdbEntry {
  mac: string;
  dst?: string;
  permanent: boolean;
}
export interface RouteEntry {
  /** CIDR */
  dst: string;
  gw?: string;
  ifindex: number;
  onlink: boolean;
  /** A connected route the kernel made itself (never touched by reconcilers). */
  kernel: boolean;
}

function ip4ToBuf(ip: string): Buffer {
  return Buffer.from(ip.split(".").map(Number));
}
function bufToIp4(b: Buffer | undefined): string | undefined {
  return b && b.length === 4 ? [...b].join(".") : undefined;
}
function macToBuf(mac: string): Buffer {
  return Buffer.from(mac.split(":").map((h) => Number.parseInt(h, 16)));
}
function bufToMac(b: Buffer | undefined): string {
  return b ? [...b].map((x) => x.toString(16).padStart(2, "0")).join(":") : "";
}

/** One netlink attribute: u16 length, u16 type, payload, padded to 4 bytes. */
function nlattr(type: number, payload: Buffer): Buffer {
  const len = 4 + payload.length;
  const b = Buffer.alloc((len + 3) & ~3);
  b.writeUInt16LE(len, 0);
  b.writeUInt16LE(type, 2);
  payload.copy(b, 4);
  return b;
}
const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0);
  return b;
};
const cstr = (s: string) => Buffer.from(`${s}\0`);

// rtnetlink constants (linux/if_link.h, linux/veth.h)
const IFLA_ADDRESS = 1;
const IFLA_IFNAME = 3;
const IFLA_MTU = 4;
const IFLA_NET_NS_FD = 28;
const IFLA_INFO_KIND = 1;
const IFLA_INFO_DATA = 2;
const IFLA_INFO_SLAVE_KIND = 4;
const IFLA_INFO_SLAVE_DATA = 5;
const VETH_INFO_PEER = 1;
const IFLA_BRPORT_MODE = 4; // hairpin
const NLM_F_EXCL = 0x200;

export interface VethSpec {
  name: string;
  mac: string;
  mtu?: number;
  /** ifindex of the bridge to enslave the host end to. */
  master?: number;
  peer: { name: string; mac: string; mtu?: number; netnsFd: number };
}

export class Rtnl {
  private constructor(private readonly sock: NL.RtNetlinkSocket) {}

  static open(): Rtnl {
    const nl = require("netlink") as typeof NL;
    return new Rtnl(nl.createRtNetlink());
  }

  close(): void {
    this.sock.socket.close();
  }

  async linkIndex(name: string): Promise<number | undefined> {
    const links = await this.sock.getLinks();
    return links.find((l) => l.attrs.ifname === name)?.data.index;
  }

  async linkInfo(name: string): Promise<{ index: number; mac: string; mtu: number; up: boolean } | undefined> {
    const links = await this.sock.getLinks();
    const l = links.find((x) => x.attrs.ifname === name);
    if (!l) return undefined;
    return {
      index: l.data.index ?? 0,
      mac: bufToMac(l.attrs.address),
      mtu: l.attrs.mtu ?? 0,
      up: !!l.data.flags?.up,
    };
  }

  /**
   * Creates a veth pair in one RTM_NEWLINK: the host end here (enslaved, up), the peer straight into another
   * namespace (IFLA_NET_NS_FD), so the peer never exists in this namespace. Fails with EEXIST like `ip`.
   */
  async createVeth(v: VethSpec): Promise<number> {
    const peerMsg = Buffer.concat([
      Buffer.alloc(16), // struct ifinfomsg of the peer (all zero)
      nlattr(IFLA_IFNAME, cstr(v.peer.name)),
      nlattr(IFLA_ADDRESS, macToBuf(v.peer.mac)),
      ...(v.peer.mtu ? [nlattr(IFLA_MTU, u32(v.peer.mtu))] : []),
      nlattr(IFLA_NET_NS_FD, u32(v.peer.netnsFd)),
    ]);
    const linkinfo = Buffer.concat([
      nlattr(IFLA_INFO_KIND, cstr("veth")),
      nlattr(IFLA_INFO_DATA, nlattr(VETH_INFO_PEER, peerMsg)),
    ]);
    await this.sock.newLink(
      { flags: { up: true }, change: { up: true } },
      {
        ifname: v.name,
        address: macToBuf(v.mac),
        ...(v.mtu ? { mtu: v.mtu } : {}),
        ...(v.master ? { master: v.master } : {}),
        linkinfo,
      },
      { flags: NLM_F_CREATE | NLM_F_EXCL },
    );
    const idx = await this.linkIndexOne(v.name);
    if (idx === undefined) throw new Error(`veth ${v.name} missing after creation`);
    return idx;
  }

  /** Index of one link by name (a single RTM_GETLINK, no dump). */
  async linkIndexOne(name: string): Promise<number | undefined> {
    try {
      const r = await this.sock.getLink({}, { ifname: name });
      return r[0]?.data.index;
    } catch {
      return undefined;
    }
  }

  /** Sets hairpin mode on a bridge port (IFLA_BRPORT_MODE through the slave link info). */
  async setHairpin(index: number, on: boolean): Promise<void> {
    const linkinfo = Buffer.concat([
      nlattr(IFLA_INFO_SLAVE_KIND, cstr("bridge")),
      nlattr(IFLA_INFO_SLAVE_DATA, nlattr(IFLA_BRPORT_MODE, Buffer.from([on ? 1 : 0]))),
    ]);
    // RTM_NEWLINK on an existing device (RTM_SETLINK ignores slave data).
    await this.sock.newLink({ index }, { linkinfo });
  }

  /** Deletes a link by name; false when it does not exist. */
  async deleteLink(name: string): Promise<boolean> {
    const idx = await this.linkIndexOne(name);
    if (idx === undefined) return false;
    try {
      await this.sock.delLink({ index: idx });
      return true;
    } catch (e) {
      if (/ENODEV|No such/i.test(String((e as Error)?.message ?? e))) return false;
      throw e;
    }
  }

  async listNeigh(ifindex: number): Promise<NeighEntry[]> {
    const ns = await this.sock.getNeighbors({ family: AF_INET });
    return ns
      .filter((n) => n.data.ifindex === ifindex)
      .map((n) => ({
        ip: bufToIp4(n.attrs.dst) ?? "",
        mac: bufToMac(n.attrs.lladdr),
        permanent: !!n.data.state?.permanent,
      }))
      .filter((n) => n.ip);
  }

  async replaceNeigh(ifindex: number, ip: string, mac: string): Promise<void> {
    await this.sock.newNeighbor(
      { family: AF_INET, ifindex, state: { permanent: true }, type: 1 },
      { dst: ip4ToBuf(ip), lladdr: macToBuf(mac) },
      { flags: NLM_F_REPLACE | NLM_F_CREATE },
    );
  }

  async delNeigh(ifindex: number, ip: string): Promise<void> {
    await this.sock.delNeighbor({ family: AF_INET, ifindex }, { dst: ip4ToBuf(ip) });
  }

  async listFdb(ifindex: number): Promise<FdbEntry[]> {
    const ns = await this.sock.getNeighbors({ family: AF_BRIDGE });
    return ns
      .filter((n) => n.data.ifindex === ifindex)
      .map((n) => {
        const dst = bufToIp4(n.attrs.dst);
        return { mac: bufToMac(n.attrs.lladdr), ...(dst ? { dst } : {}), permanent: !!n.data.state?.permanent };
      });
  }

  async replaceFdb(ifindex: number, mac: string, dst: string): Promise<void> {
    await this.sock.newNeighbor(
      { family: AF_BRIDGE, ifindex, state: { permanent: true }, flags: { self: true } },
      { lladdr: macToBuf(mac), dst: ip4ToBuf(dst) },
      { flags: NLM_F_REPLACE | NLM_F_CREATE },
    );
  }

  async delFdb(ifindex: number, mac: string, dst?: string): Promise<void> {
    await this.sock.delNeighbor(
      { family: AF_BRIDGE, ifindex, flags: { self: true } },
      { lladdr: macToBuf(mac), ...(dst ? { dst: ip4ToBuf(dst) } : {}) },
    );
  }

  /** IPv4 routes of the main table. */
  async listRoutes(): Promise<RouteEntry[]> {
    const rs = await this.sock.getRoutes({ family: AF_INET });
    return rs
      .filter(
        (r) => (r.attrs.table ?? r.data.table) === RT_TABLE_MAIN && (r.data.type === 1 || r.data.type === "UNICAST"),
      )
      .map((r) => {
        const gw = bufToIp4(r.attrs.gateway);
        const dst = bufToIp4(r.attrs.dst) ?? "0.0.0.0";
        const rawFlags = r.data.flags as { __unknown?: number } | undefined;
        return {
          dst: `${dst}/${r.data.dstLen ?? 0}`,
          ...(gw ? { gw } : {}),
          ifindex: r.attrs.oif ?? 0,
          onlink: ((rawFlags?.__unknown ?? 0) & RTNH_F_ONLINK) !== 0,
          kernel: r.data.protocol === 2 || r.data.protocol === "KERNEL",
        };
      });
  }

  async replaceRoute(r: { dst: string; gw?: string; ifindex: number; onlink?: boolean }): Promise<void> {
    const [net, len] = r.dst.split("/");
    await this.sock.newRoute(
      {
        family: AF_INET,
        dstLen: Number(len),
        table: RT_TABLE_MAIN,
        protocol: RTPROT_BOOT,
        scope: r.gw ? 0 : 253,
        type: 1,
        ...(r.onlink ? { flags: { __unknown: RTNH_F_ONLINK } } : {}),
      },
      { dst: ip4ToBuf(net!), oif: r.ifindex, ...(r.gw ? { gateway: ip4ToBuf(r.gw) } : {}) },
      { flags: NLM_F_REPLACE | NLM_F_CREATE },
    );
  }

  async delRoute(r: { dst: string; ifindex?: number }): Promise<void> {
    const [net, len] = r.dst.split("/");
    await this.sock.delRoute(
      { family: AF_INET, dstLen: Number(len), table: RT_TABLE_MAIN },
      { dst: ip4ToBuf(net!), ...(r.ifindex ? { oif: r.ifindex } : {}) },
    );
  }
}
