import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Deployment } from "../../../src/api/apps.js";
import type { Pod, Service } from "../../../src/api/core.js";
import { applyDefaults } from "../../../src/api/defaults.js";
import { invalidStatus, validate } from "../../../src/api/validation.js";

const svc = (spec: Service["spec"], name = "web"): Service => ({
  apiVersion: "v1",
  kind: "Service",
  metadata: { name, namespace: "default" },
  spec,
});
const msgs = (o: Parameters<typeof validate>[0]) => validate(o).map(String);

describe("Service validation", () => {
  it("accepts a plain ClusterIP service", () => {
    assert.deepEqual(msgs(svc({ selector: { app: "web" }, ports: [{ port: 80, targetPort: 8080 }] })), []);
  });
  it("rejects a port out of range with Kubernetes' message", () => {
    assert.deepEqual(msgs(svc({ ports: [{ port: 70000 }] })), [
      "spec.ports[0].port: Invalid value: 70000: must be between 1 and 65535, inclusive",
    ]);
  });
  it("requires names on multiple ports and rejects duplicates", () => {
    const m = msgs(svc({ ports: [{ port: 80 }, { name: "b", port: 80 }] }));
    assert.ok(m.includes("spec.ports[0].name: Required value"));
    assert.ok(m.includes('spec.ports[1]: Duplicate value: {"port":80,"protocol":"TCP"}'));
  });
  it("rejects an unknown protocol and type", () => {
    assert.deepEqual(msgs(svc({ type: "Bogus" as never, ports: [{ port: 1, protocol: "ICMP" as never }] })), [
      'spec.type: Unsupported value: "Bogus": supported values: "ClusterIP", "ExternalName", "LoadBalancer", "NodePort"',
      'spec.ports[0].protocol: Unsupported value: "ICMP": supported values: "SCTP", "TCP", "UDP"',
    ]);
  });
  it("forbids a nodePort on a ClusterIP service", () => {
    assert.deepEqual(msgs(svc({ ports: [{ port: 80, nodePort: 30080 }] })), [
      "spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'",
    ]);
  });
  it("needs externalName for ExternalName and allows no ports", () => {
    assert.deepEqual(msgs(svc({ type: "ExternalName" })), ["spec.externalName: Required value"]);
    assert.deepEqual(msgs(svc({ type: "ExternalName", externalName: "example.com" })), []);
  });
  it("service names are DNS-1035 labels (no leading digit)", () => {
    assert.match(
      msgs(svc({ ports: [{ port: 1 }] }, "1web"))[0]!,
      /^metadata\.name: Invalid value: "1web": a DNS-1035 label/,
    );
  });
  it("checks IPs, CIDRs and policy/type combinations", () => {
    const m = msgs(
      svc({
        clusterIP: "10.96.0.300",
        externalIPs: ["nope"],
        externalTrafficPolicy: "Local",
        loadBalancerSourceRanges: ["1.2.3.0/24"],
        ports: [{ port: 80, targetPort: "not_a_name" }],
      }),
    );
    assert.ok(m.some((x) => x.startsWith('spec.clusterIP: Invalid value: "10.96.0.300"')));
    assert.ok(m.some((x) => x.startsWith('spec.externalIPs[0]: Invalid value: "nope"')));
    assert.ok(m.some((x) => x.startsWith("spec.externalTrafficPolicy: Invalid value")));
    assert.ok(m.some((x) => x.startsWith("spec.loadBalancerSourceRanges: Forbidden")));
    assert.ok(m.some((x) => x.startsWith('spec.ports[0].targetPort: Invalid value: "not_a_name"')));
  });
  it("builds the 422 Status body with one cause per error", () => {
    const errs = validate(svc({ ports: [{ port: 0 }] }));
    const st = invalidStatus("Service", "web", errs);
    assert.equal(st.code, 422);
    assert.equal(st.reason, "Invalid");
    assert.equal(
      st.message,
      'Service "web" is invalid: spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive',
    );
    assert.deepEqual(st.details?.causes, [
      {
        reason: "FieldValueInvalid",
        message: "Invalid value: 0: must be between 1 and 65535, inclusive",
        field: "spec.ports[0].port",
      },
    ]);
    assert.match(
      invalidStatus("Deployment", "d", [...errs, ...errs], "apps").message!,
      /^Deployment\.apps "d" is invalid: \[.*, .*\]$/,
    );
  });
});

describe("Pod and Deployment validation", () => {
  const pod = (spec: Pod["spec"]): Pod => ({
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name: "p", namespace: "default" },
    spec,
  });
  it("requires containers with names and images", () => {
    assert.deepEqual(msgs(pod({ containers: [] })), ["spec.containers: Required value"]);
    assert.deepEqual(msgs(pod({ containers: [{ name: "" }] })), [
      "spec.containers[0].name: Required value",
      "spec.containers[0].image: Required value",
    ]);
  });
  it("rejects a probe with two handlers", () => {
    const m = msgs(
      pod({
        containers: [{ name: "c", image: "i", readinessProbe: { exec: { command: ["x"] }, tcpSocket: { port: 80 } } }],
      }),
    );
    assert.deepEqual(m, ["spec.containers[0].readinessProbe: Forbidden: may not specify more than 1 handler type"]);
  });
  it("rejects a deployment whose selector does not match its template", () => {
    const d: Deployment = {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name: "d", namespace: "default" },
      spec: {
        selector: { matchLabels: { app: "a" } },
        template: { metadata: { labels: { app: "b" } }, spec: { containers: [{ name: "c", image: "i" }] } },
      },
    };
    assert.deepEqual(msgs(d), [
      'spec.template.metadata.labels: Invalid value: {"app":"b"}: `selector` does not match template `labels`',
    ]);
  });
  it("metadata needs a name or generateName, and valid labels", () => {
    const m = validate({ apiVersion: "v1", kind: "ConfigMap", metadata: { labels: { "bad key!": "v" } } }).map(String);
    assert.ok(m.includes("metadata.name: Required value: name or generateName is required"));
    assert.ok(m.some((x) => x.startsWith('metadata.labels: Invalid value: "bad key!"')));
  });
});

describe("defaulting", () => {
  it("defaults a service like the apiserver", () => {
    const s = applyDefaults(svc({ type: "NodePort", sessionAffinity: "ClientIP", ports: [{ port: 80 }] }));
    assert.equal(s.spec.ports![0]!.protocol, "TCP");
    assert.equal(s.spec.ports![0]!.targetPort, 80);
    assert.equal(s.spec.externalTrafficPolicy, "Cluster");
    assert.equal(s.spec.internalTrafficPolicy, "Cluster");
    assert.equal(s.spec.sessionAffinityConfig?.clientIP?.timeoutSeconds, 10800);
  });
  it("defaults a deployment's strategy, replicas and pod template", () => {
    const d = applyDefaults<Deployment>({
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name: "d" },
      spec: {
        selector: { matchLabels: { a: "b" } },
        template: { metadata: { labels: { a: "b" } }, spec: { containers: [{ name: "c", image: "x:1" }] } },
      },
    });
    assert.equal(d.spec.replicas, 1);
    assert.deepEqual(d.spec.strategy, {
      type: "RollingUpdate",
      rollingUpdate: { maxSurge: "25%", maxUnavailable: "25%" },
    });
    assert.equal(d.spec.template.spec.restartPolicy, "Always");
    assert.equal(d.spec.template.spec.containers[0]!.imagePullPolicy, "IfNotPresent");
  });
});
