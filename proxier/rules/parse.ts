/**
 * Parser for iptables rule dumps: `iptables-save` output (with or without `-c` counters), iptables-restore
 * payloads (what podwire or kube-proxy writes, including `-X`, `-I`, `-D`, `-F`), and `iptables [-t T] -S` output
 * (`-P`/`-N`/`-A` lines without a `*table` header). The result is the rule set the input describes: for a
 * payload, the state it leaves when applied to empty tables.
 */
import { type Chain, type Dump, isBuiltinChain, type Rule, type Table } from "./model.js";
import { parseRuleWords, RuleSyntaxError, ruleKey } from "./normalize.js";
import { TokenizeError, tokenize, type Word } from "./tokenize.js";

/** Malformed input; `line` is 1-based. */
export class RulesParseError extends Error {
  override name = "RulesParseError";
  constructor(
    readonly line: number,
    readonly detail: string,
    readonly source = "",
  ) {
    super(`${source ? `${source}:` : "line "}${line}: ${detail}`);
  }
}

export interface ParseOptions {
  /** Table for `iptables -S` style input that has no `*table` line (default `filter`). */
  table?: string;
  /** File name used in error messages. */
  source?: string;
}

const CMD_APPEND = new Set(["-A", "--append"]);
const CMD_INSERT = new Set(["-I", "--insert"]);

export function emptyDump(): Dump {
  return { tables: new Map() };
}

function getTable(d: Dump, name: string): Table {
  let t = d.tables.get(name);
  if (!t) {
    t = { name, chains: new Map() };
    d.tables.set(name, t);
  }
  return t;
}

function makeChain(t: Table, name: string, line: number): Chain {
  const builtin = isBuiltinChain(t.name, name);
  const c: Chain = { name, builtin, policy: builtin ? "ACCEPT" : "-", rules: [], line };
  t.chains.set(name, c);
  return c;
}

/** Parses a whole dump. Throws RulesParseError naming the line. */
export function parseRules(text: string, opts: ParseOptions = {}): Dump {
  const dump = emptyDump();
  const src = opts.source ?? "";
  let table: Table | null = null;
  let saveFormat = false;
  let lineNo = 0;
  let start = 0;
  const fail = (msg: string): never => {
    throw new RulesParseError(lineNo, msg, src);
  };
  const chainOf = (name: string | undefined, create: boolean): Chain => {
    if (!name) return fail("missing chain name");
    const t = table!;
    const c = t.chains.get(name);
    if (c) return c;
    if (create || isBuiltinChain(t.name, name)) return makeChain(t, name, lineNo);
    return fail(`chain ${name} does not exist in table ${t.name}`);
  };
  while (start <= text.length) {
    let end = text.indexOf("\n", start);
    if (end < 0) end = text.length;
    let line = text.slice(start, end);
    start = end + 1;
    lineNo++;
    if (line.endsWith("\r")) line = line.slice(0, -1);
    line = line.trim();
    if (line === "" || line[0] === "#") continue;
    if (line[0] === "*") {
      if (table && saveFormat) fail(`COMMIT expected before ${line}`);
      saveFormat = true;
      table = getTable(dump, line.slice(1).trim());
      continue;
    }
    if (line === "COMMIT") {
      if (!table || !saveFormat) fail("COMMIT without a table");
      table = null;
      continue;
    }
    if (saveFormat && !table) fail("rule outside a table (missing *table line)");
    if (!table) table = getTable(dump, opts.table ?? "filter");
    if (line[0] === ":") {
      const m = /^:(\S+)\s+(\S+)(?:\s+\[\d+:\d+\])?$/.exec(line);
      if (!m) fail(`malformed chain line: ${line}`);
      const c = table.chains.get(m![1]!) ?? makeChain(table, m![1]!, lineNo);
      c.rules = []; // a chain line flushes the chain (iptables-restore --noflush semantics)
      if (c.builtin) c.policy = m![2]!;
      continue;
    }
    if (line[0] === "[") {
      const m = /^\[\d+:\d+\]\s+/.exec(line);
      if (!m) fail(`malformed counters: ${line}`);
      line = line.slice(m![0].length);
    }
    let words: Word[];
    try {
      words = tokenize(line);
    } catch (e) {
      if (e instanceof TokenizeError) fail(e.message);
      throw e;
    }
    const cmd = words[0]!.text;
    const t: Table = table;
    try {
      if (CMD_APPEND.has(cmd) || CMD_INSERT.has(cmd) || cmd === "-R" || cmd === "--replace") {
        const chain = chainOf(words[1]?.text, false);
        let at = 2;
        let pos = -1;
        if (!CMD_APPEND.has(cmd) && words[2] && /^\d+$/.test(words[2].text)) {
          pos = Number(words[2].text) - 1;
          at = 3;
        } else if (CMD_INSERT.has(cmd)) pos = 0;
        else if (!CMD_APPEND.has(cmd)) fail("-R needs a rule number");
        const parts = parseRuleWords(words, at);
        const rule: Rule = {
          table: t.name,
          chain: chain.name,
          line: lineNo,
          raw: line,
          ...parts,
          key: ruleKey(parts),
        };
        if (CMD_APPEND.has(cmd)) chain.rules.push(rule);
        else if (CMD_INSERT.has(cmd)) chain.rules.splice(Math.min(pos, chain.rules.length), 0, rule);
        else {
          if (pos >= chain.rules.length) fail(`no rule ${pos + 1} in chain ${chain.name}`);
          chain.rules[pos] = rule;
        }
      } else if (cmd === "-D" || cmd === "--delete") {
        const chain = chainOf(words[1]?.text, false);
        if (words.length === 3 && /^\d+$/.test(words[2]!.text)) {
          const n = Number(words[2]!.text) - 1;
          if (n >= chain.rules.length) fail(`no rule ${n + 1} in chain ${chain.name}`);
          chain.rules.splice(n, 1);
        } else {
          const key = ruleKey(parseRuleWords(words, 2));
          const idx = chain.rules.findIndex((r) => r.key === key);
          if (idx < 0) fail(`no such rule in chain ${chain.name}`);
          chain.rules.splice(idx, 1);
        }
      } else if (cmd === "-N" || cmd === "--new-chain") {
        const name = words[1]?.text ?? fail("missing chain name");
        if (!t.chains.has(name)) makeChain(t, name, lineNo);
      } else if (cmd === "-X" || cmd === "--delete-chain") {
        const name = words[1]?.text;
        if (name === undefined) {
          for (const c of [...t.chains.values()]) if (!c.builtin) t.chains.delete(c.name);
        } else {
          const c = t.chains.get(name);
          if (c?.builtin) fail(`cannot delete built-in chain ${name}`);
          t.chains.delete(name);
        }
      } else if (cmd === "-F" || cmd === "--flush") {
        const name = words[1]?.text;
        if (name === undefined) for (const c of t.chains.values()) c.rules = [];
        else chainOf(name, false).rules = [];
      } else if (cmd === "-P" || cmd === "--policy") {
        const c = chainOf(words[1]?.text, false);
        if (!c.builtin) fail(`policy on user chain ${c.name}`);
        c.policy = words[2]?.text ?? fail("missing policy");
      } else if (cmd === "-Z" || cmd === "--zero") {
        // counters are not part of the rule set
      } else fail(`unknown command ${cmd}`);
    } catch (e) {
      if (e instanceof RuleSyntaxError) fail(e.message);
      throw e;
    }
  }
  if (table && saveFormat) {
    lineNo = Math.max(1, lineNo - (text.endsWith("\n") ? 1 : 0));
    fail(`COMMIT expected at end of table ${table.name}`);
  }
  return dump;
}

/** All rules of a dump, table by table, chain by chain. */
export function* allRules(d: Dump): Generator<Rule> {
  for (const t of d.tables.values()) for (const c of t.chains.values()) yield* c.rules;
}

/** Chains that a rule jumps or goes to (targets that are chains of the same table). */
export function jumpTarget(r: Rule, t: Table): Chain | undefined {
  return r.target ? t.chains.get(r.target.name) : undefined;
}
