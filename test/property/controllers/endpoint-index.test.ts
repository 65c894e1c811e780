/**
 * The endpoint controllers' indexes answer exactly what a scan of every pod/Service would: for random pods
 * (namespaces, labels, relabels, deletes) and random selector Services, `PodIndex.select` = the pods a selector
 * matches in its namespace, and `ServiceSelectorIndex.servicesFor` = the selector Services matching a pod.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import type { Pod, Service } from "../../../src/api/index.js";
import { PodIndex, ServiceSelectorIndex } from "../../../src/controllers/endpoint-index.js";
import { runs } from "../../support/runs.js";

const labelsArb = fc.dictionary(fc.constantFrom("app", "tier", "v"), fc.constantFrom("a", "b", "c"), { maxKeys: 3 });
const nsArb = fc.constantFrom("ns1", "ns2");

const pod = (i: number, ns: string, labels: Record<string, string>): Pod => ({
  apiVersion: "v1",
  kind: "Pod",
  metadata: { name: `p${i}`, namespace: ns, labels },
  spec: { containers: [] },
});

const svc = (i: number, ns: string, selector: Record<string, string> | undefined, external: boolean): Service => ({
  apiVersion: "v1",
  kind: "Service",
  metadata: { name: `s${i}`, namespace: ns },
  spec: { ...(selector ? { selector } : {}), ...(external ? { type: "ExternalName", externalName: "x" } : {}) },
});

const matches = (sel: Record<string, string>, l: Record<string, string> | undefined) =>
  Object.entries(sel).every(([k, v]) => l?.[k] === v);
const names = (xs: { metadata: { namespace?: string; name?: string } }[]) =>
  xs.map((x) => `${x.metadata.namespace}/${x.metadata.name}`).sort();

describe("endpoint controller indexes", () => {
  it("PodIndex.select and ServiceSelectorIndex.servicesFor equal a full scan", () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ ns: nsArb, labels: labelsArb }), { maxLength: 30 }),
        // later steps: relabel (or move) pod i, or delete it
        fc.array(fc.record({ i: fc.nat(40), labels: labelsArb, del: fc.boolean() }), { maxLength: 20 }),
        fc.array(fc.record({ ns: nsArb, sel: fc.option(labelsArb, { nil: undefined }), external: fc.boolean() }), {
          maxLength: 15,
        }),
        (podSpecs, steps, svcSpecs) => {
          const idx = new PodIndex();
          const live = new Map<number, Pod>();
          podSpecs.forEach((p, i) => {
            const o = pod(i, p.ns, p.labels);
            idx.upsert(undefined, o);
            live.set(i, o);
          });
          for (const st of steps) {
            const cur = live.get(st.i);
            if (!cur) continue;
            if (st.del) {
              idx.remove(cur);
              live.delete(st.i);
            } else {
              const next = pod(st.i, cur.metadata.namespace ?? "", st.labels);
              idx.upsert(cur, next);
              live.set(st.i, next);
            }
          }
          const sidx = new ServiceSelectorIndex();
          const services = svcSpecs.map((s, i) => svc(i, s.ns, s.sel, s.external));
          for (const s of services) sidx.upsert(s);
          // re-upserting (an update) must not duplicate
          for (const s of services.slice(0, 3)) sidx.upsert(s);
          const pods = [...live.values()];
          for (const s of services) {
            const sel = s.spec.selector ?? {};
            const want = pods.filter(
              (p) => p.metadata.namespace === s.metadata.namespace && matches(sel, p.metadata.labels),
            );
            assert.deepEqual(names(idx.select(s.metadata.namespace ?? "", sel)), names(want));
          }
          for (const p of pods) {
            const want = services.filter(
              (s) =>
                !!s.spec.selector &&
                s.spec.type !== "ExternalName" &&
                s.metadata.namespace === p.metadata.namespace &&
                matches(s.spec.selector, p.metadata.labels),
            );
            assert.deepEqual(names(sidx.servicesFor(p)), names(want));
          }
          for (const s of services) sidx.remove(s);
          for (const p of pods) assert.deepEqual(sidx.servicesFor(p), []);
        },
      ),
      { numRuns: runs(2000, 300) },
    );
  });
});
