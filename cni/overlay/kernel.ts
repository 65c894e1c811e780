/**
 * The overlay's kernel adapter: read the entries the reconcile owns, apply one action. `RtnlKernel` uses
 * rtnetlink in the agent's own namespace; `FakeKernel` keeps the same state in memory with the kernel's
 * replace/delete semantics, for unit and property tests of the reconcile.
 */
import type { Rtnl } from "../../src/netlinux/rtnl.js";
import type { Action, ActualState } from "./reconcile.js";

export interface OverlayKernel {
  read(): Promise<ActualState>;
  apply(a: Action): Promise<void>;
}

export class RtnlKernel implements OverlayKernel {
  constructor(
    private readonly nl: Rtnl,
    private readonly vtepIndex: number,
  ) {}

  async read(): Promise<ActualState> {
    // Sequential: concurrent dumps on one netlink socket interleave their multipart replies.
    const neigh = await this.nl.listNeigh(this.vtepIndex);
    const fdb = await this.nl.listFdb(this.vtepIndex);
    const routes = await this.nl.listRoutes();
    return { neigh, fdb, routes };
  }

  async apply(a: Action): Promise<void> {
    switch (a.op) {
      case "neigh-replace":
        return this.nl.replaceNeigh(this.vtepIndex, a.ip, a.mac);
      case "neigh-del":
        return ignoreMissing(this.nl.delNeigh(this.vtepIndex, a.ip));
      case "fdb-replace":
        return this.nl.replaceFdb(this.vtepIndex, a.mac, a.dst);
      case "fdb-del":
        return ignoreMissing(this.nl.delFdb(this.vtepIndex, a.mac, a.dst));
      case "route-replace":
        return this.nl.replaceRoute({ dst: a.dst, gw: a.gw, ifindex: a.ifindex, onlink: a.onlink });
      case "route-del":
        return ignoreMissing(this.nl.delRoute({ dst: a.dst, ifindex: a.ifindex }));
    }
  }
}

async function ignoreMissing(p: Promise<void>): Promise<void> {
  try {
    await p;
  } catch (e) {
    if (!/ENOENT|ESRCH|No such/i.test(String((e as Error)?.message ?? e))) throw e;
  }
}

/** In-memory kernel with replace/delete semantics keyed as the kernel keys them. */
export class FakeKernel implements OverlayKernel {
  state: ActualState = { neigh: [], fdb: [], routes: [] };
  applied: Action[] = [];

  async read(): Promise<ActualState> {
    return structuredClone(this.state);
  }

  async apply(a: Action): Promise<void> {
    this.applied.push(a);
    const s = this.state;
    switch (a.op) {
      case "neigh-replace":
        s.neigh = s.neigh.filter((n) => n.ip !== a.ip);
        s.neigh.push({ ip: a.ip, mac: a.mac, permanent: true });
        return;
      case "neigh-del":
        s.neigh = s.neigh.filter((n) => n.ip !== a.ip);
        return;
      case "fdb-replace":
        s.fdb = s.fdb.filter((f) => f.mac !== a.mac);
        s.fdb.push({ mac: a.mac, dst: a.dst, permanent: true });
        return;
      case "fdb-del":
        s.fdb = s.fdb.filter((f) => !(f.mac === a.mac && (a.dst === undefined || f.dst === a.dst)));
        return;
      case "route-replace":
        s.routes = s.routes.filter((r) => r.dst !== a.dst);
        s.routes.push({ dst: a.dst, gw: a.gw, ifindex: a.ifindex, onlink: a.onlink, kernel: false });
        return;
      case "route-del":
        s.routes = s.routes.filter((r) => !(r.dst === a.dst && r.ifindex === a.ifindex));
        return;
    }
  }
}
