/**
 * Gives kube-proxy's hashed chains their meaning: KUBE-SVC/SVL/EXT/FW-<hash> → `ns/svc:port` (+ protocol) and
 * KUBE-SEP-<hash> → `ns/svc:port` + `ip:port`. Candidate service names come from every rule comment; a name is
 * accepted only when kube-proxy's hash of it reproduces the chain name (so it also works in large-cluster mode,
 * where SEP rules carry no comment). What the hash cannot confirm falls back to the comments.
 */
import { endpointChainName, portProtoHash } from "../iptables/hash.js";
import { commentService } from "./canonical.js";
import { type Dump, getOpt, type Rule } from "./model.js";

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
const SERVICE_RE = /[a-z0-9][-a-z0-9.]*\/[a-z0-9][-a-z0-9.]*(?::[-a-z0-9]+)?/g;
const PROTOS = ["tcp", "udp", "sctp"];

export function chainKind(chain: string): ServiceChainKind | null {
  const m = KIND_RE.exec(chain);
  return m ? (m[1] as ServiceChainKind) : null;
}

function comment(r: Rule): string {
  const c = r.matches.find((m) => m.name === "comment");
  return c ? (getOpt(c.opts, "comment")?.values[0] ?? "") : "";
}

function dnatTarget(r: Rule): string | undefined {
  if (r.target?.name !== "DNAT") return undefined;
  return getOpt(r.target.opts, "to-destination")?.values[0];
}

function ruleProto(r: Rule): string {
  return r.generic.find((g) => g.name === "p" && !g.neg)?.values[0] ?? "";
}

/** Resolves every KUBE-SVC/SVL/EXT/FW/SEP chain of the dumps' nat tables. */
export function resolveChainNames(dumps: Dump[]): Map<string, ChainMeaning> {
  const candidates = new Set<string>();
  const natRules: Rule[] = [];
  const natChains = new Map<string, Rule[]>();
  for (const d of dumps) {
    for (const t of d.tables.values()) {
      for (const c of t.chains.values()) {
        if (t.name === "nat" && !natChains.has(c.name)) natChains.set(c.name, c.rules);
        for (const r of c.rules) {
          const cm = comment(r);
          if (cm) for (const m of cm.match(SERVICE_RE) ?? []) candidates.add(m);
          if (t.name === "nat") natRules.push(r);
        }
      }
    }
  }
  const byHash = new Map<string, { service: string; protocol: string }>();
  for (const s of candidates) for (const p of PROTOS) byHash.set(portProtoHash(s, p), { service: s, protocol: p });
  const out = new Map<string, ChainMeaning>();
  const parentService = new Map<string, string>();
  // Port-level chains first: the hash names them exactly.
  for (const name of natChains.keys()) {
    const m = KIND_RE.exec(name);
    if (!m || m[1] === "SEP") continue;
    const hit = byHash.get(m[2]!);
    out.set(name, {
      chain: name,
      kind: m[1] as ServiceChainKind,
      service: hit?.service ?? "",
      protocol: hit?.protocol ?? "",
      via: hit ? "hash" : "none",
    });
  }
  for (const r of natRules) {
    const parent = out.get(r.chain);
    if (r.target && parent?.service && r.target.name.startsWith("KUBE-SEP-"))
      parentService.set(r.target.name, parent.service);
  }
  // Port-level chains the hash did not confirm: take the service from the comment of a rule jumping to them.
  for (const r of natRules) {
    const tgt = r.target ? out.get(r.target.name) : undefined;
    if (tgt && !tgt.service) {
      const s = commentService(r);
      const full = comment(r).match(SERVICE_RE)?.[0];
      if (full || s) {
        tgt.service = full ?? s;
        tgt.via = "comment";
      }
    }
  }
  for (const [name, rules] of natChains) {
    if (chainKind(name) !== "SEP") continue;
    let endpoint: string | undefined;
    let protocol = "";
    let fromComment = "";
    for (const r of rules) {
      const to = dnatTarget(r);
      if (to) {
        endpoint = to;
        protocol = ruleProto(r);
      }
      fromComment ||= comment(r).match(SERVICE_RE)?.[0] ?? "";
    }
    const tries = [parentService.get(name), fromComment].filter((x): x is string => !!x);
    let service = "";
    let via: ChainMeaning["via"] = "none";
    for (const s of tries) {
      for (const p of protocol ? [protocol] : PROTOS) {
        if (endpoint && endpointChainName(s, p, endpoint) === name) {
          service = s;
          protocol = p;
          via = "hash";
        }
      }
      if (via === "hash") break;
    }
    if (!service && tries[0]) {
      service = tries[0];
      via = "comment";
    }
    const meaning: ChainMeaning = { chain: name, kind: "SEP", service, protocol, via };
    if (endpoint) meaning.endpoint = endpoint;
    out.set(name, meaning);
  }
  return out;
}
