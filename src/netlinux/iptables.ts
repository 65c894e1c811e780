/**
 * iptables adapter: `iptables-restore --noflush --counters -w`, `iptables-save`, and the few single-rule
 * calls kube-proxy makes (ensure chain / ensure jump rule / chain exists), for one IP family and one backend
 * (legacy or nft), optionally inside a network namespace (every call is a child process via netns.runIn).
 *
 * `FakeIptables` is a stateful in-memory model with iptables-restore's `--noflush` semantics (a `:CHAIN` line
 * flushes that chain, `-X` deletes it) that rejects — and rolls back — what the kernel would: rules for chains
 * that do not exist, jumps to missing chains, deleting a chain that is still referenced or built in.
 *
 * Backend choice follows kubernetes-sigs/iptables-wrappers: a kubelet hint chain (KUBE-IPTABLES-HINT or
 * KUBE-KUBELET-CANARY in mangle) decides; otherwise the backend that already holds more rules wins (nft on a tie).
 */
import { CommandError } from "./exec.js";
import { type NetnsRef, runIn } from "./netns.js";

export type Table = "filter" | "nat" | "mangle" | "raw";
export type IPFamily = "IPv4" | "IPv6";
export type Backend = "legacy" | "nft";

export type IptablesErrorKind = "restore" | "save" | "command";

/** A failed iptables call; `line` is the payload line iptables-restore complained about, when it said. */
export class IptablesError extends Error {
  override name = "IptablesError";
  constructor(
    readonly kind: IptablesErrorKind,
    message: string,
    readonly line?: number,
  ) {
    super(message);
  }
}

/** What the proxier needs from iptables. Both the real runner and the fake implement it. */
export interface Iptables {
  readonly family: IPFamily;
  /** iptables-restore --noflush --counters of a payload holding one or more tables. */
  restore(payload: string): Promise<void>;
  /** iptables-save -t table. */
  save(table: Table): Promise<string>;
  /** Creates the chain if missing; true if it already existed. */
  ensureChain(table: Table, chain: string): Promise<boolean>;
  chainExists(table: Table, chain: string): Promise<boolean>;
  /** Adds the rule (prepend = -I, append = -A) unless an identical one exists (-C); true if it existed. */
  ensureRule(position: "prepend" | "append", table: Table, chain: string, args: string[]): Promise<boolean>;
  /** Whether MASQUERADE supports --random-fully. */
  hasRandomFully(): Promise<boolean>;
}

export interface IptablesRunnerOptions {
  family?: IPFamily;
  backend: Backend;
  netns?: NetnsRef;
  /** Seconds to wait for the xtables lock (-w). Default 5. */
  waitSeconds?: number;
}

function binary(family: IPFamily, backend: Backend, suffix: "" | "-restore" | "-save"): string {
  return `${family === "IPv6" ? "ip6tables" : "iptables"}-${backend}${suffix}`;
}

/** Extracts "line N" from iptables-restore's error text. */
export function restoreErrorLine(stderr: string): number | undefined {
  const m = stderr.match(/line (\d+) failed/) ?? stderr.match(/line:? (\d+)/);
  return m ? Number(m[1]) : undefined;
}

/** The real thing: runs iptables-{legacy,nft}[-restore|-save] (inside a namespace when `netns` is set). */
export class IptablesRunner implements Iptables {
  readonly family: IPFamily;
  readonly backend: Backend;
  readonly netns: NetnsRef;
  private readonly wait: string;
  private randomFully: boolean | undefined;
  constructor(opts: IptablesRunnerOptions) {
    this.family = opts.family ?? "IPv4";
    this.backend = opts.backend;
    this.netns = opts.netns ?? null;
    this.wait = String(opts.waitSeconds ?? 5);
  }

  private cmd(args: string[], input?: string) {
    return runIn(this.netns, binary(this.family, this.backend, ""), ["-w", this.wait, ...args], {
      check: false,
      input,
    });
  }

  async restore(payload: string): Promise<void> {
    const bin = binary(this.family, this.backend, "-restore");
    const r = await runIn(this.netns, bin, ["-w", this.wait, "--noflush", "--counters"], {
      input: payload,
      check: false,
    });
    if (r.code !== 0) {
      const msg = (r.stderr || r.stdout).trim();
      throw new IptablesError("restore", `${bin} failed (exit ${r.code}): ${msg}`, restoreErrorLine(msg));
    }
  }

  async save(table: Table): Promise<string> {
    const bin = binary(this.family, this.backend, "-save");
    const r = await runIn(this.netns, bin, ["-t", table], { check: false });
    if (r.code !== 0) throw new IptablesError("save", `${bin} -t ${table} failed: ${r.stderr.trim()}`);
    return r.stdout;
  }

  async ensureChain(table: Table, chain: string): Promise<boolean> {
    const r = await this.cmd(["-t", table, "-N", chain]);
    if (r.code === 0) return false;
    if (/already exists/i.test(r.stderr)) return true;
    throw new IptablesError("command", `-t ${table} -N ${chain}: ${r.stderr.trim()}`);
  }

  async chainExists(table: Table, chain: string): Promise<boolean> {
    const r = await this.cmd(["-t", table, "-S", chain, "1"]);
    return r.code === 0;
  }

  async ensureRule(position: "prepend" | "append", table: Table, chain: string, args: string[]): Promise<boolean> {
    const check = await this.cmd(["-t", table, "-C", chain, ...args]);
    if (check.code === 0) return true;
    const r = await this.cmd(["-t", table, position === "prepend" ? "-I" : "-A", chain, ...args]);
    if (r.code !== 0)
      throw new IptablesError("command", `-t ${table} -I ${chain} ${args.join(" ")}: ${r.stderr.trim()}`);
    return false;
  }

  async hasRandomFully(): Promise<boolean> {
    if (this.randomFully === undefined) {
      const r = await runIn(this.netns, binary(this.family, this.backend, ""), ["--version"], { check: false });
      const m = r.stdout.match(/v(\d+)\.(\d+)\.(\d+)/);
      const [maj, min, pat] = m ? [Number(m[1]), Number(m[2]), Number(m[3])] : [0, 0, 0];
      this.randomFully = maj > 1 || (maj === 1 && (min > 6 || (min === 6 && pat >= 2)));
    }
    return this.randomFully;
  }
}

function countRules(save: string): number {
  let n = 0;
  for (const line of save.split("\n")) if (line.startsWith("-")) n++;
  return n;
}

/** Table names listed in /proc/net/{ip,ip6}_tables_names (legacy iptables only; nft tables are not listed). */
export function parseTableNames(text: string): Set<string> {
  return new Set(
    text
      .split("\n")
      .map((l) => l.trim())
      .filter(Boolean),
  );
}

/**
 * Picks the backend the host already uses, like iptables-wrappers: kubelet's hint chains first, then whichever
 * backend holds more rules (nft on a tie). Runs inside `netns` when given.
 *
 * The legacy side is probed without creating anything: `iptables-legacy-save -t mangle` would instantiate an
 * empty legacy mangle table in the namespace (and from then on every `iptables-nft-save` there warns "iptables-legacy
 * tables present"), so the legacy tables that exist are read from /proc/net/ip_tables_names (per namespace; the
 * file is absent while ip_tables is not loaded, which means none) and only those are saved.
 */
export async function detectBackend(netns: NetnsRef = null): Promise<Backend> {
  const save = async (bin: string, args: string[] = []) => {
    try {
      const r = await runIn(netns, bin, args, { check: false, timeoutMs: 10_000 });
      return r.code === 0 ? r.stdout : "";
    } catch (e) {
      if (e instanceof CommandError || (e as NodeJS.ErrnoException).code === "ENOENT") return "";
      throw e;
    }
  };
  const [legacy4, legacy6] = await Promise.all(
    ["/proc/net/ip_tables_names", "/proc/net/ip6_tables_names"].map(async (f) =>
      parseTableNames(await save("cat", [f])),
    ),
  );
  const hint = /^:(KUBE-IPTABLES-HINT|KUBE-KUBELET-CANARY)\b/m;
  if (hint.test(await save("iptables-nft-save", ["-t", "mangle"]))) return "nft";
  if (hint.test(await save("ip6tables-nft-save", ["-t", "mangle"]))) return "nft";
  if (legacy4?.has("mangle") && hint.test(await save("iptables-legacy-save", ["-t", "mangle"]))) return "legacy";
  if (legacy6?.has("mangle") && hint.test(await save("ip6tables-legacy-save", ["-t", "mangle"]))) return "legacy";
  // Without -t, *-legacy-save dumps only the tables /proc lists; skipped altogether when there are none.
  const legacy =
    (legacy4?.size ? countRules(await save("iptables-legacy-save")) : 0) +
    (legacy6?.size ? countRules(await save("ip6tables-legacy-save")) : 0);
  if (legacy === 0) return "nft";
  const nft = countRules(await save("iptables-nft-save")) + countRules(await save("ip6tables-nft-save"));
  return legacy > nft ? "legacy" : "nft";
}

// ---------------------------------------------------------------------------------------------------------------
// The fake.

const BUILTIN_CHAINS: Record<Table, string[]> = {
  filter: ["INPUT", "FORWARD", "OUTPUT"],
  nat: ["PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"],
  mangle: ["PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"],
  raw: ["PREROUTING", "OUTPUT"],
};

/** Targets that are not chains. */
export const BUILTIN_TARGETS = new Set([
  "ACCEPT",
  "DROP",
  "RETURN",
  "REJECT",
  "DNAT",
  "SNAT",
  "MASQUERADE",
  "MARK",
  "CONNMARK",
  "REDIRECT",
  "LOG",
  "NOTRACK",
  "CT",
  "TPROXY",
]);

/** Splits a rule line into words, honouring double quotes (quotes are removed). */
export function splitWords(line: string): string[] {
  const words: string[] = [];
  let cur = "";
  let inQuote = false;
  let has = false;
  for (const ch of line) {
    if (ch === '"') {
      inQuote = !inQuote;
      has = true;
    } else if (ch === " " && !inQuote) {
      if (has) words.push(cur);
      cur = "";
      has = false;
    } else {
      cur += ch;
      has = true;
    }
  }
  if (has) words.push(cur);
  return words;
}

function quoteWord(w: string): string {
  return /[\s"]/.test(w) || w === "" ? `"${w.replace(/"/g, '\\"')}"` : w;
}

/** The jump target of a rule line (`-j X`), if any. */
export function jumpTarget(line: string): string | undefined {
  const words = splitWords(line);
  const i = words.findIndex((w) => w === "-j" || w === "--jump");
  return i >= 0 ? words[i + 1] : undefined;
}

type TableState = Map<string, string[]>;

function cloneState(s: Map<Table, TableState>): Map<Table, TableState> {
  const out = new Map<Table, TableState>();
  for (const [t, chains] of s) out.set(t, new Map([...chains].map(([c, r]) => [c, [...r]])));
  return out;
}

/**
 * In-memory iptables with restore semantics close to the kernel's: `:CHAIN` (create/flush), -A, -I [rulenum],
 * -D rulespec|rulenum, -F, -X, with iptables-restore's errors for a missing rule or an out-of-range number.
 * Restores are atomic across the whole payload (like the nft backend; legacy commits table by table).
 * `failNextRestores` injects failures for tests.
 */
export class FakeIptables implements Iptables {
  readonly family: IPFamily;
  tables = new Map<Table, TableState>();
  /** Every restore payload that was applied or attempted, in order. */
  readonly restores: string[] = [];
  /** Number of upcoming restore() calls that fail with an injected error. */
  failNextRestores = 0;
  randomFully = true;
  constructor(family: IPFamily = "IPv4") {
    this.family = family;
    for (const t of Object.keys(BUILTIN_CHAINS) as Table[]) {
      this.tables.set(t, new Map(BUILTIN_CHAINS[t].map((c) => [c, []])));
    }
  }

  async restore(payload: string): Promise<void> {
    this.restores.push(payload);
    if (this.failNextRestores > 0) {
      this.failNextRestores--;
      throw new IptablesError("restore", "iptables-restore: injected failure", 1);
    }
    this.tables = applyRestore(this.tables, payload);
  }

  /** Synchronous restore for pure tests. */
  restoreSync(payload: string): void {
    this.tables = applyRestore(this.tables, payload);
  }

  async save(table: Table): Promise<string> {
    return this.saveSync(table);
  }

  saveSync(table: Table): string {
    const chains = this.tables.get(table)!;
    const builtins = BUILTIN_CHAINS[table];
    let out = `*${table}\n`;
    for (const c of chains.keys()) out += builtins.includes(c) ? `:${c} ACCEPT [0:0]\n` : `:${c} - [0:0]\n`;
    for (const rules of chains.values()) for (const r of rules) out += `${r}\n`;
    return `${out}COMMIT\n`;
  }

  async ensureChain(table: Table, chain: string): Promise<boolean> {
    const chains = this.tables.get(table)!;
    if (chains.has(chain)) return true;
    chains.set(chain, []);
    return false;
  }

  async chainExists(table: Table, chain: string): Promise<boolean> {
    return this.tables.get(table)!.has(chain);
  }

  async ensureRule(position: "prepend" | "append", table: Table, chain: string, args: string[]): Promise<boolean> {
    const rules = this.tables.get(table)!.get(chain);
    if (!rules) throw new IptablesError("command", `iptables: No chain/target/match by that name (${table} ${chain})`);
    const target = args[args.indexOf("-j") + 1];
    if (target && !BUILTIN_TARGETS.has(target) && !this.tables.get(table)!.has(target))
      throw new IptablesError("command", `iptables: Couldn't load target \`${target}'`);
    const line = `-A ${chain} ${args.map(quoteWord).join(" ")}`;
    if (rules.includes(line)) return true;
    if (position === "prepend") rules.unshift(line);
    else rules.push(line);
    return false;
  }

  async hasRandomFully(): Promise<boolean> {
    return this.randomFully;
  }

  /** Deletes a chain and every rule jumping to it (what "someone flushed our rules" looks like). */
  flushAndDelete(table: Table, chain: string): void {
    const chains = this.tables.get(table)!;
    chains.delete(chain);
    for (const [c, rules] of chains)
      chains.set(
        c,
        rules.filter((r) => jumpTarget(r) !== chain),
      );
  }

  /** Chain → rules of one table (copy). */
  dump(table: Table): Map<string, string[]> {
    return new Map([...this.tables.get(table)!].map(([c, r]) => [c, [...r]]));
  }
}

/** Applies an iptables-restore --noflush payload to a table state; throws IptablesError without changing it. */
export function applyRestore(state: Map<Table, TableState>, payload: string): Map<Table, TableState> {
  const next = cloneState(state);
  const lines = payload.split("\n");
  let table: TableState | null = null;
  let tableName: Table | null = null;
  const fail = (i: number, msg: string): never => {
    throw new IptablesError("restore", `iptables-restore: line ${i + 1} failed: ${msg}`, i + 1);
  };
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line === "" || line.startsWith("#")) continue;
    if (line.startsWith("*")) {
      if (table) fail(i, "table started before COMMIT");
      tableName = line.slice(1) as Table;
      table = next.get(tableName) ?? null;
      if (!table) fail(i, `unknown table ${tableName}`);
      continue;
    }
    if (!table || !tableName) return fail(i, "line outside a table");
    if (line === "COMMIT") {
      // Commit-time checks: every jump must land on an existing chain.
      for (const [c, rules] of table) {
        for (const r of rules) {
          const t = jumpTarget(r);
          if (t && !BUILTIN_TARGETS.has(t) && !table.has(t)) fail(i, `rule in ${c} jumps to missing chain ${t}`);
        }
      }
      table = null;
      tableName = null;
      continue;
    }
    if (line.startsWith(":")) {
      const name = line.slice(1).split(" ")[0]!;
      if (!name) fail(i, "empty chain name");
      table.set(name, []); // create or flush
      continue;
    }
    const words = splitWords(line);
    const op = words[0];
    const chain = words[1];
    if (!chain) return fail(i, `missing chain in ${line}`);
    if (op === "-A" || op === "-I" || op === "-D") {
      const rules = table.get(chain);
      if (!rules) return fail(i, `no chain ${chain}`);
      // -I/-D take an optional rule number right after the chain (iptables: a word not starting with - or !).
      let rest = line.slice(op.length + 1 + chain.length);
      let rulenum: number | null = null;
      const third = words[2];
      if (op !== "-A" && third !== undefined && !third.startsWith("-") && !third.startsWith("!")) {
        if (!/^[1-9]\d*$/.test(third)) fail(i, `Invalid rule number \`${third}'`);
        rulenum = Number(third);
        rest = rest.slice(rest.indexOf(third) + third.length);
      }
      const normal = `-A ${chain}${rest}`;
      if (op === "-D") {
        // By number, or the first rule with the same spec (the fake compares rule text; iptables compares the
        // parsed rule, which is the same thing for the canonical text podwire writes).
        const at = rulenum !== null ? rulenum - 1 : rules.indexOf(normal);
        if (rulenum !== null && at >= rules.length) fail(i, "Index of deletion too big");
        if (at < 0) fail(i, "Bad rule (does a matching rule exist in that chain?)");
        rules.splice(at, 1);
        continue;
      }
      const target = jumpTarget(line);
      if (target && !BUILTIN_TARGETS.has(target) && !table.has(target)) fail(i, `no chain/target ${target}`);
      if (op === "-A") rules.push(normal);
      else {
        const pos = rulenum ?? 1;
        if (pos > rules.length + 1) fail(i, "Index of insertion too big");
        rules.splice(pos - 1, 0, normal);
      }
    } else if (op === "-X") {
      if (BUILTIN_CHAINS[tableName].includes(chain)) fail(i, `cannot delete built-in chain ${chain}`);
      if (!table.has(chain)) fail(i, `no chain ${chain} to delete`);
      if (table.get(chain)!.length > 0) fail(i, `chain ${chain} is not empty`);
      for (const [c, rules] of table)
        if (c !== chain && rules.some((r) => jumpTarget(r) === chain)) fail(i, `chain ${chain} is referenced by ${c}`);
      table.delete(chain);
    } else if (op === "-F") {
      if (!table.has(chain)) fail(i, `no chain ${chain}`);
      table.set(chain, []);
    } else {
      fail(i, `unsupported command ${op}`);
    }
  }
  if (table) fail(lines.length - 1, "missing COMMIT");
  return next;
}
