/** Server-side apply's core (src/apiserver/apply.ts): field sets, merge, removal, conflicts, force, FieldsV1. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { applyConfig, fieldSet, fromFieldsV1, pathText, toFieldsV1 } from "../../../src/apiserver/apply.js";
import { ApiError } from "../../../src/apiserver/errors.js";
import type { KubeObject } from "../../../src/api/meta.js";

// biome-ignore lint/suspicious/noExplicitAny: test objects
type Obj = KubeObject & Record<string, any>;

const deploy = (containers: Record<string, unknown>[], replicas?: number): Obj => ({
  apiVersion: "apps/v1",
  kind: "Deployment",
  metadata: { name: "web", namespace: "default" },
  spec: {
    ...(replicas === undefined ? {} : { replicas }),
    selector: { matchLabels: { app: "web" } },
    template: { metadata: { labels: { app: "web" } }, spec: { containers } },
  },
});

const apply = (live: Obj | undefined, applied: Obj, manager: string, force = false) =>
  applyConfig({
    kind: applied.kind as string,
    group: "apps",
    plural: "deployments",
    apiVersion: "apps/v1",
    live,
    applied,
    manager,
    force,
    now: "2026-01-01T00:00:00Z",
  });

describe("server-side apply", () => {
  it("field sets key list items by their merge key and round-trip through FieldsV1", () => {
    const set = fieldSet("Deployment", deploy([{ name: "c", image: "i", env: [{ name: "A", value: "1" }] }], 2));
    const texts = [...set].map(pathText).sort();
    assert.ok(texts.includes(".spec.replicas"));
    assert.ok(texts.includes('.spec.template.spec.containers[name="c"].image'));
    assert.ok(texts.includes('.spec.template.spec.containers[name="c"].env[name="A"].value'));
    assert.ok(texts.includes('.spec.template.spec.containers[name="c"]'), "the item itself");
    assert.ok(!texts.some((t) => t.startsWith(".metadata.name") || t.startsWith(".kind")), "identity is not owned");
    assert.deepEqual(fromFieldsV1(toFieldsV1(set)), set);
  });

  it("merges into the live object and removes what the manager stopped applying", () => {
    const first = apply(
      undefined,
      deploy(
        [
          {
            name: "c",
            image: "i:1",
            env: [
              { name: "A", value: "1" },
              { name: "B", value: "2" },
            ],
          },
          { name: "side", image: "s" },
        ],
        2,
      ),
      "m",
    );
    // another writer's field (not an applier) stays
    first.spec.paused = true;
    const second = apply(first, deploy([{ name: "c", image: "i:2", env: [{ name: "A", value: "1" }] }]), "m");
    assert.equal(second.spec.paused, true);
    assert.equal(second.spec.replicas, undefined, "replicas no longer applied");
    assert.deepEqual(second.spec.template.spec.containers, [
      { name: "c", image: "i:2", env: [{ name: "A", value: "1" }] },
    ]);
    assert.equal((second.metadata.managedFields as Obj[]).length, 1);
    assert.equal((second.metadata.managedFields as Obj[])[0]?.manager, "m");
  });

  it("a field owned by another applier with a different value is a 409 with causes; force takes it over", () => {
    const a = apply(undefined, deploy([{ name: "c", image: "i:1" }], 2), "a");
    assert.throws(
      () => apply(a, deploy([{ name: "c", image: "i:9" }], 2), "b"),
      (e: unknown) =>
        e instanceof ApiError &&
        e.code === 409 &&
        e.status.reason === "Conflict" &&
        e.status.details?.causes?.length === 1 &&
        e.status.details.causes[0]?.field === '.spec.template.spec.containers[name="c"].image' &&
        /conflict with "a"/.test(e.status.message ?? ""),
    );
    // the same value is shared ownership, no conflict
    const shared = apply(a, deploy([{ name: "c", image: "i:1" }], 2), "b");
    assert.equal((shared.metadata.managedFields as Obj[]).length, 2);
    const forced = apply(a, deploy([{ name: "c", image: "i:9" }]), "b", true);
    assert.equal(forced.spec.template.spec.containers[0].image, "i:9");
    const aFields = [
      ...fromFieldsV1((forced.metadata.managedFields as Obj[]).find((m) => m.manager === "a")?.fieldsV1),
    ];
    assert.ok(!aFields.map(pathText).includes('.spec.template.spec.containers[name="c"].image'), "a lost the field");
    // b stops applying the image: a does not own it any more, so it goes
    const dropped = apply(forced, deploy([{ name: "c" }]), "b");
    assert.equal(dropped.spec.template.spec.containers[0].image, undefined);
    assert.equal(dropped.spec.replicas, 2, "a still applies replicas");
  });
});
