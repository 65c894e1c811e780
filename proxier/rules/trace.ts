/**
 * Packet tracer: what the kernel does with the first packet of a new connection (conntrack state NEW).
 *
 * Hooks, in the kernel's order: raw/mangle/nat PREROUTING (or raw/mangle/nat/filter OUTPUT for a locally generated
 * packet), the routing decision (destination local = node IPs, 127.0.0.0/8, ::1 → INPUT, else FORWARD), the
 * filter chains, and mangle/nat POSTROUTING. Jumps, gotos and RETURN are followed; chain policies apply.
 * Matches whose result depends on history or chance (`statistic`, `recent --rcheck`, interfaces, unknown
 * modules) fork the trace: both outcomes are explored, so every reachable DNAT target is collected.
 */
import ipaddr from "ipaddr.js";
import { type Dump, getOpt, type Match, type Opt, type Rule, type Table } from "./model.js";

export type Proto = "tcp" | "udp" | "sctp";

export interface Packet {
  src: string;
  dst: string;
  dport: number;
  sport?: number;
  proto?: Proto;
}

export interface TraceOptions {
  /** The node's own addresses (LOCAL for addrtype and routing). 127.0.0.0/8 and ::1 are always local. */
  nodeIPs?: string[];
  /** The packet is locally generated: nat/filter OUTPUT instead of PREROUTING. */
  output?: boolean;
  /** Stop exploring after this many outcomes (default 4096). */
  maxOutcomes?: number;
}

export type Verdict = "DNAT" | "ACCEPT" | "DROP" | "REJECT" | "NONE";

/** One way the packet can go. */
export interface TraceOutcome {
  /** `ip:port` after DNAT/REDIRECT, or null when not translated. */
  target: string | null;
  verdict: Verdict;
  masquerade: boolean;
  /** `table: -A CHAIN …` of every rule that matched, in order. */
  path: string[];
}

export interface TraceResult {
  /** Every DNAT/REDIRECT destination the packet can get, in rule order. */
  targets: string[];
  verdict: Verdict;
  masquerade: boolean;
  path: string[];
  outcomes: TraceOutcome[];
  notes: string[];
}

interface State {
  src: string;
  dst: string;
  sport: number;
  dport: number;
  proto: Proto;
  mark: number;
  dnat: boolean;
  snat: boolean;
  target: string | null;
  masquerade: boolean;
  verdict: "ACCEPT" | "DROP" | "REJECT" | null;
  path: string[];
}

type End = "fall" | "return" | "accept" | "final";
interface Out {
  st: State;
  end: End;
}

const clone = (s: State): State => ({ ...s, path: [...s.path] });

interface Addr {
  kind: "ipv4" | "ipv6";
  addr: ipaddr.IPv4 | ipaddr.IPv6;
}
const addrCache = new Map<string, Addr | null>();
function parseAddr(s: string): Addr | null {
  let a = addrCache.get(s);
  if (a === undefined) {
    try {
      const p = ipaddr.parse(s);
      a = { kind: p.kind(), addr: p };
    } catch {
      a = null;
    }
    addrCache.set(s, a);
  }
  return a;
}
const cidrCache = new Map<string, [ipaddr.IPv4 | ipaddr.IPv6, number] | null>();
function inCidr(ip: string, cidr: string): boolean | null {
  let c = cidrCache.get(cidr);
  if (c === undefined) {
    try {
      c = cidr.includes("/")
        ? ipaddr.parseCIDR(cidr)
        : [ipaddr.parse(cidr), ipaddr.parse(cidr).kind() === "ipv4" ? 32 : 128];
    } catch {
      c = null;
    }
    cidrCache.set(cidr, c);
  }
  const a = parseAddr(ip);
  if (!c || !a) return null;
  if (a.kind !== c[0].kind()) return false;
  return (a.addr as ipaddr.IPv4).match(c as [ipaddr.IPv4, number]);
}

function portIn(port: number, spec: string): boolean {
  for (const part of spec.split(",")) {
    const [lo, hi] = part.split(":");
    const l = Number(lo || 0);
    const h = hi === undefined ? l : Number(hi || 65535);
    if (port >= l && port <= h) return true;
  }
  return false;
}

type Tri = "yes" | "no" | "maybe";

class Tracer {
  readonly notes = new Set<string>();
  outcomes = 0;
  constructor(
    readonly dump: Dump,
    readonly local: (ip: string) => boolean,
    readonly opts: TraceOptions,
  ) {}

  addrType(ip: string, types: string): Tri {
    let any: Tri = "no";
    for (const t of types.split(",")) {
      let r: Tri;
      const isLocal = this.local(ip);
      const a = parseAddr(ip);
      const multicast = a ? a.addr.range() === "multicast" : false;
      const broadcast = ip === "255.255.255.255";
      if (t === "LOCAL") r = isLocal ? "yes" : "no";
      else if (t === "UNICAST") r = !multicast && !broadcast && !isLocal ? "yes" : isLocal ? "maybe" : "no";
      else if (t === "MULTICAST") r = multicast ? "yes" : "no";
      else if (t === "BROADCAST") r = broadcast ? "yes" : "maybe";
      else {
        this.notes.add(`addrtype ${t} is not modelled: both outcomes traced`);
        r = "maybe";
      }
      if (r === "yes") return "yes";
      if (r === "maybe") any = "maybe";
    }
    return any;
  }

  optTri(o: Opt, v: Tri): Tri {
    if (!o.neg || v === "maybe") return v;
    return v === "yes" ? "no" : "yes";
  }

  matchModule(m: Match, st: State): Tri {
    let res = "yes" as Tri;
    const and = (t: Tri) => {
      if (t === "no") res = "no";
      else if (t === "maybe" && res === "yes") res = "maybe";
    };
    switch (m.name) {
      case "comment":
      case "nfacct":
        return "yes";
      case "tcp":
      case "udp":
      case "sctp":
        if (st.proto !== m.name) return "no";
        for (const o of m.opts) {
          if (o.name === "dport") and(this.optTri(o, portIn(st.dport, o.values[0] ?? "") ? "yes" : "no"));
          else if (o.name === "sport") and(this.optTri(o, portIn(st.sport, o.values[0] ?? "") ? "yes" : "no"));
          else if (o.name === "syn") and(this.optTri(o, "yes"));
          else and("maybe");
        }
        return res;
      case "multiport":
        for (const o of m.opts) {
          const v = o.values[0] ?? "";
          if (o.name === "dports") and(this.optTri(o, portIn(st.dport, v) ? "yes" : "no"));
          else if (o.name === "sports") and(this.optTri(o, portIn(st.sport, v) ? "yes" : "no"));
          else if (o.name === "ports") and(this.optTri(o, portIn(st.dport, v) || portIn(st.sport, v) ? "yes" : "no"));
          else and("maybe");
        }
        return res;
      case "addrtype":
        for (const o of m.opts) {
          if (o.name === "src-type") and(this.optTri(o, this.addrType(st.src, o.values[0] ?? "")));
          else if (o.name === "dst-type") and(this.optTri(o, this.addrType(st.dst, o.values[0] ?? "")));
          else and("maybe");
        }
        return res;
      case "mark":
        for (const o of m.opts) {
          if (o.name !== "mark") continue;
          const [v, mask] = (o.values[0] ?? "0/0xffffffff").split("/").map((x) => Number(x) >>> 0);
          and(this.optTri(o, (st.mark & mask!) >>> 0 === v ? "yes" : "no"));
        }
        return res;
      case "conntrack":
      case "state":
        for (const o of m.opts) {
          if (o.name === "ctstate" || o.name === "state") {
            const have = new Set(["NEW"]);
            if (m.name === "conntrack" && st.dnat) have.add("DNAT");
            if (m.name === "conntrack" && st.snat) have.add("SNAT");
            const hit = (o.values[0] ?? "").split(",").some((s) => have.has(s));
            and(this.optTri(o, hit ? "yes" : "no"));
          } else {
            this.notes.add(`conntrack --${o.name} is not modelled: both outcomes traced`);
            and("maybe");
          }
        }
        return res;
      case "statistic":
        return "maybe";
      case "recent":
        if (
          m.opts.some((o) => o.name === "set") &&
          !m.opts.some((o) => ["rcheck", "update", "remove"].includes(o.name))
        )
          return "yes";
        return "maybe";
      default:
        this.notes.add(`match ${m.name} is not modelled: both outcomes traced`);
        return "maybe";
    }
  }

  matches(r: Rule, st: State): Tri {
    let res = "yes" as Tri;
    const and = (t: Tri) => {
      if (t === "no") res = "no";
      else if (t === "maybe" && res === "yes") res = "maybe";
    };
    for (const g of r.generic) {
      const v = g.values[0] ?? "";
      switch (g.name) {
        case "s":
        case "d": {
          const hit = inCidr(g.name === "s" ? st.src : st.dst, v);
          if (hit === null) {
            this.notes.add(`address ${v} is not understood: both outcomes traced`);
            and("maybe");
          } else and(this.optTri(g, hit ? "yes" : "no"));
          break;
        }
        case "p":
          and(this.optTri(g, v === st.proto ? "yes" : "no"));
          break;
        case "f":
          and(this.optTri(g, "no"));
          break;
        default:
          this.notes.add(`interface match -${g.name} is not modelled: both outcomes traced`);
          and("maybe");
      }
      if (res === "no") return "no";
    }
    for (const m of r.matches) {
      and(this.matchModule(m, st));
      if (res === "no") return "no";
    }
    return res;
  }

  /** Runs chain `name` of table `t` from rule index `i`; returns every way it can end. */
  run(t: Table, name: string, i: number, st: State, depth: number): Out[] {
    const chain = t.chains.get(name);
    if (!chain) {
      this.notes.add(`chain ${t.name} ${name} does not exist: treated as empty`);
      return [{ st, end: "fall" }];
    }
    if (depth > 64) {
      this.notes.add("jump depth over 64: stopped (loop?)");
      return [{ st, end: "fall" }];
    }
    const rules = chain.rules;
    for (; i < rules.length; i++) {
      const r = rules[i]!;
      const m = this.matches(r, st);
      if (m === "no") continue;
      if (m === "maybe") {
        if (this.outcomes > (this.opts.maxOutcomes ?? 4096)) {
          this.notes.add("too many branches: exploration cut short");
          continue;
        }
        const taken = this.take(t, r, clone(st), depth);
        const out: Out[] = [];
        for (const o of taken) {
          if (o.end === "fall") out.push(...this.run(t, name, i + 1, o.st, depth));
          else out.push(o);
        }
        this.outcomes++;
        out.push(...this.run(t, name, i + 1, st, depth));
        return out;
      }
      const taken = this.take(t, r, st, depth);
      if (taken.length === 1 && taken[0]!.end === "fall") {
        st = taken[0]!.st;
        continue;
      }
      const out: Out[] = [];
      for (const o of taken) {
        if (o.end === "fall") out.push(...this.run(t, name, i + 1, o.st, depth));
        else out.push(o);
      }
      return out;
    }
    return [{ st, end: "fall" }];
  }

  /** Applies a matching rule's target. "fall" = go on with the next rule of the same chain. */
  take(t: Table, r: Rule, st: State, depth: number): Out[] {
    st.path.push(`${t.name}: ${r.raw}`);
    const tg = r.target;
    if (!tg) return [{ st, end: "fall" }];
    const opt = (n: string) => getOpt(tg.opts, n)?.values[0];
    switch (tg.name) {
      case "ACCEPT":
        if (t.name === "filter") st.verdict = "ACCEPT";
        return [{ st, end: "accept" }];
      case "DROP":
      case "REJECT":
        st.verdict = tg.name;
        return [{ st, end: "final" }];
      case "RETURN":
        return [{ st, end: "return" }];
      case "DNAT":
      case "REDIRECT": {
        let ip: string;
        let port = st.dport;
        if (tg.name === "DNAT") {
          const to = opt("to-destination") ?? "";
          // ip[-ip][:port[-port]] or [ip6]:port; a range is represented by its first address/port
          const m = /^\[([^\]]+)\](?::(\d+)(?:-\d+)?)?$/.exec(to) ??
            /^([^:]+)(?::(\d+)(?:-\d+)?)?$/.exec(to) ?? [to, to, undefined];
          ip = (m[1] ?? to).split("-")[0]!;
          if (m[2]) port = Number(m[2]);
        } else {
          ip = this.opts.output ? "127.0.0.1" : (this.opts.nodeIPs?.[0] ?? "127.0.0.1");
          const p = opt("to-ports");
          if (p) port = Number(p.split("-")[0]);
        }
        st.dst = ip;
        st.dport = port;
        st.dnat = true;
        st.target = ip.includes(":") ? `[${ip}]:${port}` : `${ip}:${port}`;
        return [{ st, end: "accept" }];
      }
      case "SNAT":
      case "MASQUERADE":
        st.masquerade = true;
        st.snat = true;
        return [{ st, end: "accept" }];
      case "MARK": {
        const x = opt("set-xmark");
        if (x) {
          const [v, m] = x.split("/").map((n) => Number(n) >>> 0);
          st.mark = ((st.mark & ~m!) ^ v!) >>> 0;
        }
        return [{ st, end: "fall" }];
      }
    }
    if (!t.chains.has(tg.name)) {
      if (!/^[A-Z]+$/.test(tg.name)) this.notes.add(`target ${tg.name}: no such chain, ignored`);
      return [{ st, end: "fall" }];
    }
    const sub = this.run(t, tg.name, 0, st, depth + 1);
    return sub.map((o) => {
      if (o.end === "fall" || o.end === "return") return { st: o.st, end: tg.goto ? "return" : "fall" };
      return o;
    });
  }

  /** Runs a built-in chain as a hook; applies its policy when the packet falls off the end. */
  hook(table: string, chain: string, st: State): Out[] {
    const t = this.dump.tables.get(table);
    const c = t?.chains.get(chain);
    if (!t || !c) return [{ st, end: "accept" }];
    return this.run(t, chain, 0, st, 0).map((o) => {
      if (o.end === "fall" || o.end === "return") {
        if (c.policy === "DROP") {
          o.st.path.push(`${table}: policy DROP of ${chain}`);
          o.st.verdict = "DROP";
          return { st: o.st, end: "final" };
        }
        return { st: o.st, end: "accept" };
      }
      return o;
    });
  }
}

const HOOKS_IN = [
  ["raw", "PREROUTING"],
  ["mangle", "PREROUTING"],
  ["nat", "PREROUTING"],
];
const HOOKS_OUT = [
  ["raw", "OUTPUT"],
  ["mangle", "OUTPUT"],
  ["nat", "OUTPUT"],
  ["filter", "OUTPUT"],
  ["security", "OUTPUT"],
];
const HOOKS_LOCAL_IN = [
  ["mangle", "INPUT"],
  ["filter", "INPUT"],
  ["security", "INPUT"],
  ["nat", "INPUT"],
];
const HOOKS_FORWARD = [
  ["mangle", "FORWARD"],
  ["filter", "FORWARD"],
  ["security", "FORWARD"],
];
const HOOKS_POST = [
  ["mangle", "POSTROUTING"],
  ["nat", "POSTROUTING"],
];

/** True when the dump has no rule in a nat/filter built-in chain: such dumps are traced as written. */
export function lacksHookRules(d: Dump): boolean {
  for (const t of d.tables.values()) for (const c of t.chains.values()) if (c.builtin && c.rules.length) return false;
  return true;
}

/** Traces the first packet of a new connection through the rule set. */
export function tracePacket(dump: Dump, pkt: Packet, opts: TraceOptions = {}): TraceResult {
  const nodeIPs = new Set((opts.nodeIPs ?? []).map((ip) => parseAddr(ip)?.addr.toString() ?? ip));
  const local = (ip: string): boolean => {
    const a = parseAddr(ip);
    if (!a) return false;
    if (a.kind === "ipv4" && inCidr(ip, "127.0.0.0/8")) return true;
    if (a.kind === "ipv6" && a.addr.toString() === "::1") return true;
    return nodeIPs.has(a.addr.toString());
  };
  const tracer = new Tracer(dump, local, opts);
  const start: State = {
    src: pkt.src,
    dst: pkt.dst,
    sport: pkt.sport ?? 40000,
    dport: pkt.dport,
    proto: pkt.proto ?? "tcp",
    mark: 0,
    dnat: false,
    snat: false,
    target: null,
    masquerade: false,
    verdict: null,
    path: [],
  };
  if (lacksHookRules(dump))
    tracer.notes.add(
      "the dump has no rules in built-in chains (no PREROUTING → KUBE-SERVICES hooks): traced as written",
    );
  const runHooks = (states: State[], hooks: string[][]): { live: State[]; done: State[] } => {
    const done: State[] = [];
    let live = states;
    for (const [table, chain] of hooks) {
      const next: State[] = [];
      for (const st of live)
        for (const o of tracer.hook(table!, chain!, st)) (o.end === "final" ? done : next).push(o.st);
      live = next;
    }
    return { live, done };
  };
  const finished: State[] = [];
  let live = [start];
  if (opts.output) {
    const r = runHooks(live, HOOKS_OUT);
    finished.push(...r.done);
    const post = runHooks(r.live, HOOKS_POST);
    finished.push(...post.done);
    for (const st of post.live) {
      if (local(st.dst)) {
        const inn = runHooks(
          [st],
          HOOKS_LOCAL_IN.filter(([t]) => t !== "nat"),
        );
        finished.push(...inn.done, ...inn.live);
      } else finished.push(st);
    }
  } else {
    const pre = runHooks(live, HOOKS_IN);
    finished.push(...pre.done);
    live = [];
    for (const st of pre.live) {
      if (local(st.dst)) {
        const inn = runHooks([st], HOOKS_LOCAL_IN);
        finished.push(...inn.done, ...inn.live);
      } else {
        const fwd = runHooks([st], HOOKS_FORWARD);
        finished.push(...fwd.done);
        const post = runHooks(fwd.live, HOOKS_POST);
        finished.push(...post.done, ...post.live);
      }
    }
  }
  const outcomes: TraceOutcome[] = finished.map((st) => ({
    target: st.target,
    verdict: st.verdict ?? (st.target ? "DNAT" : "NONE"),
    masquerade: st.masquerade,
    path: st.path,
  }));
  const targets: string[] = [];
  for (const o of outcomes) if (o.target && !targets.includes(o.target)) targets.push(o.target);
  const path: string[] = [];
  const seen = new Set<string>();
  for (const o of outcomes)
    for (const p of o.path)
      if (!seen.has(p)) {
        seen.add(p);
        path.push(p);
      }
  const verdicts = [...new Set(outcomes.map((o) => o.verdict))];
  if (verdicts.length > 1) tracer.notes.add(`branches end differently: ${verdicts.join(", ")}`);
  return {
    targets,
    verdict: outcomes[0]?.verdict ?? "NONE",
    masquerade: outcomes.some((o) => o.masquerade),
    path,
    outcomes,
    notes: [...tracer.notes],
  };
}

/** Readable multi-line trace. */
export function formatTrace(pkt: Packet, r: TraceResult, opts: TraceOptions = {}): string {
  const out: string[] = [];
  out.push(
    `${pkt.proto ?? "tcp"} ${pkt.src}${pkt.sport ? `:${pkt.sport}` : ""} -> ${pkt.dst}:${pkt.dport}${opts.output ? " (locally generated)" : ""}`,
  );
  r.outcomes.forEach((o, i) => {
    out.push(`branch ${i + 1}: ${o.verdict}${o.target ? ` to ${o.target}` : ""}${o.masquerade ? ", masqueraded" : ""}`);
    for (const p of o.path) out.push(`  ${p}`);
  });
  out.push(`targets: ${r.targets.length ? r.targets.join(", ") : "(none)"}`);
  out.push(`verdict: ${r.verdict}`);
  out.push(`masquerade: ${r.masquerade}`);
  for (const n of r.notes) out.push(`note: ${n}`);
  return `${out.join("\n")}\n`;
}
