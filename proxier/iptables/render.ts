/**
 * The pure iptables renderer: kube-proxy's `syncProxyRules` body (pkg/proxy/iptables/proxier.go) as a function.
 *
 * Input  (`ProxierInput`): plain Kubernetes objects — `services: Service[]`, `endpointSlices: EndpointSlice[]`
 *        (discovery.k8s.io/v1) — and `node: { name, ips, labels? }` (the node this proxier runs on; `ips` may
 *        mix families, the first of the proxier's family is "the" node IP).
 * Options (`RenderOptions`): IP family, cluster CIDRs (local-traffic detection), masquerade bit/mark,
 *        `masqueradeAll`, `localhostNodePorts`, `nodePortAddresses`, `randomFully`, nfacct counters present,
 *        `existingNatChains` (kernel's nat chains, for stale-chain deletion), large-cluster threshold.
 * Output (`RenderResult`):
 *   - `payload`: the full-sync `iptables-restore --noflush` text, `*filter … COMMIT\n*nat … COMMIT\n`, in kube-proxy's
 *     emission order (services are visited sorted by port name, so the text is deterministic);
 *   - `filter` / `nat`: per table, the chains written (in order) and each chain's `-A` lines, for partial syncs
 *     (see partial.ts) and semantic diffs;
 *   - `staleChains`: nat chains the payload deletes (`-X`); `serviceChains`: per `ns/name`, the nat chains it owns;
 *   - `servicePorts` / `endpoints`: the model the rules came from; `stats`: counts for metrics.
 * No I/O, no clock, no randomness: same input → same bytes.
 *
 * @example
 *   const r = render({ services, endpointSlices, node: { name: "n1", ips: ["192.168.0.2"] } },
 *                    { clusterCIDRs: ["10.244.0.0/16"] });
 *   await iptables.restore(r.payload);
 */
import type { EndpointSlice, Service } from "../../src/api/index.js";
import { isServiceChainName } from "./hash.js";
import { type Family, type ParsedIP, cidrContains, parseCIDR, parseIP } from "./ip.js";
import { type NativeLineWriter, lineWriter, packEndpoints } from "./linewriter.js";
import {
  type EndpointInfo,
  type ServicePortInfo,
  categorizeEndpoints,
  endpointsFromSlices,
  externallyAccessible,
  servicePortsFromServices,
  usesClusterEndpoints,
  usesLocalEndpoints,
} from "./model.js";

export type { Family } from "./ip.js";
export type { EndpointInfo, ServicePortInfo } from "./model.js";

export interface NodeInfo {
  name: string;
  /** The node's addresses (InternalIP/ExternalIP or --node-ip); other families are ignored. */
  ips: string[];
  labels?: Record<string, string>;
}

export interface ProxierInput {
  services: Service[];
  endpointSlices: EndpointSlice[];
  node: NodeInfo;
}

export interface RenderOptions {
  /** Default IPv4. One family per proxier (ip6tables for IPv6). */
  ipFamily?: Family;
  /** Cluster (pod) CIDRs; the first of the proxier's family drives local-traffic detection. None → no detector. */
  clusterCIDRs?: string[];
  /** Default 14 → mark `0x00004000`. */
  masqueradeBit?: number;
  /** Overrides the mark text entirely (kube-proxy's unit tests use "0x4000"). */
  masqueradeMark?: string;
  masqueradeAll?: boolean;
  /** Default true; only effective for IPv4 and when nodePortAddresses include 127.0.0.1. */
  localhostNodePorts?: boolean;
  /** --nodeport-addresses CIDRs (or "primary"); empty = all local addresses. */
  nodePortAddresses?: string[];
  /** Addresses of the node's interfaces, for --nodeport-addresses; default node.ips plus loopback. */
  localAddresses?: string[];
  /** Append --random-fully to MASQUERADE (when the iptables binary supports it). */
  randomFully?: boolean;
  /** nfacct counters that exist (kube-proxy emits `-m nfacct` only then). */
  nfacct?: { ctStateInvalidDropped?: boolean; localhostNodePortsAccepted?: boolean };
  /** nf_conntrack_tcp_be_liberal is set: no INVALID drop rule. */
  conntrackTCPLiberal?: boolean;
  /** nat chains that exist in the kernel now; our service chains among them that are not active get deleted. */
  existingNatChains?: Iterable<string>;
  /** Default 1000 endpoints. */
  largeClusterEndpointsThreshold?: number;
}

/** One table's chains (in the order their `:CHAIN` lines are written) and each chain's `-A` lines. */
export interface TableRules {
  chains: string[];
  rules: Map<string, string[]>;
}

export interface RenderStats {
  servicePorts: number;
  endpoints: number;
  filterRules: number;
  natRules: number;
  natChains: number;
  largeClusterMode: boolean;
  noLocalEndpointsInternal: number;
  noLocalEndpointsExternal: number;
}

export interface RenderResult {
  payload: string;
  filter: TableRules;
  nat: TableRules;
  staleChains: string[];
  /** `ns/name` → nat chains (SVC/SVL/EXT/FW/SEP) written for that Service. */
  serviceChains: Map<string, string[]>;
  activeNatChains: Set<string>;
  servicePorts: ServicePortInfo[];
  /** portKey → endpoints (all, before categorisation). */
  endpoints: Map<string, EndpointInfo[]>;
  stats: RenderStats;
  /** The mark value used (`0x00004000`). */
  masqueradeMark: string;
}

export const Chains = {
  services: "KUBE-SERVICES",
  externalServices: "KUBE-EXTERNAL-SERVICES",
  nodePorts: "KUBE-NODEPORTS",
  postrouting: "KUBE-POSTROUTING",
  markMasq: "KUBE-MARK-MASQ",
  forward: "KUBE-FORWARD",
  proxyFirewall: "KUBE-PROXY-FIREWALL",
  kubeletFirewall: "KUBE-FIREWALL",
  canary: "KUBE-PROXY-CANARY",
} as const;

export const NfacctCounters = {
  ctStateInvalidDropped: "ct_state_invalid_dropped_pkts",
  localhostNodePortsAccepted: "localhost_nps_accepted_pkts",
} as const;

/** Go's `%#08x` of 1<<bit: "0x" + 8 zero-padded hex digits. */
export function masqueradeMarkFor(bit: number): string {
  return `0x${(2 ** bit).toString(16).padStart(8, "0")}`;
}

const probabilityCache: string[] = [];
/** kube-proxy's computeProbability: `%0.10f` of 1/n. */
export function computeProbability(n: number): string {
  const cached = probabilityCache[n];
  if (cached) return cached;
  // Go rounds ties to even; JS toFixed rounds them up. 1/n is an exact 11-digit tie only for n = 2048.
  const s = n === 2048 ? "0.0004882812" : (1 / n).toFixed(10);
  if (n < 100_000) probabilityCache[n] = s;
  return s;
}

/**
 * One service port's share of the payload, built once and replayed while neither the port, its endpoints nor
 * the global options change. A port's lines are contiguous within each table's section of the payload, so a
 * fragment table is a range of text. A port rendered in this render writes its lines as pieces straight into the
 * table's byte buffer (`PieceSink`: one latin1 byte per character, a buffer reused by every render): no string per
 * line, no per-port text, no array of pieces. At the end of the render each table's bytes become one string, and
 * every fragment rendered in it is a range of that string (sliced when needed: no copy). Which chain each line
 * belongs to is a small index array; the per-chain rule lists that partial syncs compare
 * (`RenderResult.filter/nat.rules`) are cut from the text only when first asked for (`listsOf`), so a full sync,
 * which writes just the payload, never builds them.
 */
interface Fragment {
  sig: string;
  endpoints: EndpointInfo[];
  filter: FrozenTable;
  nat: FrozenTable;
  noLocalInternal: number;
  noLocalExternal: number;
}

/** A table's rule text (boxed: fragments point at it before it is set, at the end of their render). */
interface JoinedText {
  text: string;
}

interface FrozenTable {
  /** Chains touched (declared or written to), in first-touch order. */
  chains: string[];
  /** Per rule line (in text order): the index in `chains` of the chain it is appended to. */
  lineChain: number[];
  /** Chains this port declares, in declaration order (nat only: SVC/SVL/EXT/FW/SEP). */
  owned: string[];
  ruleCount: number;
  /** Length of the text (every line "\n"-terminated). */
  length: number;
  /** Where the text is, first match wins: `text` itself; chars `at`… of a table text `src`. */
  text?: string;
  src?: JoinedText;
  at: number;
  /** Per chain of `chains`: its lines (slices of the text), built on first use. */
  lists?: (readonly string[])[];
}

/** A fragment table's text. */
function textOf(f: FrozenTable): string {
  if (f.text !== undefined) return f.text;
  const t = f.src ? f.src.text.slice(f.at, f.at + f.length) : "";
  f.text = t;
  return t;
}

/** Each chain's lines of one fragment table (cut from its text once, then kept). */
function listsOf(f: FrozenTable): (readonly string[])[] {
  if (f.lists) return f.lists;
  const lists: string[][] = [];
  for (let i = 0; i < f.chains.length; i++) lists.push([]);
  const text = textOf(f);
  const { lineChain } = f;
  let off = 0;
  for (let i = 0; i < lineChain.length; i++) {
    const end = text.indexOf("\n", off);
    lists[lineChain[i]!]!.push(text.slice(off, end));
    off = end + 1;
  }
  for (const l of lists) Object.freeze(l);
  f.lists = lists;
  return lists;
}

/**
 * Copies a latin1 string into a buffer: Buffer.prototype.latin1Write (there since Node 6, not in @types/node) is
 * what `buf.write(s, at, n, "latin1")` calls after its argument handling, which costs more than copying one line.
 */
const writeLatin1: (b: Buffer, s: string, at: number, n: number) => void =
  typeof (Buffer.prototype as Partial<Latin1Writer>).latin1Write === "function"
    ? (b, s, at, n) => (b as Buffer & Latin1Writer).latin1Write(s, at, n)
    : (b, s, at, n) => b.write(s, at, n, "latin1");
interface Latin1Writer {
  latin1Write(s: string, offset: number, length: number): number;
}

/**
 * Where a render writes one table's text: character codes straight into a byte buffer reused by every render
 * (grown by doubling, never shrunk), read back as one latin1 string at the end. Rule text is ASCII in practice
 * (names, IPs, numbers); `bits` collects every code written, so a character above 255 (a non-latin1 name) is
 * noticed and the render is redone with `pieces` set: the pieces are kept as strings and joined instead.
 * `putLatin1` copies a whole line natively without that check; its callers check the line's parts instead.
 * `len` counts characters in both modes.
 */
class PieceSink {
  private bytes: Buffer = Buffer.allocUnsafe(1 << 16);
  len = 0;
  bits = 0;
  pieces: string[] | null = null;
  reset(asPieces: boolean): void {
    this.len = 0;
    this.bits = 0;
    this.pieces = asPieces ? [] : null;
  }
  /** Appends `s`; returns this, so a line is `sink.put(a).put(b)…`. */
  put(s: string): this {
    const at = this.claim(s);
    if (at < 0) return this;
    const b = this.bytes;
    let bits = this.bits;
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      bits |= c;
      b[at + i] = c;
    }
    this.bits = bits;
    return this;
  }
  /**
   * Appends `s` with one native copy (a whole line: memcpy speed instead of a JavaScript loop per character), for
   * text the caller knows fits in a byte per character: a character above 255 would be cut to its low byte, not
   * noticed. renderServicePort checks what such lines are made of from the input (see `unlessLatin1`).
   */
  putLatin1(s: string): this {
    const at = this.claim(s);
    if (at >= 0) writeLatin1(this.bytes, s, at, s.length);
    return this;
  }
  /**
   * Room for `n` characters that `lw` will write, `lw` aimed at this sink's buffer; where they go. Only when the
   * text goes into the bytes and will be kept (`bytesKept`).
   */
  room(n: number, lw: NativeLineWriter): number {
    const need = this.len + n;
    if (need > this.bytes.length) this.grow(need);
    if (aimedAt !== this.bytes) {
      lw.target(this.bytes);
      aimedAt = this.bytes;
    }
    return this.len;
  }
  /** The native writer wrote up to `end`, where the caller expected it to (`room`'s start plus its `n`). */
  wrote(end: number, expected: number): void {
    if (end !== expected) throw new Error(`render: native line writer wrote to ${end}, expected ${expected}`);
    this.len = end;
  }
  /**
   * True when the text goes into the bytes and will be kept: not as pieces, and no character so far needed more
   * than a byte (then the render is redone as pieces, and what the input holds — a port given as text, say — is
   * written the plain way).
   */
  get bytesKept(): boolean {
    return this.pieces === null && this.bits <= 255;
  }
  /** Room for `s` in the bytes: where it goes, or -1 when pieces are kept (then `s` is kept as one). */
  private claim(s: string): number {
    const at = this.len;
    this.len = at + s.length;
    if (this.pieces !== null) {
      this.pieces.push(s);
      return -1;
    }
    if (this.len > this.bytes.length) this.grow(this.len);
    return at;
  }
  /** Marks the text as needing more than a byte per character: the render is redone as pieces. */
  notLatin1(): void {
    this.bits |= 256;
  }
  private grow(need: number): void {
    let size = this.bytes.length * 2;
    while (size < need) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.bytes.copy(next, 0, 0, this.len);
    this.bytes = next;
  }
  /** Everything written since reset, as one string; null when a character did not fit in a byte. */
  finish(): string | null {
    if (this.pieces !== null) {
      const t = joinPieces(this.pieces);
      this.pieces = null;
      return t;
    }
    if (this.bits > 255) return null;
    return this.bytes.toString("latin1", 0, this.len);
  }
}

/** The buffer the native line writer writes to (it keeps a reference; aimed anew when a sink grows). */
let aimedAt: Buffer | null = null;

/** One sink per table (a port writes to both), reused by every render (render is synchronous). */
const sinks = { filter: new PieceSink(), nat: new PieceSink() };

/**
 * Writes one table's lines of one service port onto the table's sink. One instance per table is reused for every
 * port (render is synchronous): `begin` before a port, `freeze` after it.
 */
class TableFragment {
  private sink: PieceSink = sinks.filter;
  private box: JoinedText = { text: "" };
  private p0 = 0;
  private readonly chains: string[] = [];
  private readonly lineChain: number[] = [];
  private readonly owned: string[] = [];
  private index: Map<string, number> | null = null;
  private ruleCount = 0;
  /** `chains`, `lineChain` and `owned` are scratch arrays reused for every port; freeze copies them at their size. */
  begin(sink: PieceSink, box: JoinedText): void {
    this.sink = sink;
    this.box = box;
    this.p0 = sink.len;
    this.chains.length = 0;
    this.lineChain.length = 0;
    this.owned.length = 0;
    this.index = null;
    this.ruleCount = 0;
  }
  /** Index of `c` in `chains`, adding it. Most ports touch a handful of chains, mostly the one touched last, so a
   * short backward scan beats a Map; past 16 chains (many endpoints) an index takes over. */
  private touch(c: string): number {
    const chains = this.chains;
    let k = chains.length - 1;
    if (k >= 0 && chains[k] !== c) {
      if (this.index) k = this.index.get(c) ?? -1;
      else while (k >= 0 && chains[k] !== c) k--;
    }
    if (k < 0) {
      k = chains.length;
      chains.push(c);
      if (this.index) this.index.set(c, k);
      else if (chains.length === 16) this.index = new Map(chains.map((x, j) => [x, j]));
    }
    return k;
  }
  /** Writes `-A chain rest`. */
  line(chain: string, rest: string): void {
    // One native copy: a port's lines are made of its name and protocol (checked by renderServicePort before its
    // first line, see unlessLatin1), canonical IPs and CIDRs, numbers, chain names and constants.
    this.mark(chain).putLatin1(`-A ${chain} ${rest}\n`);
  }
  /** Notes a line of `chain`; the caller writes the whole line, `-A chain ` included, onto the returned sink. */
  mark(chain: string): PieceSink {
    this.lineChain.push(this.touch(chain));
    this.ruleCount++;
    return this.sink;
  }
  /** Marks the sink's text as needing more than a byte per character when `s` has such a character. */
  unlessLatin1(s: string): void {
    for (let i = 0; i < s.length; i++) {
      if (s.charCodeAt(i) > 255) {
        this.sink.notLatin1();
        return;
      }
    }
  }
  /** Marks it so when an endpoint's port is not a number (its `ip:port` text then comes from the input as is). */
  unlessNumericPorts(endpoints: EndpointInfo[]): void {
    for (const ep of endpoints) {
      if (typeof ep.port !== "number") {
        this.sink.notLatin1();
        return;
      }
    }
  }
  /** The sink, for lines whose chains were noted with `mark` first (the native line writer's, and a run of lines). */
  sinkOf(): PieceSink {
    return this.sink;
  }
  /** True when this port's text goes into the sink's bytes (the native line writer can write it). */
  get bytesKept(): boolean {
    return this.sink.bytesKept;
  }
  /** Declares a chain of this port. */
  own(chain: string): void {
    this.touch(chain);
    this.owned.push(chain);
  }
  freeze(): FrozenTable {
    if (this.chains.length === 0) return EMPTY_TABLE;
    return {
      chains: this.chains.slice(),
      lineChain: this.lineChain.slice(),
      owned: this.owned.slice(),
      ruleCount: this.ruleCount,
      length: this.sink.len - this.p0,
      text: undefined,
      src: this.box,
      at: this.p0,
      lists: undefined,
    };
  }
}

const EMPTY_TABLE: FrozenTable = {
  chains: [],
  lineChain: [],
  owned: [],
  ruleCount: 0,
  length: 0,
  text: "",
  at: 0,
  lists: [],
};
const EMPTY: EndpointInfo[] = [];
const scratch = { filter: new TableFragment(), nat: new TableFragment() };

/** A render-level rule line (not from a service port): its chain and text. */
interface LoneLine {
  chain: string;
  line: string;
}

/**
 * Accumulates one table: chains in declaration order; the rule text — lines and ports rendered now go to the
 * table's sink, reused fragments are noted with the sink position they come at; and what the per-chain rule lists
 * are made of (fragments and lone lines, in emission order) for building them when asked.
 */
class TableWriter {
  readonly chains: string[] = [];
  /** The text written now; fragments rendered in this render point at it (set by `finish`). */
  readonly box: JoinedText = { text: "" };
  /** Extra `:CHAIN` declarations (stale chains deleted with -X). */
  readonly extraChains: string[] = [];
  /** Fragments and lone lines, in emission order. */
  private readonly segments: (FrozenTable | LoneLine)[] = [];
  /** Each fragment's offset in the table text (parallel to the fragments among `segments`). */
  private readonly fragments: FrozenTable[] = [];
  private readonly offsets: number[] = [];
  /** Reused fragments (their text is elsewhere) and the sink position each comes at. */
  private readonly reused: FrozenTable[] = [];
  private readonly reusedAt: number[] = [];
  private chars = 0;
  private readonly declared: string[] = [];
  private rulesMap: Map<string, string[]> | undefined;
  private joined: string | undefined;
  ruleCount = 0;
  constructor(readonly sink: PieceSink) {}
  chain(name: string): void {
    this.chains.push(name);
    this.declared.push(name);
  }
  /** Writes `-A chain rest`. */
  line(chain: string, rest: string): void {
    const line = `-A ${chain} ${rest}`;
    this.raw(line);
    this.segments.push({ chain, line });
    this.ruleCount++;
  }
  raw(line: string): void {
    this.sink.put(line).put("\n");
    this.chars += line.length + 1;
  }
  /** Appends a service port's fragment (rendered now: its text is already in the sink; else noted as reused). */
  add(f: FrozenTable): void {
    if (f === EMPTY_TABLE) return;
    if (f.src !== this.box) {
      this.reused.push(f);
      this.reusedAt.push(this.sink.len);
    }
    for (const c of f.owned) this.chains.push(c);
    this.segments.push(f);
    this.fragments.push(f);
    this.offsets.push(this.chars);
    this.chars += f.length;
    this.ruleCount += f.ruleCount;
  }
  /** The sink's text into `box` (fragments rendered now can be read from here on); false if it needs pieces. */
  finish(): boolean {
    const t = this.sink.finish();
    if (t === null) return false;
    this.box.text = t;
    return true;
  }
  /** Every chain declared or written to (the keys `rules` will have). */
  touchedChains(): Set<string> {
    const s = new Set(this.declared);
    for (const seg of this.segments) {
      if ("line" in seg) s.add(seg.chain);
      else for (const c of seg.chains) s.add(c);
    }
    return s;
  }
  /**
   * Chain → rule lines, built on first use. A chain whose lines all come from one fragment shares that
   * fragment's frozen list; others get their own array.
   */
  get rules(): Map<string, string[]> {
    if (this.rulesMap) return this.rulesMap;
    const rules = new Map<string, string[]>();
    for (const c of this.declared) if (!rules.has(c)) rules.set(c, []);
    for (const seg of this.segments) {
      if ("line" in seg) {
        let list = rules.get(seg.chain);
        if (!list) rules.set(seg.chain, (list = []));
        else if (Object.isFrozen(list)) rules.set(seg.chain, (list = [...list]));
        list.push(seg.line);
        continue;
      }
      const lists = listsOf(seg);
      for (let i = 0; i < seg.chains.length; i++) {
        const c = seg.chains[i]!;
        const lines = lists[i]!;
        const list = rules.get(c);
        if (!list) rules.set(c, lines as string[]);
        else if (Object.isFrozen(list)) rules.set(c, [...list, ...lines]);
        else for (const l of lines) list.push(l);
      }
    }
    this.rulesMap = rules;
    return rules;
  }
  /**
   * The table's section of the payload. With no reused fragments (a cold full render) that is the sink's text as
   * it is. Otherwise the reused fragments' texts are joined in at their places, and every fragment becomes a range
   * of the joined text, dropping its own copy and its lists (they would keep older texts alive).
   */
  text(): string {
    if (this.joined === undefined) {
      let src = this.box;
      if (this.reused.length > 0) {
        const fresh = this.box.text;
        const parts: string[] = [];
        let prev = 0;
        for (let i = 0; i < this.reused.length; i++) {
          const at = this.reusedAt[i]!;
          if (at > prev) parts.push(fresh.slice(prev, at));
          parts.push(textOf(this.reused[i]!));
          prev = at;
        }
        if (prev < fresh.length) parts.push(fresh.slice(prev));
        src = { text: parts.join("") };
        const { fragments, offsets } = this;
        for (let i = 0; i < fragments.length; i++) {
          const f = fragments[i]!;
          f.src = src;
          f.at = offsets[i]!;
          f.text = undefined;
          f.lists = undefined;
        }
      }
      const decl = this.extraChains.length ? [...this.chains, ...this.extraChains] : this.chains;
      const head = decl.length ? `:${decl.join(" - [0:0]\n:")} - [0:0]\n` : "";
      this.joined = head + src.text;
    }
    return this.joined;
  }
}

/**
 * The last render's TableWriters, kept until the next render (its result holds them anyway while a caller keeps it).
 * When every writer died at a full GC, so did their hidden classes (V8 holds the transitions to them weakly), and the
 * optimised renderServicePort, which embeds those maps, was thrown away ("weak objects" in --trace-deopt) and ran
 * unoptimised for part of the next render: ~15–20 % of a 1k render's median in an A/B of the two builds. One idle
 * writer kept for its map did not stop it; the last render's writers do.
 */
const lastRender: { writers: readonly TableWriter[] } = { writers: [] };

/**
 * `parts.join("")`, in runs of 1,024 pieces joined again (only for text with characters above 255): V8's join of
 * one ~150k-piece array took ~1.4× as long (1k render: 11–12 ms against 8–9 ms, same parts, interleaved, load 2.5).
 */
function joinPieces(parts: readonly string[]): string {
  const run = 1024;
  if (parts.length <= run) return parts.join("");
  const runs: string[] = [];
  for (let i = 0; i < parts.length; i += run) runs.push(parts.slice(i, i + run).join(""));
  return runs.join("");
}

/** A table's result view: chains now, per-chain rules when first asked for. */
function tableRules(w: TableWriter): TableRules {
  return {
    chains: w.chains,
    get rules() {
      return w.rules;
    },
  };
}

/** Renders the full iptables state kube-proxy would write for this input. */
export function render(input: ProxierInput, opts: RenderOptions = {}): RenderResult {
  // Byte sinks first; text with a character above 255 (never from valid Kubernetes names) is redone as pieces.
  return guarded(input, opts, false) ?? guarded(input, opts, true)!;
}

/** Ports rendered by the render in progress: their fragments point at text that exists only once it finishes. */
const inFlight: ServicePortInfo[] = [];

/**
 * renderWith, dropping the cached fragments of ports it rendered when it does not finish (null, or an exception):
 * their text was never read out of the sinks, so a later render must not reuse them.
 */
function guarded(input: ProxierInput, opts: RenderOptions, asPieces: boolean): RenderResult | null {
  inFlight.length = 0;
  let r: RenderResult | null = null;
  try {
    r = renderWith(input, opts, asPieces);
    return r;
  } finally {
    if (r === null) for (const sp of inFlight) fragmentCache.delete(sp);
    inFlight.length = 0;
  }
}

/**
 * `render` with the text kept as pieces and joined — the path text with a character above 255 takes. For tests
 * that compare it with the byte sinks.
 */
export function renderAsPieces(input: ProxierInput, opts: RenderOptions = {}): RenderResult {
  return guarded(input, opts, true)!;
}

/** One render: null when `asPieces` is false and the text needed more than a byte per character. */
function renderWith(input: ProxierInput, opts: RenderOptions, asPieces: boolean): RenderResult | null {
  const family: Family = opts.ipFamily ?? "IPv4";
  const isIPv6 = family === "IPv6";
  const mark = opts.masqueradeMark ?? masqueradeMarkFor(opts.masqueradeBit ?? 14);
  const nfacct = opts.nfacct ?? {};

  const nodeIPs = input.node.ips.map((s) => parseIP(s)).filter((p): p is ParsedIP => p !== null && p.family === family);
  const nodeIP = nodeIPs[0] ?? null;

  // Local traffic detector (NewDetectLocalByCIDR); absent → not implemented.
  const clusterCIDR = (opts.clusterCIDRs ?? []).map((c) => parseCIDR(c)).find((c) => c && c.family === family);

  // --nodeport-addresses (proxyutil.NodePortAddresses).
  const npa = nodePortAddresses(opts.nodePortAddresses ?? [], family, nodeIP?.text ?? null);
  const localhostNodePorts = (opts.localhostNodePorts ?? true) && npa.containsIPv4Loopback && !isIPv6;

  const svcPorts = [...servicePortsFromServices(input.services, family).values()].sort((a, b) =>
    a.name < b.name ? -1 : a.name > b.name ? 1 : a.protocol < b.protocol ? -1 : a.protocol > b.protocol ? 1 : 0,
  );
  const endpointsMap = endpointsFromSlices(input.endpointSlices, family, input.node.name);

  sinks.filter.reset(asPieces);
  sinks.nat.reset(asPieces);
  const filter = new TableWriter(sinks.filter);
  const nat = new TableWriter(sinks.nat);
  for (const c of [Chains.services, Chains.externalServices, Chains.forward, Chains.nodePorts, Chains.proxyFirewall])
    filter.chain(c);
  for (const c of [Chains.services, Chains.nodePorts, Chains.postrouting, Chains.markMasq]) nat.chain(c);

  nat.line(Chains.postrouting, `-m mark ! --mark ${mark}/${mark} -j RETURN`);
  nat.line(Chains.postrouting, `-j MARK --xor-mark ${mark}`);
  nat.line(
    Chains.postrouting,
    `-m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE${opts.randomFully ? " --random-fully" : ""}`,
  );
  nat.line(Chains.markMasq, `-j MARK --or-mark ${mark}`);

  if (!isIPv6 && localhostNodePorts) {
    filter.chain(Chains.kubeletFirewall);
    filter.line(
      Chains.kubeletFirewall,
      `-m comment --comment "block incoming localnet connections" -d 127.0.0.0/8 ! -s 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP`,
    );
  }

  let totalEndpoints = 0;
  // Each port's endpoint list, looked up once (by a string key: hashing and comparing it is not free at 1k+ ports).
  const epsOf: EndpointInfo[][] = new Array(svcPorts.length);
  for (let i = 0; i < svcPorts.length; i++) {
    const eps = endpointsMap.get(svcPorts[i]!.key) ?? EMPTY;
    epsOf[i] = eps;
    totalEndpoints += eps.length;
  }
  const largeClusterMode = totalEndpoints > (opts.largeClusterEndpointsThreshold ?? 1000);

  let noLocalInternal = 0;
  let noLocalExternal = 0;

  const g: PortGlobals = {
    isIPv6,
    masqueradeAll: opts.masqueradeAll ?? false,
    clusterCIDR: clusterCIDR?.text ?? null,
    localhostNodePorts,
    nfacctLocalhost: nfacct.localhostNodePortsAccepted ?? false,
    nodeIP,
    largeClusterMode,
  };
  // Everything besides the service port and its endpoints that shapes a service port's rules.
  const sig = [
    family,
    mark,
    g.masqueradeAll ? 1 : 0,
    g.clusterCIDR ?? "",
    localhostNodePorts ? 1 : 0,
    g.nfacctLocalhost ? 1 : 0,
    nodeIP?.text ?? "",
    largeClusterMode ? 1 : 0,
  ].join("|");

  lastRender.writers = [filter, nat];
  const used: [ServicePortInfo, Fragment][] = [];
  for (let i = 0; i < svcPorts.length; i++) {
    const sp = svcPorts[i]!;
    const eps = epsOf[i]!;
    let frag = fragmentCache.get(sp);
    if (!frag || frag.sig !== sig || !sameRefs(frag.endpoints, eps)) {
      frag = renderServicePort(sp, eps, g, sig, filter, nat);
      fragmentCache.set(sp, frag);
      inFlight.push(sp);
    }
    used.push([sp, frag]);
    filter.add(frag.filter);
    nat.add(frag.nat);
    noLocalInternal += frag.noLocalInternal;
    noLocalExternal += frag.noLocalExternal;
  }

  // Stale chain deletion.
  const staleChains: string[] = [];
  if (opts.existingNatChains) {
    let touched: Set<string> | undefined;
    for (const c of opts.existingNatChains) {
      if (!isServiceChainName(c)) continue;
      touched ??= nat.touchedChains();
      if (!touched.has(c)) staleChains.push(c);
    }
    staleChains.sort();
    for (const c of staleChains) {
      nat.extraChains.push(c);
      nat.raw(`-X ${c}`);
    }
  }

  // The jump to KUBE-NODEPORTS must be the last rule of nat KUBE-SERVICES.
  const lastComment = `-m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain"`;
  if (npa.matchAll) {
    let dest = "-m addrtype --dst-type LOCAL";
    if (isIPv6) dest += " ! -d ::1/128";
    else if (!localhostNodePorts) dest += " ! -d 127.0.0.0/8";
    nat.line(Chains.services, `${lastComment} ${dest} -j ${Chains.nodePorts}`);
  } else {
    const local = (opts.localAddresses ?? [...input.node.ips, isIPv6 ? "::1" : "127.0.0.1"])
      .map((s) => parseIP(s))
      .filter((a): a is ParsedIP => a !== null && a.family === family);
    const matched = new Set<string>();
    for (const a of local) if (npa.cidrs.some((c) => cidrContains(c, a))) matched.add(a.text);
    for (const ip of [...matched].sort()) {
      const isLoopback = isIPv6 ? ip === "::1" : ip.startsWith("127.");
      if (isLoopback && (isIPv6 || !localhostNodePorts)) continue;
      nat.line(Chains.services, `${lastComment} -d ${ip} -j ${Chains.nodePorts}`);
    }
  }

  if (!opts.conntrackTCPLiberal) {
    const acct = nfacct.ctStateInvalidDropped ? ` -m nfacct --nfacct-name ${NfacctCounters.ctStateInvalidDropped}` : "";
    filter.line(Chains.forward, `-m conntrack --ctstate INVALID${acct} -j DROP`);
  }
  filter.line(
    Chains.forward,
    `-m comment --comment "kubernetes forwarding rules" -m mark --mark ${mark}/${mark} -j ACCEPT`,
  );
  filter.line(
    Chains.forward,
    `-m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`,
  );

  // The sinks' text becomes strings now: fragments rendered here read from them, and the next render reuses the sinks.
  if (!filter.finish() || !nat.finish()) return null;

  // Built on first use: a partial sync never needs the whole text.
  let payload: string | undefined;
  let serviceChains: Map<string, string[]> | undefined;
  let activeNatChains: Set<string> | undefined;
  return {
    get payload() {
      payload ??= `*filter\n${filter.text()}COMMIT\n*nat\n${nat.text()}COMMIT\n`;
      return payload;
    },
    filter: tableRules(filter),
    nat: tableRules(nat),
    staleChains,
    get serviceChains() {
      if (!serviceChains) {
        serviceChains = new Map();
        for (const [sp, f] of used) {
          if (f.nat.owned.length === 0) continue;
          const list = serviceChains.get(sp.serviceKey);
          if (list) list.push(...f.nat.owned);
          else serviceChains.set(sp.serviceKey, [...f.nat.owned]);
        }
      }
      return serviceChains;
    },
    get activeNatChains() {
      if (!activeNatChains) {
        activeNatChains = new Set();
        for (const [, f] of used) for (const c of f.nat.owned) activeNatChains.add(c);
      }
      return activeNatChains;
    },
    servicePorts: svcPorts,
    endpoints: endpointsMap,
    stats: {
      servicePorts: svcPorts.length,
      endpoints: totalEndpoints,
      filterRules: filter.ruleCount,
      natRules: nat.ruleCount,
      natChains: nat.chains.length,
      largeClusterMode,
      noLocalEndpointsInternal: noLocalInternal,
      noLocalEndpointsExternal: noLocalExternal,
    },
    masqueradeMark: mark,
  };
}
/** Render-wide settings a service port's rules depend on (all of them are in the fragment signature). */
interface PortGlobals {
  isIPv6: boolean;
  masqueradeAll: boolean;
  clusterCIDR: string | null;
  localhostNodePorts: boolean;
  nfacctLocalhost: boolean;
  nodeIP: ParsedIP | null;
  largeClusterMode: boolean;
}

/**
 * Fragments per service port (memoised per Service object, see model.ts), replayed when neither the port, its
 * endpoints (memoised per EndpointSlice object) nor the global options changed. Keeps a re-render proportional
 * to what changed plus one pass over the fragments.
 */
const fragmentCache = new WeakMap<ServicePortInfo, Fragment>();

function sameRefs<T>(a: T[], b: T[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** One service port's rules (the body of kube-proxy's per-service loop in syncProxyRules). */
function renderServicePort(
  sp: ServicePortInfo,
  allEndpoints: EndpointInfo[],
  g: PortGlobals,
  sig: string,
  filterTable: TableWriter,
  natTable: TableWriter,
): Fragment {
  const { filter, nat } = scratch;
  filter.begin(filterTable.sink, filterTable.box);
  nat.begin(natTable.sink, natTable.box);
  let noLocalInternal = 0;
  let noLocalExternal = 0;
  const p = sp.protocol;
  const S = sp.name;
  const port = sp.port;
  const { clusterEndpoints, localEndpoints, allReachableEndpoints, hasAnyEndpoints } = categorizeEndpoints(
    allEndpoints,
    sp,
  );
  const hasEndpoints = hasAnyEndpoints;

  const clusterPolicyChain = sp.clusterChain;
  const usesClusterPolicyChain = clusterEndpoints.length > 0 && usesClusterEndpoints(sp);
  const localPolicyChain = sp.localChain;
  const usesLocalPolicyChain = localEndpoints.length > 0 && usesLocalEndpoints(sp);

  let internalPolicyChain = clusterPolicyChain;
  let hasInternalEndpoints = hasEndpoints;
  if (sp.internalPolicyLocal) {
    internalPolicyChain = localPolicyChain;
    if (localEndpoints.length === 0) hasInternalEndpoints = false;
  }
  let externalPolicyChain = clusterPolicyChain;
  let hasExternalEndpoints = hasEndpoints;
  if (sp.externalPolicyLocal) {
    externalPolicyChain = localPolicyChain;
    if (localEndpoints.length === 0) hasExternalEndpoints = false;
  }
  const externalTrafficChain = sp.externalChain;
  const usesExternalTrafficChain = hasEndpoints && externallyAccessible(sp);
  const fwChain = sp.firewallChain;
  const usesFWChain = hasEndpoints && sp.loadBalancerVIPs.length > 0 && sp.loadBalancerSourceRanges.length > 0;
  const loadBalancerTrafficChain = usesFWChain ? fwChain : externalTrafficChain;

  let internalFilterTarget = "";
  let internalFilterComment = "";
  let externalFilterTarget = "";
  let externalFilterComment = "";
  if (!hasEndpoints) {
    internalFilterTarget = externalFilterTarget = "REJECT";
    internalFilterComment = externalFilterComment = `"${S} has no endpoints"`;
  } else {
    if (!hasInternalEndpoints) {
      internalFilterTarget = "DROP";
      internalFilterComment = `"${S} has no local endpoints"`;
      noLocalInternal++;
    }
    if (!hasExternalEndpoints) {
      externalFilterTarget = "DROP";
      externalFilterComment = `"${S} has no local endpoints"`;
      noLocalExternal++;
    }
  }
  const mp = `-m ${p} -p ${p}`;
  // The port's lines are copied into the byte sink natively (putLatin1, the native line writer), without put's
  // per-character check. Their parts from the input are checked here once, before the first line: the port's name
  // and protocol, the endpoints' ports (chain names, canonical IPs and CIDRs, and numbers are ASCII by construction).
  nat.unlessLatin1(S);
  nat.unlessLatin1(p);
  nat.unlessNumericPorts(allEndpoints);

  // ClusterIP capture.
  const clusterMatch = `-m comment --comment "${S} cluster IP" ${mp} -d ${sp.clusterIP} --dport ${port}`;
  if (hasInternalEndpoints) {
    nat.line(Chains.services, `${clusterMatch} -j ${internalPolicyChain}`);
  } else {
    filter.line(
      Chains.services,
      `-m comment --comment ${internalFilterComment} ${mp} -d ${sp.clusterIP} --dport ${port} -j ${internalFilterTarget}`,
    );
  }

  // externalIPs.
  for (const extIP of sp.externalIPs) {
    if (hasEndpoints) {
      nat.line(
        Chains.services,
        `-m comment --comment "${S} external IP" ${mp} -d ${extIP} --dport ${port} -j ${externalTrafficChain}`,
      );
    }
    if (!hasExternalEndpoints) {
      filter.line(
        Chains.externalServices,
        `-m comment --comment ${externalFilterComment} ${mp} -d ${extIP} --dport ${port} -j ${externalFilterTarget}`,
      );
    }
  }

  // LoadBalancer ingress.
  for (const lbip of sp.loadBalancerVIPs) {
    if (hasEndpoints) {
      nat.line(
        Chains.services,
        `-m comment --comment "${S} loadbalancer IP" ${mp} -d ${lbip} --dport ${port} -j ${loadBalancerTrafficChain}`,
      );
    }
    if (usesFWChain) {
      filter.line(
        Chains.proxyFirewall,
        `-m comment --comment "${S} traffic not accepted by ${fwChain}" ${mp} -d ${lbip} --dport ${port} -j DROP`,
      );
    }
  }
  if (!hasExternalEndpoints) {
    for (const lbip of sp.loadBalancerVIPs) {
      filter.line(
        Chains.externalServices,
        `-m comment --comment ${externalFilterComment} ${mp} -d ${lbip} --dport ${port} -j ${externalFilterTarget}`,
      );
    }
  }

  // NodePort.
  if (sp.nodePort !== 0) {
    const np = sp.nodePort;
    if (hasEndpoints) {
      if (g.localhostNodePorts && !g.isIPv6 && g.nfacctLocalhost) {
        nat.line(
          Chains.nodePorts,
          `-m comment --comment ${S} ${mp} -d 127.0.0.0/8 --dport ${np} -m nfacct --nfacct-name ${NfacctCounters.localhostNodePortsAccepted} -j ${externalTrafficChain}`,
        );
      }
      nat.line(Chains.nodePorts, `-m comment --comment ${S} ${mp} --dport ${np} -j ${externalTrafficChain}`);
    }
    if (!hasExternalEndpoints) {
      filter.line(
        Chains.externalServices,
        `-m comment --comment ${externalFilterComment} -m addrtype --dst-type LOCAL ${mp} --dport ${np} -j ${externalFilterTarget}`,
      );
    }
  }

  // HealthCheckNodePort.
  if (sp.healthCheckNodePort !== 0) {
    filter.line(
      Chains.nodePorts,
      `-m comment --comment "${S} health check node port" -m tcp -p tcp --dport ${sp.healthCheckNodePort} -j ACCEPT`,
    );
  }

  // Internal traffic: masquerade off-cluster sources.
  if (hasInternalEndpoints) {
    if (g.masqueradeAll) nat.line(internalPolicyChain, `${clusterMatch} -j KUBE-MARK-MASQ`);
    else if (g.clusterCIDR) nat.line(internalPolicyChain, `${clusterMatch} ! -s ${g.clusterCIDR} -j KUBE-MARK-MASQ`);
  }

  // External traffic chain.
  if (usesExternalTrafficChain) {
    nat.own(externalTrafficChain);
    if (!sp.externalPolicyLocal) {
      nat.line(
        externalTrafficChain,
        `-m comment --comment "masquerade traffic for ${S} external destinations" -j ${Chains.markMasq}`,
      );
    } else {
      if (g.clusterCIDR) {
        nat.line(
          externalTrafficChain,
          `-m comment --comment "pod traffic for ${S} external destinations" -s ${g.clusterCIDR} -j ${clusterPolicyChain}`,
        );
      }
      nat.line(
        externalTrafficChain,
        `-m comment --comment "masquerade LOCAL traffic for ${S} external destinations" -m addrtype --src-type LOCAL -j ${Chains.markMasq}`,
      );
      nat.line(
        externalTrafficChain,
        `-m comment --comment "route LOCAL traffic for ${S} external destinations" -m addrtype --src-type LOCAL -j ${clusterPolicyChain}`,
      );
    }
    if (hasExternalEndpoints) nat.line(externalTrafficChain, `-j ${externalPolicyChain}`);
  }

  // Firewall chain (loadBalancerSourceRanges).
  if (usesFWChain) {
    nat.own(fwChain);
    const c0 = `-m comment --comment "${S} loadbalancer IP"`;
    let allowFromNode = false;
    for (const cidr of sp.loadBalancerSourceRanges) {
      nat.line(fwChain, `${c0} -s ${cidr} -j ${externalTrafficChain}`);
      const c = parseCIDR(cidr);
      if (c && g.nodeIP && cidrContains(c, g.nodeIP)) allowFromNode = true;
    }
    if (allowFromNode) {
      for (const lbip of sp.loadBalancerVIPs) nat.line(fwChain, `${c0} -s ${lbip} -j ${externalTrafficChain}`);
    }
    nat.line(fwChain, `-m comment --comment "other traffic to ${S} will be dropped by KUBE-PROXY-FIREWALL"`);
  }

  if (usesClusterPolicyChain) {
    nat.own(clusterPolicyChain);
    writeServiceToEndpointRules(nat, sp, clusterPolicyChain, clusterEndpoints, g.largeClusterMode);
  }
  if (usesLocalPolicyChain) {
    nat.own(localPolicyChain);
    writeServiceToEndpointRules(nat, sp, localPolicyChain, localEndpoints, g.largeClusterMode);
  }

  // Per endpoint: `-A SEP [comment ]-s IP -j KUBE-MARK-MASQ` and `-A SEP [comment ][recent ]MP -j DNAT --to-destination EP`.
  // What is the same for every endpoint of the port is joined once; without affinity (the bulk of a big payload)
  // both lines are one string, copied natively.
  const sepComment = g.largeClusterMode ? "" : `-m comment --comment ${S} `;
  const masqMid = flat(" ", sepComment, "-s ");
  if (!sp.sessionAffinityClientIP) {
    const dnatMid = flat(" ", sepComment, mp, " -j DNAT --to-destination ");
    // Each endpoint's chain and its two lines noted first; the text follows, natively or line by line.
    for (const ep of allReachableEndpoints) {
      const c = ep.chain;
      nat.own(c);
      nat.mark(c);
      nat.mark(c);
    }
    const sink = nat.sinkOf();
    const lw = nat.bytesKept ? lineWriter() : null;
    if (lw) {
      const packed = packEndpoints(allReachableEndpoints);
      // Per endpoint: the fixed parts, the chain twice, the IP and the endpoint (the packed text less its 3
      // separators has each once).
      const n =
        packed.count * (SEP_FIXED + masqMid.length + dnatMid.length - 3) + packed.text.length + packed.chainChars;
      const at = sink.room(n, lw);
      sink.wrote(lw.sepLines(at, packed.text, masqMid, dnatMid), at + n);
    } else {
      for (const ep of allReachableEndpoints) {
        const c = ep.chain;
        sink.putLatin1(`-A ${c}${masqMid}${ep.ip} -j KUBE-MARK-MASQ\n-A ${c}${dnatMid}${ep.endpoint}\n`);
      }
    }
  } else {
    const recentMid = flat(" ", sepComment, "-m recent --name ");
    const setMid = flat(" --set ", mp, " -j DNAT --to-destination ");
    for (const ep of allReachableEndpoints) {
      const c = ep.chain;
      nat.own(c);
      nat.mark(c).put("-A ").put(c).put(masqMid).put(ep.ip).put(" -j KUBE-MARK-MASQ\n");
      nat.mark(c).put("-A ").put(c).put(recentMid).put(c).put(setMid).put(ep.endpoint).put("\n");
    }
  }

  return {
    sig,
    endpoints: allEndpoints,
    filter: filter.freeze(),
    nat: nat.freeze(),
    noLocalInternal,
    noLocalExternal,
  };
}

function writeServiceToEndpointRules(
  nat: TableFragment,
  sp: ServicePortInfo,
  chain: string,
  endpoints: EndpointInfo[],
  largeClusterMode: boolean,
): void {
  // `-A CHAIN -m comment --comment "NAME -> EP" ` (no comment in large-cluster mode) in as few pieces as possible.
  const head = largeClusterMode ? flat("-A ", chain, " ") : flat("-A ", chain, ` -m comment --comment "${sp.name} -> `);
  const q = largeClusterMode ? "" : `" `;
  if (sp.sessionAffinityClientIP) {
    const recentMid = flat(q, "-m recent --name ");
    const rcheck = ` --rcheck --seconds ${sp.stickyMaxAgeSeconds} --reap -j `;
    for (const ep of endpoints) {
      const out = nat.mark(chain);
      if (largeClusterMode) out.put(head).put(recentMid).put(ep.chain).put(rcheck).put(ep.chain).put("\n");
      else out.put(head).put(ep.endpoint).put(recentMid).put(ep.chain).put(rcheck).put(ep.chain).put("\n");
    }
  }
  const statMid = largeClusterMode ? STAT_MID[0] : STAT_MID[1];
  const lastMid = largeClusterMode ? LAST_MID[0] : LAST_MID[1];
  // One string per line, copied natively (checked in renderServicePort); or its parts, by the native writer.
  const n = endpoints.length;
  for (let i = 0; i < n; i++) nat.mark(chain);
  const sink = nat.sinkOf();
  const lw = nat.bytesKept ? lineWriter() : null;
  if (lw && n > 0) {
    const packed = packEndpoints(endpoints);
    const jumps = probabilityJumpTextFor(n);
    const len =
      n * (head.length + 1) +
      (n - 1) * statMid.length +
      (jumps.length - (n - 1)) +
      lastMid.length +
      packed.chainChars +
      (largeClusterMode ? 0 : packed.endpointChars);
    const at = sink.room(len, lw);
    sink.wrote(lw.svcLines(at, packed.text, jumps, head, statMid, lastMid, !largeClusterMode), at + len);
    return;
  }
  for (let i = 0; i < n; i++) {
    const ep = endpoints[i]!;
    const e = largeClusterMode ? "" : ep.endpoint;
    if (i < n - 1) sink.putLatin1(`${head}${e}${statMid}${probabilityJump(n - i)}${ep.chain}\n`);
    else sink.putLatin1(`${head}${e}${lastMid}${ep.chain}\n`);
  }
}

/** The characters of the two endpoint-chain lines besides the chain (twice), IP, endpoint and the port's parts. */
const SEP_FIXED = "-A ".length + " -j KUBE-MARK-MASQ\n-A ".length + "\n".length;

/** The pieces between a line's comment and its probability / jump: [large-cluster mode (no comment), with comment]. */
const STAT_MID = ["-m statistic --mode random --probability ", `" -m statistic --mode random --probability `];
const LAST_MID = ["-j ", `" -j `];

const probabilityJumps: string[] = [];
/** `<probability> -j ` for 1/n, one flat string per n. */
function probabilityJump(n: number): string {
  const cached = probabilityJumps[n];
  if (cached) return cached;
  const s = flat(computeProbability(n), " -j ");
  if (n < 100_000) probabilityJumps[n] = s;
  return s;
}

const probabilityJumpTexts: string[] = [];
/** `probabilityJump(n - i)` + "\n" for i < n - 1, joined: the jumps of a chain with n endpoints, for the writer. */
function probabilityJumpTextFor(n: number): string {
  const cached = probabilityJumpTexts[n];
  if (cached !== undefined) return cached;
  let s = "";
  for (let i = 0; i < n - 1; i++) s += `${probabilityJump(n - i)}\n`;
  if (n < 100_000) probabilityJumpTexts[n] = s;
  return s;
}

/** The concatenation of `pieces` as one flat string (a piece used for many lines is then copied, not walked). */
function flat(...pieces: string[]): string {
  return pieces.join("");
}
interface NodePortAddresses {
  matchAll: boolean;
  cidrs: NonNullable<ReturnType<typeof parseCIDR>>[];
  containsIPv4Loopback: boolean;
}

/** proxyutil.NewNodePortAddresses: family-filtered CIDRs, "primary" = the node IP, none = match all. */
function nodePortAddresses(strings: string[], family: Family, primaryIP: string | null): NodePortAddresses {
  let cidrStrings: string[] = [];
  for (const s of strings) {
    if (s === "primary") {
      if (primaryIP) cidrStrings.push(family === "IPv4" ? `${primaryIP}/32` : `${primaryIP}/128`);
      continue;
    }
    const c = parseCIDR(s);
    if (c && c.family === family) cidrStrings.push(s);
  }
  if (cidrStrings.length === 0) cidrStrings = [family === "IPv4" ? "0.0.0.0/0" : "::/0"];
  const out: NodePortAddresses = { matchAll: false, cidrs: [], containsIPv4Loopback: false };
  const loopStart = parseIP("127.0.0.0")!;
  const loopNet = parseCIDR("127.0.0.0/8")!;
  for (const s of cidrStrings) {
    const c = parseCIDR(s)!;
    const networkIP = parseIP(c.text.split("/")[0]!)!;
    if (c.family === "IPv4" && (cidrContains(loopNet, networkIP) || cidrContains(c, loopStart)))
      out.containsIPv4Loopback = true;
    if (c.prefix === 0) {
      out.cidrs = [c];
      out.matchAll = true;
      break;
    }
    out.cidrs.push(c);
  }
  return out;
}
