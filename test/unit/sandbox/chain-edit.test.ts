/**
 * The programming path's in-place chain edits (proxier/iptables/incremental.ts): -D / positioned -I edits must
 * leave a chain exactly as the render has it (same rules, same order), and a partial plan rewritten with them
 * must lead from the previous render's state to the next one's. Checked on a list model of iptables-restore's
 * -A/-D/-I/-X/:chain semantics (FakeIptables has no -D or positioned -I; the kernel is checked in
 * test/integration/sandbox/programming.test.ts).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import type { EndpointSlice, Service } from "../../../src/api/index.js";
import { splitWords } from "../../../src/netlinux/iptables.js";
import { DISPATCH_CHAINS, chainEdit, planIncremental, withKernelOrder } from "../../../proxier/iptables/incremental.js";
import { appliedStateOf, planPartial } from "../../../proxier/iptables/partial.js";
import { render } from "../../../proxier/iptables/render.js";
import { runs } from "../../support/runs.js";
import { numberedService, numberedSlice } from "../../support/service-fixtures.js";

const svc = (i: number) => numberedService(i, 5);
const slice = (i: number, eps: number) => numberedSlice(i, eps);

type Tables = Map<string, Map<string, string[]>>;

/** Applies an iptables-restore --noflush payload to chain lists, failing like the kernel on a missing rule. */
function applyPayload(state: Tables, payload: string): void {
  let table: Map<string, string[]> | undefined;
  for (const line of payload.split("\n")) {
    if (line === "" || line === "COMMIT") continue;
    if (line.startsWith("*")) {
      const name = line.slice(1);
      if (!state.has(name)) state.set(name, new Map());
      table = state.get(name);
      continue;
    }
    assert.ok(table, `line outside a table: ${line}`);
    if (line.startsWith(":")) {
      table.set(line.slice(1).split(" ")[0]!, []);
      continue;
    }
    const [op, chain] = line.split(" ", 2) as [string, string];
    const rest = line.slice(op.length + chain.length + 2);
    const rules = table.get(chain);
    assert.ok(rules, `${op} on missing chain ${chain}`);
    if (op === "-A") rules.push(`-A ${chain} ${rest}`);
    else if (op === "-D") {
      const i = rules.indexOf(`-A ${chain} ${rest}`);
      assert.ok(i >= 0, `-D of a rule that is not there: ${line}`);
      rules.splice(i, 1);
    } else if (op === "-I") {
      const words = splitWords(rest);
      const pos = Number(words[0]);
      assert.ok(pos >= 1 && pos <= rules.length + 1, `-I position ${pos} outside 1..${rules.length + 1}`);
      rules.splice(pos - 1, 0, `-A ${chain} ${rest.slice(words[0]!.length + 1)}`);
    } else if (op === "-X") {
      assert.deepEqual(rules, [], `-X of non-empty ${chain}`);
      table.delete(chain);
    } else assert.fail(`unexpected ${op}`);
  }
}

const rule = (c: string, i: number) => `-A ${c} -d 10.96.${i >> 8}.${i & 255}/32 -p tcp -j KUBE-SVC-${i}`;

describe("in-place chain edits", () => {
  it("-D then ascending -I turns the kernel's chain into exactly the rendered one", () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.integer({ min: 0, max: 300 }), { minLength: 0, maxLength: 60 }),
        fc.array(fc.boolean(), { maxLength: 60 }),
        fc.uniqueArray(fc.integer({ min: 301, max: 600 }), { maxLength: 20 }),
        fc.array(fc.nat(), { maxLength: 20 }),
        (ids, keepMask, newIds, positions) => {
          const prev = ids.map((i) => rule("C", i));
          const next = prev.filter((_, i) => keepMask[i] ?? true);
          for (const [k, id] of newIds.entries())
            next.splice((positions[k] ?? 0) % (next.length + 1), 0, rule("C", id));
          const e = chainEdit("C", prev, next);
          if (!e) {
            assert.ok(
              (prev.length - next.filter((l) => prev.includes(l)).length + newIds.length) * 2 > next.length,
              "declined only when the edit is larger than half the chain",
            );
            return;
          }
          const state: Tables = new Map([["nat", new Map([["C", [...prev]]])]]);
          const payload = [
            "*nat",
            ...e.deletes.map((l) => `-D C ${l.slice(5)}`),
            ...e.inserts.map(([p, l]) => `-I C ${p} ${l.slice(5)}`),
            "COMMIT",
          ].join("\n");
          applyPayload(state, payload);
          assert.deepEqual(state.get("nat")?.get("C"), next);
        },
      ),
      { numRuns: runs(2000, 300) },
    );
  });

  it("declines duplicate rules and kept rules that changed order", () => {
    const a = rule("C", 1);
    const b = rule("C", 2);
    const many = Array.from({ length: 20 }, (_, i) => rule("C", 10 + i));
    assert.equal(chainEdit("C", [a, a, ...many], [a, ...many]), null, "duplicate in the kernel's chain");
    assert.equal(chainEdit("C", [a, b, ...many], [b, a, ...many]), null, "two kept rules swapped");
    assert.deepEqual(chainEdit("C", [a, ...many], [a, b, ...many]), { deletes: [], inserts: [[2, b]] });
  });
});

/** A world of up to 60 services: present or not, with 0–2 endpoints each. */
const worldArb = fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 2 })), { minLength: 60, maxLength: 60 });

function renderWorld(w: [boolean, number][]) {
  const services: Service[] = [];
  const slices: EndpointSlice[] = [];
  for (const [i, [present, eps]] of w.entries()) {
    if (!present) continue;
    services.push(svc(i + 1));
    slices.push(slice(i + 1, eps));
  }
  return render(
    { services, endpointSlices: slices, node: { name: "node1", ips: ["198.18.0.1"] } },
    { clusterCIDRs: ["10.244.0.0/16"] },
  );
}

function stateOf(r: ReturnType<typeof render>): Tables {
  const copy = (m: Map<string, string[]>) => new Map([...m].map(([c, rs]) => [c, [...rs]]));
  return new Map([
    ["filter", copy(r.filter.rules)],
    ["nat", copy(r.nat.rules)],
  ]);
}

/** Kernel state for comparison: dispatch chains as sorted sets plus their last rule (their order is free). */
function normal(t: Tables): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const [table, chains] of t) {
    for (const [c, rules] of chains) {
      out[`${table}/${c}`] = DISPATCH_CHAINS.has(`${table}/${c}`)
        ? [...[...rules].sort(), `last: ${rules.at(-1)}`]
        : rules;
    }
  }
  return out;
}

/** A world step: toggle a few services and change a few endpoint counts (like a stream of API changes). */
const stepArb = fc.array(fc.tuple(fc.integer({ min: 0, max: 59 }), fc.boolean(), fc.integer({ min: 0, max: 2 })), {
  minLength: 1,
  maxLength: 4,
});

describe("partial plans with in-place edits", () => {
  it("a sequence of syncs leads the kernel to each render's rules (dispatch chains in any order, last rule last)", () => {
    fc.assert(
      fc.property(worldArb, fc.array(stepArb, { minLength: 1, maxLength: 6 }), (w0, steps) => {
        const w = w0.map(([p, e]) => [p, e] as [boolean, number]);
        let r = renderWorld(w);
        let applied = appliedStateOf(r);
        const state = stateOf(r);
        for (const step of steps) {
          for (const [i, present, eps] of step) w[i] = [present, eps];
          const next = renderWorld(w);
          const plan = planIncremental(applied, next, planPartial(applied, next));
          applyPayload(state, plan.payload);
          assert.deepEqual(normal(state), normal(stateOf(next)));
          // What the proxier keeps: the render, with the kernel's order where the plan left it different.
          applied = withKernelOrder(appliedStateOf(next), plan.kernelOrder);
          for (const [key, order] of plan.kernelOrder) {
            const [table, chain] = key.split("/") as [string, string];
            assert.deepEqual(state.get(table)?.get(chain), order, `${key}: kernelOrder is the kernel's order`);
          }
          r = next;
        }
        void r;
      }),
      { numRuns: runs(500, 80) },
    );
  });

  it("one added service inserts its dispatch rule at the top instead of rewriting the chain", () => {
    const w: [boolean, number][] = Array.from({ length: 60 }, (_, i) => [i !== 30, 1]);
    const r1 = renderWorld(w);
    w[30] = [true, 1];
    const r2 = renderWorld(w);
    const plan = planIncremental(appliedStateOf(r1), r2, planPartial(appliedStateOf(r1), r2));
    assert.ok(plan.editedChains.includes("nat/KUBE-SERVICES"), `edited: ${plan.editedChains.join(",")}`);
    assert.doesNotMatch(plan.payload, /^:KUBE-SERVICES /m, "KUBE-SERVICES is not flushed");
    assert.match(plan.payload, /^-I KUBE-SERVICES 1 .*-d 10\.96\.1\.31 /m);
    assert.ok(plan.totalLines < 20, `${plan.totalLines} lines`);
    const state = stateOf(r1);
    applyPayload(state, plan.payload);
    assert.equal(
      state.get("nat")?.get("KUBE-SERVICES")?.at(-1),
      r2.nat.rules.get("KUBE-SERVICES")?.at(-1),
      "NodePorts jump stays last",
    );
  });

  it("a sync that changes nothing but finds the kernel's order differing writes nothing", () => {
    const w: [boolean, number][] = Array.from({ length: 60 }, (_, i) => [i !== 30, 1]);
    const r1 = renderWorld(w);
    w[30] = [true, 1];
    const r2 = renderWorld(w);
    const p1 = planIncremental(appliedStateOf(r1), r2, planPartial(appliedStateOf(r1), r2));
    const applied = withKernelOrder(appliedStateOf(r2), p1.kernelOrder);
    assert.ok(p1.kernelOrder.has("nat/KUBE-SERVICES"));
    const p2 = planIncremental(applied, r2, planPartial(applied, r2));
    assert.ok(p2.empty, p2.payload);
    assert.deepEqual(p2.kernelOrder, p1.kernelOrder);
  });
});
