import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import type { Service, ServicePort } from "../../../src/api/core.js";
import { applyDefaults } from "../../../src/api/defaults.js";
import { validate } from "../../../src/api/validation.js";
import { runs } from "../../support/runs.js";

const dnsLabel = fc.stringMatching(/^[a-z]([-a-z0-9]{0,10}[a-z0-9])?$/);
const validPorts = fc
  .uniqueArray(
    fc.record({
      port: fc.integer({ min: 1, max: 65535 }),
      protocol: fc.constantFrom("TCP", "UDP", "SCTP") as fc.Arbitrary<"TCP" | "UDP" | "SCTP">,
    }),
    {
      minLength: 1,
      maxLength: 4,
      selector: (p) => `${p.port}/${p.protocol}`,
    },
  )
  .map((ps): ServicePort[] => ps.map((p, i) => ({ ...p, name: `p${i}`, targetPort: p.port })));
const validService = fc
  .record({
    name: dnsLabel,
    type: fc.constantFrom("ClusterIP", "NodePort", "LoadBalancer") as fc.Arbitrary<
      "ClusterIP" | "NodePort" | "LoadBalancer"
    >,
    ports: validPorts,
  })
  .map(
    ({ name, type, ports }): Service => ({
      apiVersion: "v1",
      kind: "Service",
      metadata: { name, namespace: "default" },
      spec: { type, selector: { app: name }, ports },
    }),
  );

/** One way to break a valid service, and the field path the error must name. */
const corruption = fc.oneof(
  fc
    .integer({ min: 65536, max: 10_000_000 })
    .map((v) => ({ path: "spec.ports[0].port", apply: (s: Service) => void (s.spec.ports![0]!.port = v) })),
  fc
    .integer({ min: -1000, max: 0 })
    .map((v) => ({ path: "spec.ports[0].port", apply: (s: Service) => void (s.spec.ports![0]!.port = v) })),
  fc.constantFrom("ICMP", "tcp", "").map((v) => ({
    path: "spec.ports[0].protocol",
    apply: (s: Service) => void (s.spec.ports![0]!.protocol = v as never),
  })),
  fc
    .stringMatching(/^[A-Z0-9_][A-Za-z0-9_.]{0,8}$/)
    .map((v) => ({ path: "metadata.name", apply: (s: Service) => void (s.metadata.name = v) })),
  fc
    .constantFrom("1.2.3", "x", "10.0.0.256")
    .map((v) => ({ path: "spec.clusterIP", apply: (s: Service) => void (s.spec.clusterIP = v) })),
);

describe("validation properties", () => {
  it("valid services (and their defaulted forms) produce no errors", () => {
    fc.assert(
      fc.property(validService, (s) => {
        assert.deepEqual(validate(s).map(String), []);
        assert.deepEqual(validate(applyDefaults(s)).map(String), []);
      }),
      { numRuns: runs(2000, 300) },
    );
  });
  it("each corruption yields an error naming exactly the corrupted field", () => {
    fc.assert(
      fc.property(validService, corruption, (s, c) => {
        const copy = structuredClone(s);
        c.apply(copy);
        const errs = validate(copy);
        assert.ok(errs.length > 0, "a corrupted service must be invalid");
        assert.ok(
          errs.some((e) => e.field === c.path),
          `errors ${errs.map(String).join("; ")} name ${c.path}`,
        );
      }),
      { numRuns: runs(2000, 300) },
    );
  });
});
