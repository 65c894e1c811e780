import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import type { LabelSelector, LabelSelectorRequirement } from "../../../src/api/meta.js";
import {
  labelSelectorFromObject,
  parseFieldSelector,
  parseLabelSelector,
  type Requirement,
  requirementString,
} from "../../../src/api/selectors.js";
import { runs } from "../../support/runs.js";

// Small pools so that generated selectors and label sets collide often (otherwise nothing ever matches).
const key: fc.Arbitrary<string> = fc.constantFrom("app", "tier", "env", "example.com/role", "k8s.io/x", "a.b_c-d");
const value: fc.Arbitrary<string> = fc.constantFrom("", "web", "db", "v1", "1", "42", "A.b-c_d");
const intValue = fc.integer({ min: -3, max: 3 }).map(String);
const labels = fc.dictionary(key, fc.oneof(value, intValue), { maxKeys: 5 });

const requirement: fc.Arbitrary<Requirement> = fc.oneof(
  fc.record({
    key,
    op: fc.constantFrom("=", "==", "!=") as fc.Arbitrary<Requirement["op"]>,
    values: value.map((v) => [v]),
  }),
  fc.record({
    key,
    op: fc.constantFrom("in", "notin") as fc.Arbitrary<Requirement["op"]>,
    values: fc.uniqueArray(value, { minLength: 1, maxLength: 4 }).map((vs) => [...vs].sort()),
  }),
  fc.record({
    key,
    op: fc.constantFrom("exists", "!") as fc.Arbitrary<Requirement["op"]>,
    values: fc.constant<string[]>([]),
  }),
  fc.record({
    key,
    op: fc.constantFrom("gt", "lt") as fc.Arbitrary<Requirement["op"]>,
    values: intValue.map((v) => [v]),
  }),
);

/** The reference model: each operator's meaning written out independently of the implementation. */
function modelMatches(reqs: Requirement[], l: Record<string, string>): boolean {
  return reqs.every((r) => {
    const present = r.key in l;
    const v = l[r.key];
    if (r.op === "exists") return present;
    if (r.op === "!") return !present;
    if (r.op === "=" || r.op === "==") return present && v === r.values[0];
    if (r.op === "!=") return !(present && v === r.values[0]);
    if (r.op === "in") return present && new Set(r.values).has(v!);
    if (r.op === "notin") return !(present && new Set(r.values).has(v!));
    if (!present || !/^-?[0-9]+$/.test(v!)) return false;
    return r.op === "gt"
      ? Number.parseInt(v!, 10) > Number.parseInt(r.values[0]!, 10)
      : Number.parseInt(v!, 10) < Number.parseInt(r.values[0]!, 10);
  });
}

/** Writes a selector with random but legal spacing, so the parser's whitespace handling is exercised. */
const spacedString = (reqs: Requirement[]) =>
  fc
    .array(fc.constantFrom("", " ", "  "), { minLength: reqs.length * 2 + 1, maxLength: reqs.length * 2 + 1 })
    .map((sp) =>
      reqs
        .map((r, i) => {
          const s = requirementString(r);
          const a = sp[2 * i]!;
          const b = sp[2 * i + 1]!;
          return r.op === "in" || r.op === "notin" ? `${a}${s.replace(" (", ` ${b}(`)}` : `${a}${s}${b}`;
        })
        .join(","),
    );

describe("label selector properties", () => {
  it("print ∘ parse is the identity on printed selectors", () => {
    fc.assert(
      fc.property(fc.array(requirement, { maxLength: 5 }), (reqs) => {
        const printed = reqs.map(requirementString).join(",");
        const once = parseLabelSelector(printed).toString();
        assert.equal(parseLabelSelector(once).toString(), once);
        // the parsed requirements are exactly the generated ones (sorted by key, stable)
        const sorted = reqs.map((r) => ({ ...r })).sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
        assert.deepEqual(parseLabelSelector(printed).requirements, sorted);
      }),
      { numRuns: runs(2000, 300) },
    );
  });

  it("matching agrees with the reference model, whatever the spacing", () => {
    fc.assert(
      fc.property(
        fc.array(requirement, { maxLength: 5 }).chain((reqs) => fc.tuple(fc.constant(reqs), spacedString(reqs))),
        labels,
        ([reqs, text], l) => {
          assert.equal(parseLabelSelector(text).matches(l), modelMatches(reqs, l), `selector ${JSON.stringify(text)}`);
        },
      ),
      { numRuns: runs(5000, 500) },
    );
  });

  it("object form and string form select the same label sets", () => {
    const expr: fc.Arbitrary<LabelSelectorRequirement> = fc.oneof(
      fc.record({
        key,
        operator: fc.constantFrom("In", "NotIn") as fc.Arbitrary<"In" | "NotIn">,
        values: fc.uniqueArray(value, { minLength: 1, maxLength: 3 }),
      }),
      fc.record({
        key,
        operator: fc.constantFrom("Exists", "DoesNotExist") as fc.Arbitrary<"Exists" | "DoesNotExist">,
      }),
    );
    const selector: fc.Arbitrary<LabelSelector> = fc.record(
      { matchLabels: fc.dictionary(key, value, { maxKeys: 3 }), matchExpressions: fc.array(expr, { maxLength: 3 }) },
      { requiredKeys: [] },
    );
    const asString = (s: LabelSelector) =>
      [
        ...Object.entries(s.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`),
        ...(s.matchExpressions ?? []).map((e) =>
          e.operator === "Exists"
            ? e.key
            : e.operator === "DoesNotExist"
              ? `!${e.key}`
              : `${e.key} ${e.operator.toLowerCase()} (${e.values!.join(",")})`,
        ),
      ].join(",");
    fc.assert(
      fc.property(selector, labels, (s, l) => {
        const fromObject = labelSelectorFromObject(s);
        const fromString = parseLabelSelector(asString(s));
        assert.equal(fromObject.matches(l), fromString.matches(l));
        assert.equal(fromObject.toString(), fromString.toString());
      }),
      { numRuns: runs(5000, 500) },
    );
  });
});

describe("field selector properties", () => {
  const fieldName = fc.constantFrom("metadata.name", "metadata.namespace", "spec.nodeName", "status.phase");
  const fieldValue = fc.string({ maxLength: 6, unit: fc.constantFrom("a", "b", ",", "=", "\\", "-", ".") });
  const term = fc.record({
    field: fieldName,
    op: fc.constantFrom("=", "==", "!=") as fc.Arbitrary<"=" | "==" | "!=">,
    value: fieldValue,
  });
  const esc = (v: string) => v.replace(/[\\,=]/g, (c) => `\\${c}`);

  it("escaped values survive parsing and printing", () => {
    fc.assert(
      fc.property(fc.array(term, { maxLength: 4 }), (terms) => {
        const text = terms.map((t) => `${t.field}${t.op}${esc(t.value)}`).join(",");
        const sel = parseFieldSelector(text);
        assert.deepEqual([...sel.requirements].map((r) => r.value).sort(), terms.map((t) => t.value).sort());
        assert.equal(parseFieldSelector(sel.toString()).toString(), sel.toString());
      }),
      { numRuns: runs(3000, 300) },
    );
  });

  it("matching is equality per term, missing fields compare as empty", () => {
    fc.assert(
      fc.property(fc.array(term, { maxLength: 4 }), fc.dictionary(fieldName, fieldValue), (terms, fields) => {
        const text = terms.map((t) => `${t.field}${t.op}${esc(t.value)}`).join(",");
        const expected = terms.every((t) => ((fields[t.field] ?? "") === t.value) !== (t.op === "!="));
        assert.equal(parseFieldSelector(text).matches(fields), expected);
      }),
      { numRuns: runs(3000, 300) },
    );
  });
});
