/**
 * Label and field selectors with Kubernetes' syntax and semantics (apimachinery's labels and fields packages).
 *
 * Label selector grammar: requirements separated by `,` (AND). A requirement is `key`, `!key`, `key=v`,
 * `key==v`, `key!=v`, `key in (a,b)`, `key notin (a)`, `key>n`, `key<n`. The object form
 * (`matchLabels` + `matchExpressions`) converts to the same requirements.
 *
 * Example: `parseLabelSelector("app=web,tier in (fe,be),!canary").matches({app: "web", tier: "fe"}) === true`
 */
import type { LabelSelector } from "./meta.js";

export type Operator = "=" | "==" | "!=" | "in" | "notin" | "exists" | "!" | "gt" | "lt";

export interface Requirement {
  key: string;
  op: Operator;
  /** Sorted, de-duplicated values (one for =, ==, !=, gt, lt; none for exists and !). */
  values: string[];
}

/** A selector's text could not be parsed; `position` is the 0-based offset of the offending token. */
export class SelectorParseError extends Error {
  override name = "SelectorParseError";
  constructor(
    message: string,
    readonly position: number,
  ) {
    super(`${message} (at position ${position})`);
  }
}

export interface LabelSelectorMatcher {
  readonly requirements: readonly Requirement[];
  /** True for the selector that matches nothing (a nil metav1.LabelSelector). */
  readonly nothing: boolean;
  matches(labels: Record<string, string> | undefined): boolean;
  empty(): boolean;
  toString(): string;
}

const QUALIFIED_NAME = /^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** Checks a label key: optional DNS-1123 subdomain prefix (≤253) + `/` + name (≤63). Returns an error or null. */
export function labelKeyError(key: string): string | null {
  const parts = key.split("/");
  let name = key;
  if (parts.length === 2) {
    const prefix = parts[0]!;
    name = parts[1]!;
    if (prefix.length === 0) return "prefix part must be non-empty";
    if (prefix.length > 253 || !DNS1123_SUBDOMAIN.test(prefix))
      return "prefix part must be a lowercase RFC 1123 subdomain";
  } else if (parts.length > 2) {
    return "a qualified name must consist of alphanumeric characters, '-', '_' or '.', with an optional DNS subdomain prefix and '/'";
  }
  if (name.length === 0) return "name part must be non-empty";
  if (name.length > 63) return "name part must be no more than 63 characters";
  if (!QUALIFIED_NAME.test(name))
    return "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
  return null;
}

/** Checks a label value: empty, or ≤63 chars of [A-Za-z0-9-_.] starting and ending alphanumeric. */
export function labelValueError(value: string): string | null {
  if (value === "") return null;
  if (value.length > 63) return "must be no more than 63 characters";
  if (!QUALIFIED_NAME.test(value))
    return "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
  return null;
}

function requirementMatches(r: Requirement, labels: Record<string, string>): boolean {
  const has = Object.hasOwn(labels, r.key);
  const v = labels[r.key];
  switch (r.op) {
    case "=":
    case "==":
    case "in":
      return has && r.values.includes(v!);
    case "!=":
    case "notin":
      return !has || !r.values.includes(v!);
    case "exists":
      return has;
    case "!":
      return !has;
    case "gt":
    case "lt": {
      if (!has || !/^-?\d+$/.test(v!)) return false;
      const n = Number(v);
      const bound = Number(r.values[0]);
      return r.op === "gt" ? n > bound : n < bound;
    }
  }
}

/** Renders a requirement the way Kubernetes' Requirement.String() does. */
export function requirementString(r: Requirement): string {
  switch (r.op) {
    case "exists":
      return r.key;
    case "!":
      return `!${r.key}`;
    case "in":
    case "notin":
      return `${r.key} ${r.op} (${r.values.join(",")})`;
    case "gt":
      return `${r.key}>${r.values[0]}`;
    case "lt":
      return `${r.key}<${r.values[0]}`;
    default:
      return `${r.key}${r.op}${r.values[0]}`;
  }
}

class Matcher implements LabelSelectorMatcher {
  constructor(
    readonly requirements: readonly Requirement[],
    readonly nothing = false,
  ) {}
  matches(labels: Record<string, string> | undefined): boolean {
    if (this.nothing) return false;
    const l = labels ?? {};
    return this.requirements.every((r) => requirementMatches(r, l));
  }
  empty(): boolean {
    return !this.nothing && this.requirements.length === 0;
  }
  toString(): string {
    return this.requirements.map(requirementString).join(",");
  }
}

function makeRequirement(key: string, op: Operator, values: string[], pos: number): Requirement {
  const keyErr = labelKeyError(key);
  if (keyErr) throw new SelectorParseError(`invalid label key "${key}": ${keyErr}`, pos);
  if ((op === "in" || op === "notin") && values.length === 0)
    throw new SelectorParseError("for 'in', 'notin' operators, values set can't be empty", pos);
  if ((op === "gt" || op === "lt") && (values.length !== 1 || !/^-?\d+$/.test(values[0]!)))
    throw new SelectorParseError(`for 'Gt', 'Lt' operators, the value must be an integer`, pos);
  if (op !== "gt" && op !== "lt")
    for (const v of values) {
      const e = labelValueError(v);
      if (e) throw new SelectorParseError(`invalid label value: "${v}": ${e}`, pos);
    }
  return { key, op, values: [...new Set(values)].sort() };
}

/** Sorts requirements by key like labels.Parse does, so equal selectors print equally. */
function byKey(reqs: Requirement[]): Requirement[] {
  return reqs.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

// ---- lexer -------------------------------------------------------------------------------------------

type TokKind = "id" | "!" | "=" | "==" | "!=" | "(" | ")" | "," | ">" | "<" | "end";
interface Token {
  kind: TokKind;
  text: string;
  pos: number;
}

const SPECIAL = new Set(["!", "=", "(", ")", ",", ">", "<"]);
const isSpace = (c: string) => c === " " || c === "\t" || c === "\n" || c === "\r";

function lex(s: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < s.length) {
    const c = s[i]!;
    if (isSpace(c)) {
      i++;
      continue;
    }
    if (SPECIAL.has(c)) {
      const two = s.slice(i, i + 2);
      if (two === "==" || two === "!=") {
        out.push({ kind: two, text: two, pos: i });
        i += 2;
      } else {
        out.push({ kind: c as TokKind, text: c, pos: i });
        i++;
      }
      continue;
    }
    const start = i;
    while (i < s.length && !isSpace(s[i]!) && !SPECIAL.has(s[i]!)) i++;
    out.push({ kind: "id", text: s.slice(start, i), pos: start });
  }
  out.push({ kind: "end", text: "", pos: s.length });
  return out;
}

/**
 * Parses a label selector string. The empty string selects everything.
 * Throws SelectorParseError with the position of the offending token.
 */
export function parseLabelSelector(s: string): LabelSelectorMatcher {
  const toks = lex(s);
  let p = 0;
  const peek = () => toks[p]!;
  const next = () => toks[p++]!;
  const expect = (kind: TokKind, what: string): Token => {
    const t = next();
    if (t.kind !== kind) throw new SelectorParseError(`found '${t.text || "end of string"}', expected: ${what}`, t.pos);
    return t;
  };
  const reqs: Requirement[] = [];
  if (peek().kind === "end") return new Matcher([]);
  for (;;) {
    const start = peek();
    if (start.kind === "!") {
      next();
      const k = expect("id", "identifier after '!'");
      reqs.push(makeRequirement(k.text, "!", [], k.pos));
    } else {
      const k = expect("id", "identifier");
      const opTok = peek();
      switch (opTok.kind) {
        case "end":
        case ",":
          reqs.push(makeRequirement(k.text, "exists", [], k.pos));
          break;
        case "=":
        case "==":
        case "!=": {
          next();
          const v = peek();
          // `a=` selects an empty value; the value token may be absent.
          const value = v.kind === "id" ? next().text : "";
          if (v.kind !== "id" && v.kind !== "," && v.kind !== "end")
            throw new SelectorParseError(`found '${v.text}', expected: identifier`, v.pos);
          reqs.push(makeRequirement(k.text, opTok.kind, [value], k.pos));
          break;
        }
        case ">":
        case "<": {
          next();
          const v = expect("id", "integer");
          reqs.push(makeRequirement(k.text, opTok.kind === ">" ? "gt" : "lt", [v.text], v.pos));
          break;
        }
        case "id": {
          if (opTok.text !== "in" && opTok.text !== "notin")
            throw new SelectorParseError(`found '${opTok.text}', expected: in, notin, =, ==, !=, gt, lt`, opTok.pos);
          next();
          expect("(", "'('");
          const values: string[] = [];
          if (peek().kind === ")") {
            values.push(""); // Kubernetes reads `()` as the set holding the empty value
          } else {
            for (;;) {
              const t = peek();
              if (t.kind === "id") {
                values.push(next().text);
              } else if (t.kind === "," || t.kind === ")") {
                values.push(""); // `(a,,b)` and `(a,)` contain the empty value
              } else {
                throw new SelectorParseError(
                  `found '${t.text || "end of string"}', expected: ',', ')' or identifier`,
                  t.pos,
                );
              }
              if (peek().kind === ",") {
                next();
                continue;
              }
              break;
            }
          }
          expect(")", "')'");
          reqs.push(makeRequirement(k.text, opTok.text as "in" | "notin", values, k.pos));
          break;
        }
        default:
          throw new SelectorParseError(`found '${opTok.text}', expected: in, notin, =, ==, !=, gt, lt`, opTok.pos);
      }
    }
    const sep = next();
    if (sep.kind === "end") break;
    if (sep.kind !== ",") throw new SelectorParseError(`found '${sep.text}', expected: ','`, sep.pos);
    if (peek().kind === "end") throw new SelectorParseError("found 'end of string', expected: identifier", peek().pos);
  }
  return new Matcher(byKey(reqs));
}

/** A selector from a plain map (Service.spec.selector, ReplicationController.spec.selector): all keys equal. */
export function selectorFromMap(m: Record<string, string> | undefined): LabelSelectorMatcher {
  return new Matcher(byKey(Object.entries(m ?? {}).map(([k, v]) => ({ key: k, op: "=", values: [v] }))));
}

/**
 * Converts a metav1.LabelSelector. Like LabelSelectorAsSelector: `undefined`/`null` selects nothing,
 * `{}` selects everything. Throws SelectorParseError (position 0) for invalid requirements.
 */
export function labelSelectorFromObject(ls: LabelSelector | null | undefined): LabelSelectorMatcher {
  if (ls === undefined || ls === null) return new Matcher([], true);
  const reqs: Requirement[] = [];
  for (const [k, v] of Object.entries(ls.matchLabels ?? {})) reqs.push(makeRequirement(k, "=", [v], 0));
  for (const e of ls.matchExpressions ?? []) {
    const values = e.values ?? [];
    switch (e.operator) {
      case "In":
        reqs.push(makeRequirement(e.key, "in", values, 0));
        break;
      case "NotIn":
        reqs.push(makeRequirement(e.key, "notin", values, 0));
        break;
      case "Exists":
      case "DoesNotExist":
        if (values.length > 0) throw new SelectorParseError(`values: must be empty when operator is ${e.operator}`, 0);
        reqs.push(makeRequirement(e.key, e.operator === "Exists" ? "exists" : "!", [], 0));
        break;
      default:
        throw new SelectorParseError(`"${String(e.operator)}" is not a valid label selector operator`, 0);
    }
  }
  return new Matcher(byKey(reqs));
}

// ---- field selectors ----------------------------------------------------------------------------------

export interface FieldRequirement {
  field: string;
  op: "=" | "==" | "!=";
  value: string;
}

export interface FieldSelectorMatcher {
  readonly requirements: readonly FieldRequirement[];
  matches(fields: Record<string, string>): boolean;
  empty(): boolean;
  toString(): string;
}

/** Escapes a field selector value (`\`, `,`, `=`) like fields.EscapeValue. */
export function escapeFieldValue(v: string): string {
  return v.replace(/[\\,=]/g, (c) => `\\${c}`);
}

/**
 * Parses a field selector (`metadata.name=x,spec.nodeName!=`): `=`, `==`, `!=` terms separated by `,`;
 * values may escape `\,`, `\=` and `\\`. A missing field compares as the empty string (as in Kubernetes).
 */
export function parseFieldSelector(s: string): FieldSelectorMatcher {
  const reqs: FieldRequirement[] = [];
  if (s.trim() !== "") {
    // Split on unescaped commas, tracking positions for errors.
    let start = 0;
    const terms: { text: string; pos: number }[] = [];
    for (let i = 0; i <= s.length; i++) {
      if (i === s.length || (s[i] === "," && !escapedAt(s, i))) {
        terms.push({ text: s.slice(start, i), pos: start });
        start = i + 1;
      }
    }
    for (const t of terms) reqs.push(parseFieldTerm(t.text, t.pos));
  }
  const sorted = reqs.sort((a, b) => (a.field < b.field ? -1 : a.field > b.field ? 1 : 0));
  return {
    requirements: sorted,
    matches: (fields) =>
      sorted.every((r) => {
        const v = fields[r.field] ?? "";
        return r.op === "!=" ? v !== r.value : v === r.value;
      }),
    empty: () => sorted.length === 0,
    toString: () => sorted.map((r) => `${r.field}${r.op}${escapeFieldValue(r.value)}`).join(","),
  };
}

function escapedAt(s: string, i: number): boolean {
  let n = 0;
  for (let j = i - 1; j >= 0 && s[j] === "\\"; j--) n++;
  return n % 2 === 1;
}

function parseFieldTerm(term: string, pos: number): FieldRequirement {
  for (const op of ["!=", "==", "="] as const) {
    const i = findUnescaped(term, op);
    if (i >= 0) {
      const field = term.slice(0, i).trim();
      if (field === "") throw new SelectorParseError(`invalid field selector: '${term}': empty field name`, pos);
      return { field, op, value: unescapeFieldValue(term.slice(i + op.length), pos + i + op.length) };
    }
  }
  throw new SelectorParseError(`invalid field selector: '${term}': expected an operator (=, ==, !=)`, pos);
}

function findUnescaped(term: string, op: string): number {
  for (let i = 0; i + op.length <= term.length; i++) {
    if (term.startsWith(op, i) && !escapedAt(term, i)) {
      // `==` must not be mistaken for `=` followed by `=value`; `!=` must not match `\!=`.
      if (op === "=" && (term[i + 1] === "=" || term[i - 1] === "!")) continue;
      return i;
    }
  }
  return -1;
}

function unescapeFieldValue(v: string, pos: number): string {
  let out = "";
  for (let i = 0; i < v.length; i++) {
    const c = v[i]!;
    if (c === "\\") {
      const n = v[i + 1];
      if (n === "\\" || n === "," || n === "=") {
        out += n;
        i++;
        continue;
      }
      throw new SelectorParseError(`invalid escape sequence in field selector value`, pos + i);
    }
    if (c === "," || c === "=") throw new SelectorParseError(`unescaped '${c}' in field selector value`, pos + i);
    out += c;
  }
  return out;
}
