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
  /**
   * Keep `-A` rules as text and normalise them only when first read (`chain.rules`). Diffs of big dumps use it:
   * chains whose text is identical on both sides are never normalised. Syntax errors then surface on first read
   * (still with their line number).
   */
  lazy?: boolean;
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

/** A chain whose `-A` lines may still be unparsed text (lazy mode). */
class LazyChain implements Chain {
  readonly builtin: boolean;
  policy: string;
  private parsed: Rule[] = [];
  /**
   * Rules not parsed yet (lazy mode) as runs of consecutive `-A` lines of the input: [start, end, firstLine]
   * triples of offsets into `text`. No per-line strings are made until the rules are read.
   */
  private runs: number[] = [];
  private text = "";
  /** False once the order was edited by -I/-D/-R or rules were set: text comparison no longer applies. */
  private textValid = true;
  /** Rules parsed eagerly from `-A` lines (non-lazy mode) keep their text here for comparisons. */
  private eagerTexts: string[] | null = null;
  constructor(
    readonly table: string,
    readonly name: string,
    readonly line: number,
    private readonly source: string,
  ) {
    this.builtin = isBuiltinChain(table, name);
    this.policy = this.builtin ? "ACCEPT" : "-";
  }
  get rules(): Rule[] {
    if (this.runs.length) {
      const runs = this.runs;
      this.runs = [];
      for (let i = 0; i < runs.length; i += 3) {
        let lineNo = runs[i + 2]!;
        for (const l of this.text.slice(runs[i]!, runs[i + 1]!).split("\n"))
          this.parsed.push(parseRuleLine(this.table, this.name, l, lineNo++, this.source));
      }
    }
    return this.parsed;
  }
  set rules(v: Rule[]) {
    this.parsed = v;
    this.runs = [];
    this.eagerTexts = null;
    this.textValid = v.length === 0;
  }
  /** Appends the `-A` line at [start, end) of text (lazy) — extending the last run when contiguous. */
  appendRun(text: string, start: number, end: number, line: number): void {
    const n = this.runs.length;
    if (n && this.text === text && this.runs[n - 2]! + 1 === start) this.runs[n - 2] = end;
    else {
      if (this.text && this.text !== text) this.textValid = false;
      this.text = text;
      if (!this.textValid || this.parsed.length) this.textValid = false;
      this.runs.push(start, end, line);
    }
  }
  appendText(text: string, line: number): void {
    this.rules.push(parseRuleLine(this.table, this.name, text, line, this.source));
    if (this.textValid) (this.eagerTexts ??= []).push(text);
    if (this.runs.length) this.textValid = false;
  }
  edited(): void {
    this.textValid = false;
  }
  /** The rules' text joined by newlines, if known without normalising; null otherwise. */
  rawText(): string | null {
    if (!this.textValid) return null;
    if (this.eagerTexts) return this.runs.length ? null : this.eagerTexts.join("\n");
    if (this.runs.length === 0) return this.parsed.length ? null : "";
    if (this.runs.length === 3) return this.text.slice(this.runs[0]!, this.runs[1]!);
    const parts: string[] = [];
    for (let i = 0; i < this.runs.length; i += 3) parts.push(this.text.slice(this.runs[i]!, this.runs[i + 1]!));
    return parts.join("\n");
  }
}

/** The rules' text (lines joined by newlines) if known without normalising, else null. */
export function rawTextOf(c: Chain): string | null {
  return c instanceof LazyChain ? c.rawText() : null;
}

function makeChain(t: Table, name: string, line: number, source = ""): LazyChain {
  const c = new LazyChain(t.name, name, line, source);
  t.chains.set(name, c);
  return c;
}

/** Parses one `-A CHAIN …` line (the whole line) into a normalised Rule. */
export function parseRuleLine(table: string, chain: string, line: string, lineNo: number, source = ""): Rule {
  try {
    const words = fastTokenize(line);
    const parts = parseRuleWords(words, 2);
    return { table, chain, line: lineNo, raw: line, ...parts, key: ruleKey(parts) };
  } catch (e) {
    if (e instanceof RuleSyntaxError || e instanceof TokenizeError)
      throw new RulesParseError(lineNo, e.message, source);
    throw e;
  }
}

/** Plain lines (no quotes or escapes) split on spaces; others go through the full tokenizer. */
function fastTokenize(line: string): Word[] {
  if (line.includes('"') || line.includes("\\") || line.includes("\t")) return tokenize(line);
  const out: Word[] = [];
  for (const w of line.split(" ")) if (w !== "") out.push({ text: w, quoted: false });
  return out;
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
  const lazy = opts.lazy ?? false;
  let lastChain: LazyChain | null = null;
  let lastTable: Table | null = null;
  let lastPrefix = "";
  const chainOf = (name: string | undefined, create: boolean): LazyChain => {
    if (!name) return fail("missing chain name");
    const t = table!;
    const c = t.chains.get(name) as LazyChain | undefined;
    if (c) return c;
    if (create || isBuiltinChain(t.name, name)) return makeChain(t, name, lineNo, src);
    return fail(`chain ${name} does not exist in table ${t.name}`);
  };
  while (start <= text.length) {
    let end = text.indexOf("\n", start);
    if (end < 0) end = text.length;
    // Lazy fast path: another clean `-A` line of the previous line's chain costs no string at all.
    if (lastChain && lastTable === table && text.startsWith(lastPrefix, start)) {
      const c = text.charCodeAt(end - 1);
      if (c !== 13 && c !== 32 && c !== 9) {
        lineNo++;
        lastChain.appendRun(text, start, end, lineNo);
        start = end + 1;
        continue;
      }
    }
    const lineStart = start;
    let line = text.slice(start, end);
    start = end + 1;
    lineNo++;
    const last = line.charCodeAt(line.length - 1);
    const first = line.charCodeAt(0);
    if (last === 13 || last === 32 || last === 9 || first === 32 || first === 9) line = line.trim();
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
      // `:NAME POLICY [p:b]`; the plain form is split by hand (there are 100k+ of them in big dumps)
      const sp = line.indexOf(" ");
      const sp2 = sp < 0 ? -1 : line.indexOf(" ", sp + 1);
      if (sp > 1 && sp2 > sp && line.endsWith(" [0:0]") && sp2 === line.length - 6) {
        const name = line.slice(1, sp);
        const c = table.chains.get(name) ?? makeChain(table, name, lineNo, src);
        c.rules = [];
        if (c.builtin) c.policy = line.slice(sp + 1, sp2);
        continue;
      }
      const m = /^:(\S+)\s+(\S+)(?:\s+\[\d+:\d+\])?$/.exec(line);
      if (!m) fail(`malformed chain line: ${line}`);
      const c = table.chains.get(m![1]!) ?? makeChain(table, m![1]!, lineNo, src);
      c.rules = []; // a chain line flushes the chain (iptables-restore --noflush semantics)
      if (c.builtin) c.policy = m![2]!;
      continue;
    }
    if (line[0] === "[") {
      const m = /^\[\d+:\d+\]\s+/.exec(line);
      if (!m) fail(`malformed counters: ${line}`);
      line = line.slice(m![0].length);
    }
    lastChain = null;
    if (line.startsWith("-A ")) {
      const sp = line.indexOf(" ", 3);
      const chain = chainOf(sp < 0 ? line.slice(3) : line.slice(3, sp), false);
      const clean = line.length === end - lineStart && text.charCodeAt(lineStart) === 45;
      if (lazy && clean) {
        chain.appendRun(text, lineStart, end, lineNo);
        // the next lines of this chain take the fast path above
        lastChain = chain;
        lastTable = table;
        lastPrefix = `-A ${chain.name} `;
      } else chain.appendText(line, lineNo);
      continue;
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
        if (CMD_APPEND.has(cmd)) {
          chain.appendText(line, lineNo);
          continue;
        }
        chain.edited();
        if (CMD_INSERT.has(cmd)) chain.rules.splice(Math.min(pos, chain.rules.length), 0, rule);
        else {
          if (pos >= chain.rules.length) fail(`no rule ${pos + 1} in chain ${chain.name}`);
          chain.rules[pos] = rule;
        }
      } else if (cmd === "-D" || cmd === "--delete") {
        const chain = chainOf(words[1]?.text, false);
        chain.edited();
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
        if (!t.chains.has(name)) makeChain(t, name, lineNo, src);
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
