/**
 * A minimal port of kube-proxy's test packet tracer (`tracePacket` in proxier_test.go) over a FakeIptables state:
 * runs nat PREROUTING, applies the first DNAT's address, then runs the filter chains KUBE-SERVICES,
 * KUBE-EXTERNAL-SERVICES, KUBE-NODEPORTS and KUBE-PROXY-FIREWALL. Probabilistic jumps collect every branch.
 * (Kept until proxier/rules' tracer lands; then tests can switch.)
 */
import { type FakeIptables, splitWords } from "../../../src/netlinux/iptables.js";
import { cidrContains, parseCIDR, parseIP } from "../../../proxier/iptables/ip.js";

interface Cond {
  neg: boolean;
  value: string;
}
interface Rule {
  raw: string;
  src?: Cond;
  dst?: Cond;
  srcType?: Cond;
  dstType?: Cond;
  proto?: string;
  dport?: string;
  jump?: string;
  probability?: string;
  toDestination?: string;
  historyCheck: boolean;
}

export function parseRule(raw: string): Rule {
  const w = splitWords(raw);
  const r: Rule = { raw, historyCheck: false };
  let neg = false;
  for (let i = 2; i < w.length; i++) {
    const word = w[i]!;
    const next = () => w[++i] ?? "";
    switch (word) {
      case "!":
        neg = true;
        continue;
      case "-m":
        next();
        break;
      case "-s":
        r.src = { neg, value: next() };
        break;
      case "-d":
        r.dst = { neg, value: next() };
        break;
      case "--src-type":
        r.srcType = { neg, value: next() };
        break;
      case "--dst-type":
        r.dstType = { neg, value: next() };
        break;
      case "-p":
        r.proto = next();
        break;
      case "--dport":
        r.dport = next();
        break;
      case "-j":
        r.jump = next();
        break;
      case "--probability":
        r.probability = next();
        break;
      case "--to-destination":
        r.toDestination = next();
        break;
      case "--rcheck":
      case "--mark":
      case "--ctstate":
        r.historyCheck = true;
        if (word !== "--rcheck") next();
        break;
      case "--comment":
        next();
        break;
      default:
        break;
    }
    neg = false;
  }
  return r;
}

function addrMatches(c: Cond | undefined, ip: string): boolean {
  if (!c) return true;
  const a = parseIP(ip);
  let m: boolean;
  if (c.value.includes("/")) {
    const cidr = parseCIDR(c.value);
    m = !!(cidr && a && cidrContains(cidr, a));
  } else m = parseIP(c.value)?.text === a?.text;
  return c.neg ? !m : m;
}

export interface TraceResult {
  matches: string[];
  /** DNAT destinations, or ACCEPT/DROP/REJECT, comma-joined ("" = no match). */
  output: string;
  masq: boolean;
}

export function tracePacket(
  ipt: FakeIptables,
  src: string,
  proto: string,
  dst: string,
  dport: number,
  nodeIPs: string[],
): TraceResult {
  const local = new Set(["127.0.0.1", "::1", ...nodeIPs].map((s) => parseIP(s)?.text));
  const matches: string[] = [];
  const outputs: string[] = [];
  let masq = false;
  const cache = new Map<string, Rule[]>();
  const rulesOf = (table: "nat" | "filter", chain: string) => {
    const key = `${table}/${chain}`;
    let rs = cache.get(key);
    if (!rs) cache.set(key, (rs = (ipt.tables.get(table)!.get(chain) ?? []).map(parseRule)));
    return rs;
  };
  const ruleMatches = (r: Rule, dstIP: string) => {
    if (!addrMatches(r.src, src)) return false;
    if (r.srcType) {
      const isLocal = local.has(parseIP(src)?.text);
      if (((r.srcType.value === "LOCAL") !== isLocal) !== r.srcType.neg) return false;
    }
    if (r.proto && r.proto !== proto) return false;
    if (!addrMatches(r.dst, dstIP)) return false;
    if (r.dstType) {
      const isLocal = local.has(parseIP(dstIP)?.text);
      if (((r.dstType.value === "LOCAL") !== isLocal) !== r.dstType.neg) return false;
    }
    if (r.dport && r.dport !== String(dport)) return false;
    return !r.historyCheck;
  };
  const run = (table: "nat" | "filter", chain: string, dstIP: string, depth = 0): boolean => {
    if (depth > 50) throw new Error("jump loop");
    for (const r of rulesOf(table, chain)) {
      if (!r.jump || !ruleMatches(r, dstIP)) continue;
      matches.push(r.raw);
      switch (r.jump) {
        case "KUBE-MARK-MASQ":
          masq = true;
          continue;
        case "ACCEPT":
        case "REJECT":
        case "DROP":
          outputs.push(r.jump);
          return true;
        case "DNAT":
          outputs.push(r.toDestination ?? "?");
          return true;
        case "RETURN":
          return false;
        default: {
          const terminated = run(table, r.jump, dstIP, depth + 1);
          if (terminated && r.probability === undefined) return true;
        }
      }
    }
    return false;
  };
  run("nat", "PREROUTING", dst);
  let dstIP = dst;
  if (outputs.length) {
    const first = outputs[0]!;
    dstIP = first.startsWith("[") ? first.slice(1, first.indexOf("]")) : first.split(":")[0]!;
  }
  for (const c of ["KUBE-SERVICES", "KUBE-EXTERNAL-SERVICES", "KUBE-NODEPORTS", "KUBE-PROXY-FIREWALL"])
    run("filter", c, dstIP);
  return { matches, output: outputs.join(", "), masq };
}
