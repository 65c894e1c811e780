import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Pod, Service } from "../../../src/api/core.js";
import { containerEnv, envVarName, expand, serviceEnvForPod } from "../../../src/kubelet/envvars.js";

function svc(ns: string, name: string, ip: string, ports: Service["spec"]["ports"]): Service {
  return { apiVersion: "v1", kind: "Service", metadata: { namespace: ns, name }, spec: { clusterIP: ip, ports } };
}
function pod(ns: string, extra: Partial<Pod["spec"]> = {}): Pod {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { namespace: ns, name: "p1", uid: "u1" },
    spec: { containers: [{ name: "c" }], nodeName: "n1", ...extra },
  };
}

describe("service environment variables", () => {
  const services = [
    svc("default", "kubernetes", "10.96.0.1", [{ name: "https", port: 443, protocol: "TCP" }]),
    svc("app", "my-web", "10.96.3.4", [
      { name: "http", port: 80, protocol: "TCP" },
      { name: "dns", port: 53, protocol: "UDP" },
    ]),
    svc("app", "headless", "None", [{ port: 80 }]),
    svc("other", "elsewhere", "10.96.9.9", [{ port: 1 }]),
  ];
  it("follows kubelet naming for host, ports and docker-link vars", () => {
    const env = serviceEnvForPod(pod("app"), services);
    assert.equal(env.get("MY_WEB_SERVICE_HOST"), "10.96.3.4");
    assert.equal(env.get("MY_WEB_SERVICE_PORT"), "80");
    assert.equal(env.get("MY_WEB_SERVICE_PORT_HTTP"), "80");
    assert.equal(env.get("MY_WEB_SERVICE_PORT_DNS"), "53");
    assert.equal(env.get("MY_WEB_PORT"), "tcp://10.96.3.4:80");
    assert.equal(env.get("MY_WEB_PORT_53_UDP"), "udp://10.96.3.4:53");
    assert.equal(env.get("MY_WEB_PORT_53_UDP_PROTO"), "udp");
    assert.equal(env.get("MY_WEB_PORT_80_TCP_PORT"), "80");
    assert.equal(env.get("MY_WEB_PORT_80_TCP_ADDR"), "10.96.3.4");
    assert.equal(env.get("KUBERNETES_SERVICE_HOST"), "10.96.0.1", "kubernetes service is always present");
    assert.equal(env.get("KUBERNETES_PORT_443_TCP"), "tcp://10.96.0.1:443");
  });
  it("skips headless services and other namespaces", () => {
    const env = serviceEnvForPod(pod("app"), services);
    assert.equal(env.has("HEADLESS_SERVICE_HOST"), false);
    assert.equal(env.has("ELSEWHERE_SERVICE_HOST"), false);
  });
  it("enableServiceLinks=false keeps only the kubernetes service", () => {
    const env = serviceEnvForPod(pod("app", { enableServiceLinks: false }), services);
    assert.equal(env.has("MY_WEB_SERVICE_HOST"), false);
    assert.equal(env.get("KUBERNETES_SERVICE_HOST"), "10.96.0.1");
  });
  it("names: dashes become underscores, upper case", () => assert.equal(envVarName("a-b-c"), "A_B_C"));
});

describe("$(VAR) expansion and container env", () => {
  it("expands defined names, escapes $$, keeps unknown references", () => {
    const env = new Map([["A", "1"]]);
    assert.equal(expand("x$(A)y$(B)z$$(A)", env), "x1y$(B)z$(A)");
  });
  it("container env resolves fieldRefs and refers to service vars", () => {
    const p = pod("app");
    p.spec.containers[0] = {
      name: "c",
      env: [
        { name: "NAME", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } },
        { name: "IP", valueFrom: { fieldRef: { fieldPath: "status.podIP" } } },
        { name: "URL", value: "http://$(KUBERNETES_SERVICE_HOST):$(KUBERNETES_SERVICE_PORT)/$(NAME)" },
      ],
    };
    const services = [svc("default", "kubernetes", "10.96.0.1", [{ port: 443 }])];
    const env = containerEnv(p, p.spec.containers[0], services, { podIP: "10.244.1.5" });
    assert.equal(env.get("NAME"), "p1");
    assert.equal(env.get("IP"), "10.244.1.5");
    assert.equal(env.get("URL"), "http://10.96.0.1:443/p1");
  });
  it("a missing required configMap key names it", () => {
    const p = pod("app");
    const c = { name: "c", env: [{ name: "X", valueFrom: { configMapKeyRef: { name: "cm", key: "k" } } }] };
    assert.throws(() => containerEnv(p, c, []), /configmap app\/cm key k not found/);
  });
});
