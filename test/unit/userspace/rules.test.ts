import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { EndpointSlice } from "../../../src/api/apps.js";
import type { Service } from "../../../src/api/core.js";
import { servicePorts } from "../../../proxier/userspace/model.js";
import { renderUserspaceRules } from "../../../proxier/userspace/rules.js";
import { FakeRunner, cleanupUserspaceRules, ensureJumpRules } from "../../../proxier/userspace/runner.js";

const svc = (over: Partial<Service["spec"]> = {}, status?: Service["status"]): Service => ({
  apiVersion: "v1",
  kind: "Service",
  metadata: { name: "web", namespace: "ns1" },
  spec: { type: "ClusterIP", clusterIP: "10.96.0.10", ports: [{ name: "http", port: 80, protocol: "TCP" }], ...over },
  status,
});
const slice: EndpointSlice = {
  apiVersion: "discovery.k8s.io/v1",
  kind: "EndpointSlice",
  metadata: { name: "web-1", namespace: "ns1", labels: { "kubernetes.io/service-name": "web" } },
  addressType: "IPv4",
  endpoints: [
    { addresses: ["10.244.1.2"] },
    { addresses: ["10.244.1.3"], conditions: { ready: false } },
    { addresses: ["10.244.1.4"], conditions: { ready: true } },
  ],
  ports: [{ name: "http", port: 8080, protocol: "TCP" }],
};
const KEY = "ns1/web:http/tcp";

describe("userspace model", () => {
  it("collects ready endpoints per named port and skips headless/ExternalName services", () => {
    const sps = servicePorts({
      services: [
        svc(),
        { ...svc({ clusterIP: "None" }), metadata: { name: "h", namespace: "ns1" } },
        { ...svc({ type: "ExternalName", externalName: "x.example" }), metadata: { name: "e", namespace: "ns1" } },
      ],
      endpointSlices: [slice],
    });
    assert.equal(sps.length, 1);
    assert.equal(sps[0]!.key, KEY);
    assert.deepEqual(sps[0]!.endpoints, ["10.244.1.2:8080", "10.244.1.4:8080"]);
  });

  it("reads affinity with the API default timeout", () => {
    const [sp] = servicePorts({ services: [svc({ sessionAffinity: "ClientIP" })], endpointSlices: [] });
    assert.equal(sp!.affinitySeconds, 10800);
  });
});

describe("renderUserspaceRules", () => {
  it("REDIRECTs container portals and DNATs host portals to the node IP when bound to 0.0.0.0", () => {
    const text = renderUserspaceRules(
      { services: [svc()], endpointSlices: [slice], nodeIPs: ["192.0.2.5"] },
      { proxyPorts: new Map([[KEY, 41000]]) },
    );
    assert.ok(
      text.includes(
        "-A KUBE-PORTALS-CONTAINER -m comment --comment ns1/web:http -p tcp -m tcp --dport 80 -d 10.96.0.10/32 -j REDIRECT --to-ports 41000",
      ),
      text,
    );
    assert.ok(
      text.includes(
        "-A KUBE-PORTALS-HOST -m comment --comment ns1/web:http -p tcp -m tcp --dport 80 -d 10.96.0.10/32 -j DNAT --to-destination 192.0.2.5:41000",
      ),
    );
    assert.ok(!text.includes("KUBE-NODEPORT-CONTAINER -m"));
  });

  it("DNATs container portals to listenIP when bound to a specific address", () => {
    const text = renderUserspaceRules(
      { services: [svc()], endpointSlices: [slice] },
      { proxyPorts: new Map([[KEY, 41000]]), listenIP: "192.0.2.7" },
    );
    assert.match(text, /-A KUBE-PORTALS-CONTAINER .* -j DNAT --to-destination 192\.0\.2\.7:41000/);
    assert.match(text, /-A KUBE-PORTALS-HOST .* -j DNAT --to-destination 192\.0\.2\.7:41000/);
  });

  it("writes NodePort, external IP and LoadBalancer portals the way kube-proxy did", () => {
    const text = renderUserspaceRules(
      {
        services: [
          svc(
            {
              type: "LoadBalancer",
              externalIPs: ["198.51.100.1"],
              ports: [{ name: "http", port: 80, protocol: "TCP", nodePort: 30080 }],
            },
            { loadBalancer: { ingress: [{ ip: "203.0.113.1" }, { ip: "203.0.113.2", ipMode: "Proxy" }] } },
          ),
        ],
        endpointSlices: [slice],
        nodeIPs: ["192.0.2.5"],
      },
      { proxyPorts: new Map([[KEY, 41000]]) },
    );
    const lines = text.split("\n");
    const count = (re: RegExp) => lines.filter((l) => re.test(l)).length;
    assert.equal(
      count(/^-A KUBE-PORTALS-CONTAINER .*-d 198\.51\.100\.1\/32 -m physdev ! --physdev-is-in -j REDIRECT/),
      1,
    );
    assert.equal(
      count(/^-A KUBE-PORTALS-CONTAINER .*-d 198\.51\.100\.1\/32 -m addrtype --dst-type LOCAL -j REDIRECT/),
      1,
    );
    assert.equal(count(/^-A KUBE-PORTALS-HOST .*-d 198\.51\.100\.1\/32 -m addrtype --dst-type LOCAL -j DNAT/), 1);
    assert.equal(count(/203\.0\.113\.1\/32/), 2);
    assert.equal(count(/203\.0\.113\.2/), 0);
    assert.equal(count(/^-A KUBE-NODEPORT-CONTAINER .*--dport 30080 -j REDIRECT --to-ports 41000$/), 1);
    assert.equal(count(/^-A KUBE-NODEPORT-HOST .*--dport 30080 -j DNAT --to-destination 192\.0\.2\.5:41000$/), 1);
    assert.equal(count(/^-A KUBE-NODEPORT-NON-LOCAL .*--dport 41000 -m state --state NEW -j ACCEPT$/), 1);
  });

  it("declares all five chains even with no services (a restore flushes stale portals)", () => {
    const text = renderUserspaceRules({ services: [], endpointSlices: [] }, { proxyPorts: new Map() });
    for (const c of [
      "KUBE-PORTALS-CONTAINER",
      "KUBE-PORTALS-HOST",
      "KUBE-NODEPORT-CONTAINER",
      "KUBE-NODEPORT-HOST",
      "KUBE-NODEPORT-NON-LOCAL",
    ])
      assert.ok(text.includes(`:${c} - [0:0]`), c);
    assert.ok(!text.includes("-A "));
  });

  it("ensures jumps once and removes every copy and chain on cleanup", async () => {
    const r = new FakeRunner();
    await r.restore(renderUserspaceRules({ services: [svc()], endpointSlices: [slice] }, { proxyPorts: new Map() }));
    assert.equal(await ensureJumpRules(r), 5);
    assert.equal(await ensureJumpRules(r), 0);
    // A duplicate someone else added goes too.
    await r.ensureRule("append", "nat", "OUTPUT", ["-j", "KUBE-PORTALS-HOST"]);
    await cleanupUserspaceRules(r);
    assert.deepEqual(r.rules.get("nat"), []);
    assert.deepEqual(r.rules.get("filter"), []);
    assert.equal(r.chains.get("nat")!.size + r.chains.get("filter")!.size, 0);
    const n = r.payloads.length;
    await cleanupUserspaceRules(r); // nothing left: no restore at all
    assert.equal(r.payloads.length, n);
  });
});
