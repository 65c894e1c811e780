/** The parsed, normalised form of an iptables rule set (one or more tables). */

/** One option of a match, a target, or the rule itself: `[!] --name values…`. */
export interface Opt {
  /** Canonical long name without dashes (`dport`, `to-destination`) or the generic short name (`s`, `d`, `p`). */
  name: string;
  neg: boolean;
  values: string[];
}

/** A `-m NAME` block (or an implicit protocol match created by `-p tcp --dport …`). */
export interface Match {
  name: string;
  opts: Opt[];
}

export interface Target {
  name: string;
  /** `-g` (goto) instead of `-j`. */
  goto: boolean;
  opts: Opt[];
}

export interface Rule {
  table: string;
  chain: string;
  /** 1-based line in the input. */
  line: number;
  /** The rule as written (after `-A CHAIN`), for display. */
  raw: string;
  /** Generic options in canonical order: s, d, i, o, p, f. */
  generic: Opt[];
  matches: Match[];
  target: Target | null;
  /** Canonical text of everything after `-A CHAIN `; equal keys ⇔ equal rules. */
  key: string;
}

export interface Chain {
  name: string;
  builtin: boolean;
  /** Policy of a built-in chain (`ACCEPT`/`DROP`); `-` for user chains. */
  policy: string;
  rules: Rule[];
  line: number;
}

export interface Table {
  name: string;
  /** Chains in declaration order. */
  chains: Map<string, Chain>;
}

export interface Dump {
  /** Tables in input order. */
  tables: Map<string, Table>;
}

export const BUILTIN_CHAINS: Record<string, string[]> = {
  filter: ["INPUT", "FORWARD", "OUTPUT"],
  nat: ["PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"],
  mangle: ["PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"],
  raw: ["PREROUTING", "OUTPUT"],
  security: ["INPUT", "FORWARD", "OUTPUT"],
};

export function isBuiltinChain(table: string, chain: string): boolean {
  return BUILTIN_CHAINS[table]?.includes(chain) ?? false;
}

/** Targets that are not chains. */
export const STANDARD_TARGETS = new Set([
  "ACCEPT",
  "DROP",
  "RETURN",
  "REJECT",
  "DNAT",
  "SNAT",
  "MASQUERADE",
  "REDIRECT",
  "MARK",
  "CONNMARK",
  "LOG",
  "NFLOG",
  "CT",
  "NOTRACK",
  "TPROXY",
  "TCPMSS",
  "CHECKSUM",
  "QUEUE",
  "NFQUEUE",
  "AUDIT",
  "TRACE",
  "CLASSIFY",
  "DSCP",
  "TOS",
  "TTL",
  "HL",
  "SET",
  "ULOG",
]);

export function getOpt(opts: Opt[], name: string): Opt | undefined {
  return opts.find((o) => o.name === name);
}

export function findMatch(rule: Rule, name: string): Match | undefined {
  return rule.matches.find((m) => m.name === name);
}
