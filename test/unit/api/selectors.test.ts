import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  labelSelectorFromObject,
  parseFieldSelector,
  parseLabelSelector,
  SelectorParseError,
  selectorFromMap,
} from "../../../src/api/selectors.js";

describe("label selector parsing", () => {
  it("accepts every operator and prints them like Kubernetes, sorted by key", () => {
    const s = parseLabelSelector("x>5 , tier notin (b,a), app==web,!canary,env!=prod,has,y<3,z in (q)");
    assert.equal(s.toString(), "app==web,!canary,env!=prod,has,tier notin (a,b),x>5,y<3,z in (q)");
  });
  it("the empty string selects everything", () => {
    const s = parseLabelSelector("");
    assert.ok(s.empty());
    assert.ok(s.matches({}));
    assert.ok(s.matches({ a: "b" }));
  });
  it("!= and notin match objects without the key; = and in do not", () => {
    assert.ok(parseLabelSelector("a!=x").matches({}));
    assert.ok(parseLabelSelector("a notin (x)").matches({}));
    assert.ok(!parseLabelSelector("a=x").matches({}));
    assert.ok(!parseLabelSelector("a in (x)").matches({}));
  });
  it("`a=` selects the empty value", () => {
    const s = parseLabelSelector("a=");
    assert.ok(s.matches({ a: "" }));
    assert.ok(!s.matches({ a: "x" }));
  });
  it("`in ()` is the set holding the empty value, as in Kubernetes", () => {
    assert.ok(parseLabelSelector("a in ()").matches({ a: "" }));
    assert.ok(!parseLabelSelector("a in ()").matches({ a: "x" }));
    assert.equal(parseLabelSelector("a in ( , )").toString(), "a in ()");
  });
  it("gt and lt need an integer label value", () => {
    assert.ok(parseLabelSelector("n>1").matches({ n: "2" }));
    assert.ok(!parseLabelSelector("n>1").matches({ n: "x" }));
    assert.ok(!parseLabelSelector("n<1").matches({}));
  });
  for (const [text, pos] of [
    ["a in b", 5],
    ["a in (b", 7],
    ["a b", 2],
    ["a=b,", 4],
    [",a", 0],
    ["-bad=x", 0],
    ["a=b=c", 3],
  ] as const) {
    it(`rejects ${JSON.stringify(text)} with the position of the problem`, () => {
      assert.throws(
        () => parseLabelSelector(text),
        (e: unknown) => e instanceof SelectorParseError && e.position === pos,
      );
    });
  }
  it("rejects an invalid label value", () => {
    assert.throws(() => parseLabelSelector("a=-x"), /invalid label value/);
    assert.throws(() => parseLabelSelector(`a=${"x".repeat(64)}`), /63 characters/);
  });
});

describe("label selector object form", () => {
  it("nil selects nothing, {} selects everything", () => {
    assert.ok(!labelSelectorFromObject(undefined).matches({}));
    assert.ok(labelSelectorFromObject({}).matches({ any: "x" }));
  });
  it("combines matchLabels and matchExpressions with AND", () => {
    const s = labelSelectorFromObject({
      matchLabels: { app: "web" },
      matchExpressions: [{ key: "tier", operator: "In", values: ["fe"] }],
    });
    assert.ok(s.matches({ app: "web", tier: "fe" }));
    assert.ok(!s.matches({ app: "web", tier: "be" }));
    assert.ok(!s.matches({ tier: "fe" }));
  });
  it("rejects In without values and Exists with values", () => {
    assert.throws(() => labelSelectorFromObject({ matchExpressions: [{ key: "a", operator: "In", values: [] }] }));
    assert.throws(() =>
      labelSelectorFromObject({ matchExpressions: [{ key: "a", operator: "Exists", values: ["x"] }] }),
    );
  });
  it("a map selector is all-equal", () => {
    assert.equal(selectorFromMap({ b: "2", a: "1" }).toString(), "a=1,b=2");
    assert.ok(selectorFromMap({}).matches({ x: "y" }));
  });
});

describe("field selectors", () => {
  it("matches equality and inequality terms", () => {
    const s = parseFieldSelector("spec.nodeName=n1,status.phase!=Failed");
    assert.ok(s.matches({ "spec.nodeName": "n1", "status.phase": "Running" }));
    assert.ok(!s.matches({ "spec.nodeName": "n1", "status.phase": "Failed" }));
    assert.ok(!s.matches({ "status.phase": "Running" }));
  });
  it("spec.nodeName= selects unscheduled pods (missing field is empty)", () => {
    assert.ok(parseFieldSelector("spec.nodeName=").matches({}));
  });
  it("rejects terms without an operator and unescaped separators in values", () => {
    assert.throws(() => parseFieldSelector("metadata.name"), SelectorParseError);
    assert.throws(() => parseFieldSelector("a=b=c"), SelectorParseError);
    assert.throws(() => parseFieldSelector("=x"), SelectorParseError);
  });
});
