/**
 * Gives kube-proxy's hashed chains their meaning: KUBE-SVC/SVL/EXT/FW-<hash> → `ns/svc:port` (+ protocol) and
 * KUBE-SEP-<hash> → `ns/svc:port` + `ip:port`. Candidate service names come from rule comments (the rules that
 * jump to the chain, the chain's own rules); a name is accepted only when kube-proxy's hash of it reproduces the
 * chain name, so it also works in large-cluster mode, where SEP rules carry no comment. What the hash cannot
 * confirm falls back to the comments. Resolution is lazy and per chain, so a diff of two 400k-line dumps only
 * resolves the chains that changed.
 */
import { endpointChainName, portProtoHash } from "../iptables/hash.js";
import type { Chain, Dump, Rule } from "./model.js";
import { rawTextOf } from "./parse.js";

export type ServiceChainKind = "SVC" | "SVL" | "EXT" | "FW" | "SEP";

export interface ChainMeaning {
  chain: string;
  kind: ServiceChainKind;
  /** `ns/svc:port` (or `ns/svc` for an unnamed port); "" if unknown. */
  service: string;
  protocol: string;
  /** SEP only: `ip:port`. */
  endpoint?: string;
  /** How the service name was found. */
  via: "hash" | "comment" | "none";
}

const KIND_RE = /^KUBE-(SVC|SVL|EXT|FW|SEP)-([A-Z2-7]{16})$/;
export const SERVICE_NAME_RE = /[a-z0-9][-a-z0-9.]*\/[a-z0-9][-a-z0-9.]*(?::[-a-z0-9]+)?/;
const SERVICE_NAME_G = new RegExp(SERVICE_NAME_RE.source, "g");
const JUMP_RE = / -[jg] (KUBE-(?:SVC|SVL|EXT|FW|SEP)-[A-Z2-7]{16})(?: |$)/;
const COMMENT_RE = /--comment (?:"((?:[^"\\]|\\.)*)"|(\S+))/;
const PROTOS = ["tcp", "udp", "sctp"];
/** Chains whose rules jump to per-service chains and carry the service's name in their comments. */
export const SHARED_CHAINS = ["KUBE-SERVICES", "KUBE-NODEPORTS", "KUBE-EXTERNAL-SERVICES", "KUBE-PROXY-FIREWALL"];
const SHARED = SHARED_CHAINS;
/** See ChainNamer.pastSearchBudget. */
const SEARCHES_BEFORE_INDEX = 32;

export function chainKind(chain: string): ServiceChainKind | null {
  const m = KIND_RE.exec(chain);
  return m ? (m[1] as ServiceChainKind) : null;
}

export function ruleComment(r: Rule): string {
  const c = r.matches.find((m) => m.name === "comment");
  return c?.opts.find((o) => o.name === "comment")?.values[0] ?? "";
}

/** Lines of a chain as text: without normalising when the dump was parsed lazily. */
function chainLines(c: Chain): string[] {
  const t = rawTextOf(c);
  if (t !== null) return t === "" ? [] : t.split("\n");
  return c.rules.map((r) => r.raw);
}

/** A chain's rule lines joined by newlines (as written). */
function chainText(c: Chain): string {
  return rawTextOf(c) ?? c.rules.map((r) => r.raw).join("\n");
}

/** The lines of `text` that contain `needle`, each once, in order. */
function* linesContaining(text: string, needle: string): Generator<string> {
  let lineEnd = -1;
  for (let at = text.indexOf(needle); at >= 0; at = text.indexOf(needle, Math.max(at + 1, lineEnd + 1))) {
    const start = text.lastIndexOf("\n", at) + 1;
    lineEnd = text.indexOf("\n", at);
    if (lineEnd < 0) lineEnd = text.length;
    yield text.slice(start, lineEnd);
  }
}

function commentOfLine(line: string): string {
  const m = COMMENT_RE.exec(line);
  if (!m) return "";
  const v = m[1] ?? m[2] ?? "";
  return v.includes("\\") ? v.replace(/\\(.)/g, "$1") : v;
}

/** Resolves chain names on demand against one or more dumps (typically the two sides of a diff). */
export class ChainNamer {
  private cache = new Map<string, ChainMeaning>();
  /** chain hash → comments of rules in shared chains jumping to a chain with that hash. */
  private sharedJumps = new Map<string, string[]>();
  /** Text of the shared chains, per dump. */
  private sharedTexts: string[][] | null = null;
  /** SEP chain → dispatch chains (SVC/SVL) jumping to it; built from `hint` chains first, globally if needed. */
  private sepParents = new Map<string, string>();
  private parentsScanned = false;
  private sharedServices: Set<string>[] | null = null;
  /** Text searches so far (jumpsTo, isNamedIn): past SEARCHES_BEFORE_INDEX, one pass indexes every line instead. */
  private searches = 0;
  private jumpIndex: Map<string, string[]> | null = null;

  /** `searchesBeforeIndex`: see pastSearchBudget (tests pass 0 and Infinity to compare both ways). */
  constructor(
    readonly dumps: Dump[],
    private readonly searchesBeforeIndex = SEARCHES_BEFORE_INDEX,
  ) {}

  private natChain(name: string): Chain | undefined {
    for (const d of this.dumps) {
      const c = d.tables.get("nat")?.chains.get(name);
      if (c) return c;
    }
    return undefined;
  }

  /** The shared chains' rule text of each dump (tables in order, SHARED in order). */
  private shared(): string[][] {
    this.sharedTexts ??= this.dumps.map((d) => {
      const out: string[] = [];
      for (const t of d.tables.values())
        for (const name of SHARED) {
          const c = t.chains.get(name);
          if (c) out.push(chainText(c));
        }
      return out;
    });
    return this.sharedTexts;
  }

  /**
   * Comments of the shared chains' rules that jump to a KUBE-*-<hash> chain, in dump, table, chain and rule order.
   * Found by searching the text for the hash: a big dump's 10k-line KUBE-SERVICES is never split into lines.
   */
  private jumpsTo(hash: string): string[] {
    let list = this.sharedJumps.get(hash);
    if (list) return list;
    if (!this.jumpIndex && this.pastSearchBudget()) this.jumpIndex = this.indexJumps();
    if (this.jumpIndex) {
      list = this.jumpIndex.get(hash) ?? [];
      this.sharedJumps.set(hash, list);
      return list;
    }
    list = [];
    for (const texts of this.shared())
      for (const text of texts)
        for (const line of linesContaining(text, hash)) {
          const m = JUMP_RE.exec(line);
          if (m && m[1]!.slice(m[1]!.lastIndexOf("-") + 1) === hash) list.push(commentOfLine(line));
        }
    this.sharedJumps.set(hash, list);
    return list;
  }

  /**
   * Counts one more lookup; true once past the search budget, when indexing every line is the cheaper way. Each
   * search scans the shared chains (a 10k-service KUBE-SERVICES is ~1.5 MB), so a diff where thousands of services
   * changed spent ~9 of its ~15 s in searches; one pass over every line costs about as much as a few dozen searches.
   */
  private pastSearchBudget(): boolean {
    return ++this.searches > this.searchesBeforeIndex;
  }

  /** jumpsTo for every hash at once: one pass over the shared chains' lines, same order. */
  private indexJumps(): Map<string, string[]> {
    const index = new Map<string, string[]>();
    for (const texts of this.shared())
      for (const text of texts)
        for (const line of text.split("\n")) {
          const m = JUMP_RE.exec(line);
          if (!m) continue;
          const hash = m[1]!.slice(m[1]!.lastIndexOf("-") + 1);
          const list = index.get(hash);
          if (list) list.push(commentOfLine(line));
          else index.set(hash, [commentOfLine(line)]);
        }
    return index;
  }

  /** Services named in the shared chains' comments of dump `i` (to tell added/removed services apart). */
  servicesNamedIn(i: number): Set<string> {
    if (!this.sharedServices) {
      this.sharedServices = this.shared().map((texts) => {
        const s = new Set<string>();
        for (const text of texts)
          for (const line of text.split("\n"))
            for (const m of commentOfLine(line).match(SERVICE_NAME_G) ?? []) s.add(m);
        return s;
      });
    }
    return this.sharedServices[i] ?? new Set();
  }

  /** `servicesNamedIn(i).has(service)`, by searching the text for the name instead of collecting every name. */
  isNamedIn(i: number, service: string): boolean {
    if (this.sharedServices || this.pastSearchBudget()) return this.servicesNamedIn(i).has(service);
    for (const text of this.shared()[i] ?? [])
      for (const line of linesContaining(text, service))
        if (commentOfLine(line).match(SERVICE_NAME_G)?.includes(service)) return true;
    return false;
  }

  /** True when dump `i` has any per-service chain of this service port. */
  hasServiceChains(i: number, service: string): boolean {
    const nat = this.dumps[i]?.tables.get("nat");
    if (!nat) return false;
    for (const p of PROTOS) {
      const h = portProtoHash(service, p);
      for (const k of ["SVC", "SVL", "EXT", "FW"]) if (nat.chains.has(`KUBE-${k}-${h}`)) return true;
    }
    return false;
  }

  /** Records which SEP chains the given chains' rules jump to (call with the chains a diff is looking at). */
  noteParents(chains: Iterable<Chain>): void {
    for (const c of chains) {
      if (!/^KUBE-SV[CL]-/.test(c.name)) continue;
      for (const line of chainLines(c)) {
        const m = JUMP_RE.exec(line);
        if (m?.[1]?.startsWith("KUBE-SEP-")) this.sepParents.set(m[1], c.name);
      }
    }
  }

  private parentOf(sep: string): string | undefined {
    let p = this.sepParents.get(sep);
    if (p || this.parentsScanned) return p;
    this.parentsScanned = true;
    for (const d of this.dumps) {
      const nat = d.tables.get("nat");
      if (nat) this.noteParents(nat.chains.values());
    }
    p = this.sepParents.get(sep);
    return p;
  }

  /** The meaning of a KUBE-SVC/SVL/EXT/FW/SEP chain, or undefined for other chains. */
  meaning(name: string): ChainMeaning | undefined {
    const hit = this.cache.get(name);
    if (hit) return hit;
    const m = KIND_RE.exec(name);
    if (!m) return undefined;
    const kind = m[1] as ServiceChainKind;
    const hash = m[2]!;
    let out: ChainMeaning;
    if (kind !== "SEP") {
      const own = this.natChain(name);
      const comments = [...this.jumpsTo(hash), ...(own ? chainLines(own).map(commentOfLine) : [])];
      out = { chain: name, kind, service: "", protocol: "", via: "none" };
      search: for (const c of comments)
        for (const s of c.match(SERVICE_NAME_G) ?? [])
          for (const p of PROTOS)
            if (portProtoHash(s, p) === hash) {
              out = { chain: name, kind, service: s, protocol: p, via: "hash" };
              break search;
            }
      if (!out.service) {
        const s = comments.map((c) => c.match(SERVICE_NAME_RE)?.[0]).find(Boolean);
        if (s) out = { ...out, service: s, via: "comment" };
      }
    } else {
      const own = this.natChain(name);
      let endpoint: string | undefined;
      let protocol = "";
      let fromComment = "";
      for (const r of own?.rules ?? []) {
        if (r.target?.name === "DNAT") {
          endpoint = r.target.opts.find((o) => o.name === "to-destination")?.values[0];
          protocol = r.generic.find((g) => g.name === "p" && !g.neg)?.values[0] ?? "";
        }
        fromComment ||= ruleComment(r).match(SERVICE_NAME_RE)?.[0] ?? "";
      }
      const parent = this.parentOf(name);
      const tries = [parent ? this.meaning(parent)?.service : undefined, fromComment].filter((x): x is string => !!x);
      out = { chain: name, kind, service: "", protocol, via: "none" };
      for (const s of tries)
        for (const p of protocol ? [protocol] : PROTOS)
          if (endpoint && endpointChainName(s, p, endpoint) === name) {
            out = { chain: name, kind, service: s, protocol: p, via: "hash" };
            break;
          }
      if (!out.service && tries[0]) out = { ...out, service: tries[0], via: "comment" };
      if (endpoint) out.endpoint = endpoint;
    }
    this.cache.set(name, out);
    return out;
  }
}

/** Resolves every KUBE-SVC/SVL/EXT/FW/SEP chain of the dumps' nat tables. */
export function resolveChainNames(dumps: Dump[]): Map<string, ChainMeaning> {
  const namer = new ChainNamer(dumps);
  const out = new Map<string, ChainMeaning>();
  for (const d of dumps) {
    const nat = d.tables.get("nat");
    if (!nat) continue;
    namer.noteParents(nat.chains.values());
    for (const name of nat.chains.keys()) {
      const m = namer.meaning(name);
      if (m) out.set(name, m);
    }
  }
  return out;
}
