import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import fc from "fast-check";
import type { EndpointSlice } from "../../../src/api/apps.js";
import type { Service } from "../../../src/api/core.js";
import { servicePorts } from "../../../proxier/userspace/model.js";
import { renderPortalRules } from "../../../proxier/userspace/rules.js";
import { runIn } from "../../../src/netlinux/netns.js";
import { NetnsScope } from "../../support/netns.js";
import { runs } from "../../support/runs.js";

const ipArb = (a: number) =>
  fc.tuple(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 1, max: 254 })).map(([c, d]) => `${a}.${c}.0.${d}`);
const svcArb = fc.record({
  name: fc.stringMatching(/^[a-z][a-z0-9-]{0,20}$/),
  ns: fc.constantFrom("default", "kube-system", "team-a"),
  type: fc.constantFrom("ClusterIP", "NodePort", "LoadBalancer") as fc.Arbitrary<Service["spec"]["type"]>,
  clusterIP: ipArb(10),
  ports: fc.uniqueArray(
    fc.record({
      name: fc.option(fc.stringMatching(/^[a-z]{1,8}$/), { nil: undefined }),
      port: fc.integer({ min: 1, max: 65535 }),
      nodePort: fc.integer({ min: 30000, max: 32767 }),
      protocol: fc.constantFrom("TCP", "UDP") as fc.Arbitrary<"TCP" | "UDP">,
    }),
    { minLength: 1, maxLength: 3, selector: (p) => p.name ?? "" },
  ),
  externalIPs: fc.array(ipArb(203), { maxLength: 2 }),
  lbIPs: fc.array(ipArb(198), { maxLength: 2 }),
});

describe("rendered userspace payloads are accepted by the kernel's iptables-restore", () => {
  const scope = new NetnsScope("up");
  let ns: string;
  before(async () => {
    ns = await scope.add("node");
  });
  after(() => scope.cleanup());

  it("random service sets: every payload applies, and applying it twice leaves the same rules", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(svcArb, { maxLength: 8, selector: (s) => `${s.ns}/${s.name}` }),
        fc.boolean(),
        async (svcs, bindAny) => {
          const services: Service[] = svcs.map((s) => ({
            apiVersion: "v1",
            kind: "Service",
            metadata: { name: s.name, namespace: s.ns },
            spec: { type: s.type, clusterIP: s.clusterIP, ports: s.ports, externalIPs: s.externalIPs },
            status: { loadBalancer: { ingress: s.lbIPs.map((ip) => ({ ip })) } },
          }));
          const slices: EndpointSlice[] = [];
          const sps = servicePorts({ services, endpointSlices: slices });
          const ports = new Map(sps.map((sp, i) => [sp.key, 40000 + i]));
          const payload = renderPortalRules(sps, {
            proxyPorts: ports,
            listenIP: bindAny ? "0.0.0.0" : "198.18.0.1",
            hostIP: "198.18.0.1",
          });
          await runIn(ns, "iptables-restore", ["--noflush", "-w"], { input: payload });
          const once = (await runIn(ns, "iptables-save", [])).stdout.replace(/^#.*$/gm, "");
          await runIn(ns, "iptables-restore", ["--noflush", "-w"], { input: payload });
          const twice = (await runIn(ns, "iptables-save", [])).stdout.replace(/^#.*$/gm, "");
          assert.equal(twice, once);
          const nRules = payload.split("\n").filter((l) => l.startsWith("-A ")).length;
          assert.equal(once.split("\n").filter((l) => l.startsWith("-A KUBE-")).length, nRules);
        },
      ),
      { numRuns: runs(100, 15) },
    );
  });
});
