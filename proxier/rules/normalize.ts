/**
 * Turns the words of one rule into its structured, normalised form. The normalisation removes every difference
 * between what a program writes to iptables-restore and what the kernel prints back with iptables-save / -S:
 * bare IP vs `/32`, where `-p` sits, quoting, `0.5000000000` vs `0.50000000000`, `--or-mark 0x4000` vs
 * `--set-xmark 0x4000/0x4000`, implicit protocol matches, default options (`--mask 255.255.255.255 --rsource`,
 * `--reject-with icmp-port-unreachable`). Unknown matches and targets are kept word for word.
 */
import { createRequire } from "node:module";
import type * as IpAddr from "ipaddr.js";
import type { Match, Opt, Target } from "./model.js";
import { quoteWord, type Word } from "./tokenize.js";

export class RuleSyntaxError extends Error {
  override name = "RuleSyntaxError";
}

export interface RuleParts {
  generic: Opt[];
  matches: Match[];
  target: Target | null;
}

const GENERIC_WITH_VALUE: Record<string, string> = {
  "-s": "s",
  "--source": "s",
  "--src": "s",
  "-d": "d",
  "--destination": "d",
  "--dst": "d",
  "-p": "p",
  "--protocol": "p",
  "-i": "i",
  "--in-interface": "i",
  "-o": "o",
  "--out-interface": "o",
};
const GENERIC_ORDER = ["s", "d", "i", "o", "p", "f"];
const PROTO_MATCHES = new Set(["tcp", "udp", "sctp", "udplite", "dccp", "icmp", "icmp6", "icmpv6"]);
/** Options that belong to the protocol's implicit match when written without `-m tcp`. */
const PROTO_OPTS = new Set([
  "--dport",
  "--sport",
  "--destination-port",
  "--source-port",
  "--tcp-flags",
  "--syn",
  "--tcp-option",
  "--chunk-types",
  "--icmp-type",
  "--icmpv6-type",
]);
const OPT_ALIASES: Record<string, string> = {
  "destination-port": "dport",
  "source-port": "sport",
  "destination-ports": "dports",
  "source-ports": "sports",
  to: "to-destination",
};
const KNOWN_MATCHES = new Set([
  "tcp",
  "udp",
  "sctp",
  "multiport",
  "comment",
  "addrtype",
  "mark",
  "conntrack",
  "state",
  "statistic",
  "recent",
  "nfacct",
  "set",
  "physdev",
  "connmark",
]);
const KNOWN_TARGETS = new Set(["DNAT", "SNAT", "MASQUERADE", "REDIRECT", "REJECT", "MARK", "CONNMARK", "RETURN"]);
const PROTO_NUMBERS: Record<string, string> = {
  "1": "icmp",
  "6": "tcp",
  "17": "udp",
  "132": "sctp",
  "58": "ipv6-icmp",
};
const CT_STATE_ORDER = ["INVALID", "NEW", "RELATED", "ESTABLISHED", "UNTRACKED", "SNAT", "DNAT"];

function isOptionWord(w: Word): boolean {
  return !w.quoted && w.text.length > 1 && w.text[0] === "-" && !/^-\d/.test(w.text);
}

/** Parses the words after `-A CHAIN` (or `-I CHAIN [n]`). Throws RuleSyntaxError on malformed input. */
export function parseRuleWords(words: Word[], start: number): RuleParts {
  const generic: Opt[] = [];
  const matches: Match[] = [];
  let target: Target | null = null;
  let current: Match | null = null;
  let neg = false;
  let proto: string | null = null;
  let i = start;
  const takeValues = (): string[] => {
    const vals: string[] = [];
    while (i < words.length && !isOptionWord(words[i]!) && !(words[i]!.text === "!" && !words[i]!.quoted)) {
      vals.push(words[i]!.text);
      i++;
    }
    return vals;
  };
  const takeOne = (opt: string): string => {
    const w = words[i];
    if (!w || (isOptionWord(w) && !/^-\d/.test(w.text))) throw new RuleSyntaxError(`option ${opt} needs a value`);
    i++;
    return w.text;
  };
  while (i < words.length) {
    const w = words[i]!;
    if (w.text === "!" && !w.quoted) {
      neg = true;
      i++;
      continue;
    }
    if (!isOptionWord(w)) throw new RuleSyntaxError(`unexpected word ${quoteWord(w.text)}`);
    i++;
    const flag = w.text;
    const g = GENERIC_WITH_VALUE[flag];
    if (g && !(target && flag.startsWith("--"))) {
      const v = takeOne(flag);
      if (g === "p") proto = v.toLowerCase();
      generic.push({ name: g, neg, values: [v] });
      neg = false;
      continue;
    }
    if (flag === "-f" || flag === "--fragment") {
      generic.push({ name: "f", neg, values: [] });
      neg = false;
      continue;
    }
    if (flag === "-m" || flag === "--match") {
      current = { name: takeOne(flag), opts: [] };
      matches.push(current);
      continue;
    }
    if (flag === "-j" || flag === "--jump" || flag === "-g" || flag === "--goto") {
      if (target) throw new RuleSyntaxError("more than one target");
      target = { name: takeOne(flag), goto: flag === "-g" || flag === "--goto", opts: [] };
      continue;
    }
    if (flag === "-c" || flag === "--set-counters") {
      takeOne(flag);
      if (i < words.length && !isOptionWord(words[i]!)) i++;
      continue;
    }
    if (flag === "-4" || flag === "-6") continue;
    if (!flag.startsWith("--")) throw new RuleSyntaxError(`unknown option ${flag}`);
    const name = flag.slice(2);
    const opt: Opt = { name, neg, values: takeValues() };
    neg = false;
    if (target) {
      target.opts.push(opt);
      continue;
    }
    let owner: Match | null = current;
    if (PROTO_OPTS.has(flag) && !(owner && (PROTO_MATCHES.has(owner.name) || owner.name === "multiport"))) {
      const pm = proto && PROTO_MATCHES.has(proto) ? proto : null;
      owner = matches.find((m) => m.name === pm) ?? null;
      if (!owner && pm) {
        owner = { name: pm, opts: [] };
        matches.push(owner);
      }
    }
    if (!owner) throw new RuleSyntaxError(`option ${flag} outside any match`);
    owner.opts.push(opt);
  }
  if (neg) throw new RuleSyntaxError("dangling !");
  return normaliseParts({ generic, matches, target });
}

/**
 * ipaddr.js, loaded on first use with require: an ESM import of this CommonJS module costs ~50 ms of start-up
 * (the loader's export scan of it), a quarter of GNU diff's whole run on the rules-diff benchmark.
 */
let ipaddrModule: typeof IpAddr | undefined;
function ipaddrLib(): typeof IpAddr {
  ipaddrModule ??= createRequire(import.meta.url)("ipaddr.js") as typeof IpAddr;
  return ipaddrModule;
}

/** A plain IPv4 address with an optional prefix length, digits without leading zeros (ipaddr.js reads those as octal). */
const PLAIN_V4 =
  /^(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})(?:\/([0-9]|[12][0-9]|3[0-2]))?$/;

/**
 * The plain IPv4 forms (all a kube-proxy dump has) without ipaddr.js: the diff of two big dumps then never loads it
 * (~10 ms of start-up). Same results as below (checked against ipaddr.js in test/property/rules/address.test.ts).
 */
function plainV4(s: string): string | null {
  const m = PLAIN_V4.exec(s);
  if (!m) return null;
  const o = [Number(m[1]), Number(m[2]), Number(m[3]), Number(m[4])];
  if (o.some((x) => x > 255)) return null;
  if (m[5] === undefined) return `${s}/32`;
  const bits = Number(m[5]);
  const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
  const v = ((o[0]! << 24) | (o[1]! << 16) | (o[2]! << 8) | o[3]!) & mask;
  return `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}/${bits}`;
}

/** `10.0.0.1` → `10.0.0.1/32`, `10.1.2.3/8` → `10.0.0.0/8`, `10.0.0.0/255.0.0.0` → `10.0.0.0/8`. */
export function normaliseAddress(s: string): string {
  const v4 = plainV4(s);
  if (v4 !== null) return v4;
  return viaIpaddr(s);
}

/** normaliseAddress with ipaddr.js (every form). */
export function viaIpaddr(s: string): string {
  const ipaddr = ipaddrLib();
  try {
    const slash = s.indexOf("/");
    if (slash < 0) {
      const a = ipaddr.parse(s);
      return `${a.toString()}/${a.kind() === "ipv4" ? 32 : 128}`;
    }
    const addr = ipaddr.parse(s.slice(0, slash));
    const m = s.slice(slash + 1);
    let bits: number;
    if (/^\d+$/.test(m)) bits = Number(m);
    else {
      const mask = ipaddr.parse(m);
      const pl = mask.prefixLengthFromSubnetMask();
      if (pl === null) return s;
      bits = pl;
    }
    const net =
      addr.kind() === "ipv4"
        ? ipaddr.IPv4.networkAddressFromCIDR(`${addr.toString()}/${bits}`)
        : ipaddr.IPv6.networkAddressFromCIDR(`${addr.toString()}/${bits}`);
    return `${net.toString()}/${bits}`;
  } catch {
    return s; // host names and other forms stay as written
  }
}

function parseNum(s: string): number | null {
  if (/^0x[0-9a-f]+$/i.test(s)) return Number.parseInt(s, 16);
  if (/^\d+$/.test(s)) return Number(s);
  return null;
}
const hex = (n: number) => `0x${(n >>> 0).toString(16)}`;

/** `0x4000` → `0x4000/0xffffffff`, `16384/0x4000` → `0x4000/0x4000`. */
export function normaliseMarkMask(s: string): string {
  const [v, m] = s.split("/");
  const vn = parseNum(v ?? "");
  const mn = m === undefined ? 0xffffffff : parseNum(m);
  if (vn === null || mn === null) return s;
  return `${hex(vn)}/${hex(mn)}`;
}

/** What the kernel keeps of a probability: round(2^31·p), printed with 11 decimals as iptables-save does. */
export function normaliseProbability(s: string): string {
  const p = Number(s);
  if (!Number.isFinite(p)) return s;
  const v = Math.round(0x80000000 * p);
  return (v / 0x80000000).toFixed(11);
}

function normalisePorts(s: string): string {
  return s
    .split(",")
    .map((part) => {
      const [a, b] = part.split(":");
      if (b === undefined) return part;
      const lo = a === "" ? "0" : a!;
      const hi = b === "" ? "65535" : b;
      return lo === hi ? lo : `${lo}:${hi}`;
    })
    .join(",");
}

function normaliseMatch(m: Match): Match | null {
  const name = m.name;
  if (!KNOWN_MATCHES.has(name)) return m;
  let opts = m.opts.map((o) => ({ ...o, name: OPT_ALIASES[o.name] ?? o.name }));
  switch (name) {
    case "comment":
      opts = opts.map((o) => (o.name === "comment" ? { ...o, values: [o.values.join(" ")] } : o));
      break;
    case "tcp":
    case "udp":
    case "sctp":
      if (opts.length === 0) return null; // `-m tcp` with nothing to match is implied by `-p tcp`
      opts = opts.map((o) =>
        o.name === "dport" || o.name === "sport" ? { ...o, values: o.values.map(normalisePorts) } : o,
      );
      break;
    case "multiport":
      opts = opts.map((o) => ({ ...o, values: o.values.map(normalisePorts) }));
      break;
    case "mark":
    case "connmark":
      opts = opts.map((o) => (o.name === "mark" ? { ...o, values: o.values.map(normaliseMarkMask) } : o));
      break;
    case "statistic":
      opts = opts.map((o) => (o.name === "probability" ? { ...o, values: o.values.map(normaliseProbability) } : o));
      break;
    case "recent":
      opts = opts.filter(
        (o) =>
          !(o.name === "rsource" && !o.neg) &&
          !(
            o.name === "mask" &&
            /^(255\.255\.255\.255|ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff)$/i.test(o.values[0] ?? "")
          ),
      );
      break;
    case "conntrack":
    case "state":
      opts = opts.map((o) =>
        o.name === "ctstate" || o.name === "state"
          ? {
              ...o,
              values: [
                (o.values[0] ?? "")
                  .split(",")
                  .map((x) => x.toUpperCase())
                  .sort((a, b) => CT_STATE_ORDER.indexOf(a) - CT_STATE_ORDER.indexOf(b))
                  .join(","),
              ],
            }
          : o,
      );
      break;
  }
  opts.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { name, opts };
}

function normaliseTarget(t: Target): Target {
  if (!KNOWN_TARGETS.has(t.name)) return t;
  let opts = t.opts.map((o) => ({ ...o, name: OPT_ALIASES[o.name] ?? o.name }));
  if (t.name === "MARK" || t.name === "CONNMARK") {
    // All MARK forms are stored as (mark, mask) and printed as --set-xmark mark/mask.
    opts = opts.map((o) => {
      const v = o.values[0] ?? "";
      const [a, b] = v.split("/");
      const an = parseNum(a ?? "");
      const bn = b === undefined ? null : parseNum(b);
      if (an === null) return o;
      const x = (mark: number, mask: number): Opt => ({
        name: "set-xmark",
        neg: false,
        values: [`${hex(mark)}/${hex(mask)}`],
      });
      switch (o.name) {
        case "or-mark":
          return x(an, an);
        case "xor-mark":
          return x(an, 0);
        case "and-mark":
          return x(0, ~an);
        case "set-mark":
          return x(an, an | (bn ?? 0xffffffff));
        case "set-xmark":
          return x(an, bn ?? 0xffffffff);
        default:
          return o;
      }
    });
  }
  if (t.name === "REJECT")
    opts = opts.filter(
      (o) => !(o.name === "reject-with" && /^(icmp-port-unreachable|icmp6-port-unreachable)$/.test(o.values[0] ?? "")),
    );
  opts.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { ...t, opts };
}

function normaliseParts(parts: RuleParts): RuleParts {
  const generic: Opt[] = [];
  for (const o of parts.generic) {
    if (o.name === "s" || o.name === "d") generic.push({ ...o, values: o.values.map(normaliseAddress) });
    else if (o.name === "p") {
      const v = o.values[0]!.toLowerCase();
      const p = PROTO_NUMBERS[v] ?? v;
      if (p === "all" && !o.neg) continue;
      generic.push({ ...o, values: [p] });
    } else generic.push(o);
  }
  generic.sort((a, b) => GENERIC_ORDER.indexOf(a.name) - GENERIC_ORDER.indexOf(b.name));
  const matches: Match[] = [];
  for (const m of parts.matches) {
    const n = normaliseMatch(m);
    if (n) matches.push(n);
  }
  // Matches are compared as a set (sorted by name, stable): iptables-nft may print them in another order.
  matches.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { generic, matches, target: parts.target ? normaliseTarget(parts.target) : null };
}

function optText(o: Opt, prefix = "--"): string {
  const vals = o.values.map(quoteWord).join(" ");
  return `${o.neg ? "! " : ""}${prefix}${o.name}${vals ? ` ${vals}` : ""}`;
}

/** The canonical text of a rule's body (everything after `-A CHAIN `). */
export function ruleKey(parts: RuleParts): string {
  const out: string[] = [];
  for (const g of parts.generic) out.push(optText(g, "-"));
  for (const m of parts.matches) {
    out.push(`-m ${m.name}`);
    for (const o of m.opts) out.push(optText(o));
  }
  if (parts.target) {
    out.push(`${parts.target.goto ? "-g" : "-j"} ${parts.target.name}`);
    for (const o of parts.target.opts) out.push(optText(o));
  }
  return out.join(" ");
}
