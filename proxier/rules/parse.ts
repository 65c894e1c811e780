/**
 * Parser for iptables rule dumps: `iptables-save` output (with or without `-c` counters), iptables-restore
 * payloads (what podwire or kube-proxy writes, including `-X`, `-I`, `-D`, `-F`), and `iptables [-t T] -S` output
 * (`-P`/`-N`/`-A` lines without a `*table` header). The result is the rule set the input describes: for a
 * payload, the state it leaves when applied to empty tables.
 */
import { isAscii } from "node:buffer";
import { type DumpIndex, indexDump, type TableIndex } from "./chain-index.js";
import { type Chain, type Dump, isBuiltinChain, type Rule, type Table } from "./model.js";
import { declsOf, findDecl, type PlainDump, type PlainTable, runsOf, scanPlain } from "./plain-scan.js";
import { decodeRules } from "./read.js";
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
  /** `text` is exactly the runs joined by newlines (loaded from the chain index, unchanged since). */
  private joined = false;
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
      this.joined = false;
      for (let i = 0; i < runs.length; i += 3) {
        let lineNo = runs[i + 2]!;
        for (const l of this.text.slice(runs[i]!, runs[i + 1]!).split("\n"))
          this.parsed.push(parseRuleLine(this.table, this.name, l, lineNo++, this.source));
      }
    }
    return this.parsed;
  }
  set rules(v: Rule[]) {
    this.joined = false;
    this.parsed = v;
    this.runs = [];
    this.eagerTexts = null;
    this.textValid = v.length === 0;
  }
  /** Appends the `-A` line at [start, end) of text (lazy) — extending the last run when contiguous. */
  appendRun(text: string, start: number, end: number, line: number): void {
    this.joined = false;
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
    // the texts of rules that came as runs are not in eagerTexts: mixing both loses the text comparison
    if (this.runs.length || (this.parsed.length && !this.eagerTexts)) this.textValid = false;
    this.rules.push(parseRuleLine(this.table, this.name, text, line, this.source));
    if (this.textValid) (this.eagerTexts ??= []).push(text);
  }
  edited(): void {
    this.textValid = false;
  }
  /** Takes the rule runs found by the chain index: `text` = the rule lines joined by newlines, `runs` in it. */
  loadRuns(text: string, runs: number[]): void {
    this.text = text;
    this.runs = runs;
    this.joined = runs.length > 0;
  }
  /** The rules' text joined by newlines, if known without normalising; null otherwise. */
  rawText(): string | null {
    if (!this.textValid) return null;
    if (this.eagerTexts) return this.runs.length ? null : this.eagerTexts.join("\n");
    if (this.runs.length === 0) return this.parsed.length ? null : "";
    if (this.joined) return this.text;
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

/**
 * The chains of an indexed table (lazy parse of a plain dump): a Map whose LazyChain objects are made on first
 * access, so a diff that compares chains by index never makes the ~110k objects of a big dump. Iterating or
 * changing it makes every chain (in declaration order) and from then on it is an ordinary Map.
 */
export class IndexedChains extends Map<string, Chain> {
  /** Chain objects made so far, by index id (a Map: a sparse array of 100k+ slots would be a slow dictionary). */
  private made = new Map<number, LazyChain>();
  private whole = false;
  constructor(
    private readonly idx: TableIndex,
    private readonly source: string,
  ) {
    super();
  }
  /** The index while the map still mirrors it (nothing set or deleted), else null. */
  index(): TableIndex | null {
    return this.whole ? null : this.idx;
  }
  /** The chain object of index id `id`, made now if needed. */
  at(id: number): LazyChain {
    let c = this.made.get(id);
    if (!c) {
      const x = this.idx;
      c = new LazyChain(x.name, x.chainName(id), x.line.a[id]!, this.source);
      if (c.builtin) c.policy = x.builtinPolicy.get(id) ?? "ACCEPT";
      const r = x.rulesText(id);
      c.loadRuns(r.text, r.runs);
      this.made.set(id, c);
    }
    return c;
  }
  /** True when the object of chain `id` exists (it may have been changed since: compare it, not the index). */
  isMade(id: number): boolean {
    return this.made.size > 0 && this.made.has(id);
  }
  private makeAll(): void {
    if (this.whole) return;
    this.whole = true;
    for (let id = 0; id < this.idx.n; id++) super.set(this.idx.chainName(id), this.at(id));
  }
  override get(name: string): Chain | undefined {
    if (this.whole) return super.get(name);
    const id = this.idx.find(name);
    return id < 0 ? undefined : this.at(id);
  }
  override has(name: string): boolean {
    return this.whole ? super.has(name) : this.idx.find(name) >= 0;
  }
  override set(name: string, c: Chain): this {
    this.makeAll();
    return super.set(name, c);
  }
  override delete(name: string): boolean {
    this.makeAll();
    return super.delete(name);
  }
  override clear(): void {
    this.makeAll();
    super.clear();
  }
  override forEach(f: (c: Chain, name: string, m: Map<string, Chain>) => void, thisArg?: unknown): void {
    this.makeAll();
    super.forEach(f, thisArg);
  }
  override keys(): MapIterator<string> {
    this.makeAll();
    return super.keys();
  }
  override values(): MapIterator<Chain> {
    this.makeAll();
    return super.values();
  }
  override entries(): MapIterator<[string, Chain]> {
    this.makeAll();
    return super.entries();
  }
  override [Symbol.iterator](): MapIterator<[string, Chain]> {
    this.makeAll();
    return super[Symbol.iterator]();
  }
}
Object.defineProperty(IndexedChains.prototype, "size", {
  get(this: IndexedChains): number {
    const x = this.index();
    return x ? x.n : (Reflect.get(Map.prototype, "size", this) as number);
  },
});

/** The chain index behind a table's chains (lazy parse of a plain dump), or null. */
export function chainIndexOf(chains: Map<string, Chain>): IndexedChains | null {
  if (chains instanceof PlainChains) return chainIndexOf(chains.toWhole());
  return chains instanceof IndexedChains && chains.index() ? chains : null;
}

/**
 * The chains of a table of a plain dump that has only been scanned (plain-scan.ts): chain objects are made from
 * the bytes when asked for by name (a native search of the declarations, one pass over the table's runs). What
 * a name lookup cannot answer exactly (iterating, size, changes; a chain declared twice, used before its
 * declaration or not declared) turns the map into a view of the whole table — the chain index, or the full
 * parser when the dump needs it — which from then on answers everything.
 */
export class PlainChains extends Map<string, Chain> {
  private made = new Map<string, LazyChain | null>();
  private declIds = new Map<string, number>();
  private whole: Map<string, Chain> | null = null;
  constructor(
    readonly pt: PlainTable,
    readonly pd: PlainDump,
    private readonly source: string,
    private readonly wholeDump: () => Dump,
  ) {
    super();
  }
  /** The scanned table while the map still answers from it, else null. */
  plain(): PlainTable | null {
    return this.whole ? null : this.pt;
  }
  /** The whole table's chains (made now if needed); this map answers from it from now on. */
  toWhole(): Map<string, Chain> {
    this.whole ??= this.wholeDump().tables.get(this.pt.name)?.chains ?? new Map<string, Chain>();
    return this.whole;
  }
  /** Index of the chain's declaration (declaration order), -1 when not declared. */
  declIndex(name: string): number {
    return this.declIds.get(name) ?? findDecl(this.pt, this.pd.bytes, name);
  }
  /**
   * Makes the chain objects of these names now, with one pass over the runs. False when one of them needs the
   * whole table (then the map has switched to it).
   */
  prefetch(names: Iterable<string>): boolean {
    if (this.whole) return false;
    const todo = new Set<string>();
    for (const name of names) if (!this.made.has(name)) todo.add(name);
    if (!todo.size) return true;
    const decls = declsOf(this.pt, this.pd.bytes, todo);
    const runs = runsOf(this.pt, decls);
    const t = this.pt;
    for (const name of todo) {
      const ds = decls.get(name)!;
      if (ds.length > 1) {
        this.toWhole(); // declared again: that flushes the chain, the parser's business
        return false;
      }
      const id = ds.length ? ds[0]! : -1;
      const rs = runs.get(name)!;
      if (id < 0) {
        if (rs.length) {
          this.toWhole(); // used without a declaration: the parser's business
          return false;
        }
        this.made.set(name, null);
        continue;
      }
      const at = t.declStart[id]!;
      if (rs.length && rs[0]! < at) {
        this.toWhole(); // used before its declaration
        return false;
      }
      this.declIds.set(name, id);
      this.made.set(name, this.makeChain(name, at, t.declLine[id]!, rs));
    }
    return true;
  }
  private makeChain(name: string, declAt: number, line: number, rs: number[]): LazyChain {
    const bytes = this.pd.bytes;
    const c = new LazyChain(this.pt.name, name, line, this.source);
    if (c.builtin) {
      const sp = bytes.indexOf(32, declAt);
      let sp2 = bytes.indexOf(32, sp + 1);
      const e = bytes.indexOf(10, sp);
      if (sp2 < 0 || sp2 > e) sp2 = e;
      c.policy = bytes.toString("utf8", sp + 1, sp2);
    }
    const runs: number[] = [];
    // An ASCII dump's byte offsets are character offsets: its runs decode as Latin-1, the cheapest decoder.
    const ascii = rs.length > 3 && (this.pd.ascii ??= isAscii(bytes));
    if (rs.length > 3 && !ascii) {
      // many runs (KUBE-SERVICES: one per service): gathered into one buffer, decoded once
      let total = -1;
      for (let i = 0; i < rs.length; i += 3) total += rs[i + 1]! - rs[i]! + 1;
      const out = Buffer.allocUnsafe(total);
      let at = 0;
      for (let i = 0; i < rs.length; i += 3) {
        if (at > 0) out[at++] = 10;
        const n = bytes.copy(out, at, rs[i]!, rs[i + 1]!);
        runs.push(at, at + n, rs[i + 2]!);
        at += n;
      }
      // byte offsets are character offsets in ASCII text
      if (isAscii(out)) {
        c.loadRuns(out.toString("latin1"), runs);
        return c;
      }
      runs.length = 0;
    }
    const parts = decodeRuns(bytes, rs, ascii ? "latin1" : "utf8", runs);
    c.loadRuns(parts.length === 1 ? parts[0]! : parts.join("\n"), runs);
    return c;
  }
  override get(name: string): Chain | undefined {
    if (this.whole) return this.whole.get(name);
    if (!this.made.has(name) && !this.prefetch([name])) return this.whole!.get(name);
    return this.made.get(name) ?? undefined;
  }
  override has(name: string): boolean {
    if (this.whole) return this.whole.has(name);
    if (this.made.has(name)) return this.made.get(name) !== null;
    if (findDecl(this.pt, this.pd.bytes, name) >= 0) return true;
    // an undeclared built-in chain exists when something appends to it
    return isBuiltinChain(this.pt.name, name) ? this.get(name) !== undefined : false;
  }
  override set(name: string, c: Chain): this {
    this.toWhole().set(name, c);
    return this;
  }
  override delete(name: string): boolean {
    return this.toWhole().delete(name);
  }
  override clear(): void {
    this.toWhole().clear();
  }
  override forEach(f: (c: Chain, name: string, m: Map<string, Chain>) => void, thisArg?: unknown): void {
    this.toWhole().forEach(f, thisArg);
  }
  override keys(): MapIterator<string> {
    return this.toWhole().keys();
  }
  override values(): MapIterator<Chain> {
    return this.toWhole().values();
  }
  override entries(): MapIterator<[string, Chain]> {
    return this.toWhole().entries();
  }
  override [Symbol.iterator](): MapIterator<[string, Chain]> {
    return this.toWhole()[Symbol.iterator]();
  }
}
Object.defineProperty(PlainChains.prototype, "size", {
  get(this: PlainChains): number {
    return this.toWhole().size;
  },
});

/**
 * The text of each run ([start, end, line] triples of byte offsets), with `runs` filled with the same triples as
 * offsets into the texts joined by newlines. A loop of its own: see the passes in plain-scan.ts.
 */
function decodeRuns(bytes: Buffer, rs: number[], encoding: "latin1" | "utf8", runs: number[]): string[] {
  const parts: string[] = [];
  let at = 0;
  for (let i = 0; i < rs.length; i += 3) {
    const p = bytes.toString(encoding, rs[i]!, rs[i + 1]!);
    runs.push(at, at + p.length, rs[i + 2]!);
    parts.push(p);
    at += p.length + 1;
  }
  return parts;
}

/** The scanned bytes behind a dump whose tables all still answer from them (see PlainChains), or null. */
export function plainDumpOf(d: Dump): PlainDump | null {
  let pd: PlainDump | null = null;
  for (const t of d.tables.values()) {
    if (!(t.chains instanceof PlainChains) || !t.chains.plain()) return null;
    pd = t.chains.pd;
  }
  return pd;
}

function dumpFromIndex(x: DumpIndex, source: string): Dump {
  const d = emptyDump();
  for (const t of x.tables) d.tables.set(t.name, { name: t.name, chains: new IndexedChains(t, source) });
  return d;
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

/**
 * Parses a whole dump, given as text or as the file's bytes (UTF-8). Throws RulesParseError naming the line.
 * Lazy parses of plain dumps (see chain-index.ts) only index the bytes; everything else is parsed line by line.
 */
export function parseRules(input: string | Uint8Array, opts: ParseOptions = {}): Dump {
  if (opts.lazy) {
    const bytes = typeof input === "string" ? Buffer.from(input, "utf8") : input;
    return {
      tables: new PendingTables(
        Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength),
        opts,
      ),
    };
  }
  return parseLines(typeof input === "string" ? input : decodeRules(input), opts);
}

/**
 * The tables of a lazy parse, read on first use: a plain dump is scanned (chains made when asked for, the whole
 * dump — index or parse — only if something needs it), anything else parsed whole. Until then a diff may give
 * the scan itself, derived from the other dump's (plain-derive.ts), so the second of two big dumps is not scanned.
 * Errors in the input surface on first use.
 */
export class PendingTables extends Map<string, Table> {
  private settled = false;
  constructor(
    readonly bytes: Buffer,
    private readonly opts: ParseOptions,
  ) {
    super();
  }
  /** Not read yet. */
  pending(): boolean {
    return !this.settled;
  }
  /** Reads the tables now; `pd` = the dump's scan when already known (null or absent: scan it). */
  settle(pd?: PlainDump | null): this {
    if (this.settled) return this;
    const bytes = this.bytes;
    const opts = this.opts;
    const plain = pd ?? scanPlain(bytes);
    const set = (name: string, t: Table) => Map.prototype.set.call(this, name, t);
    if (plain) {
      const src = opts.source ?? "";
      let whole: Dump | null = null;
      const wholeDump = () => (whole ??= wholeParse(bytes, opts));
      for (const t of plain.tables) set(t.name, { name: t.name, chains: new PlainChains(t, plain, src, wholeDump) });
    } else for (const [name, t] of wholeParse(bytes, opts).tables) set(name, t);
    this.settled = true;
    return this;
  }
  override get(name: string): Table | undefined {
    return Map.prototype.get.call(this.settle(), name);
  }
  override has(name: string): boolean {
    return Map.prototype.has.call(this.settle(), name);
  }
  override set(name: string, t: Table): this {
    Map.prototype.set.call(this.settle(), name, t);
    return this;
  }
  override delete(name: string): boolean {
    return Map.prototype.delete.call(this.settle(), name);
  }
  override clear(): void {
    Map.prototype.clear.call(this.settle());
  }
  override forEach(f: (t: Table, name: string, m: Map<string, Table>) => void, thisArg?: unknown): void {
    Map.prototype.forEach.call(this.settle(), f, thisArg);
  }
  override keys(): MapIterator<string> {
    return Map.prototype.keys.call(this.settle());
  }
  override values(): MapIterator<Table> {
    return Map.prototype.values.call(this.settle());
  }
  override entries(): MapIterator<[string, Table]> {
    return Map.prototype.entries.call(this.settle());
  }
  override [Symbol.iterator](): MapIterator<[string, Table]> {
    return Map.prototype.entries.call(this.settle());
  }
}
Object.defineProperty(PendingTables.prototype, "size", {
  get(this: PendingTables): number {
    return Reflect.get(Map.prototype, "size", this.settle()) as number;
  },
});

/** A lazy parse of the whole dump: the chain index of a plain dump, else the line parser. */
function wholeParse(bytes: Uint8Array, opts: ParseOptions): Dump {
  const x = indexDump(bytes);
  if (x) return dumpFromIndex(x, opts.source ?? "");
  return parseLines(decodeRules(bytes), opts);
}

/** The line parser. */
function parseLines(text: string, opts: ParseOptions): Dump {
  const src = opts.source ?? "";
  const dump = emptyDump();
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
