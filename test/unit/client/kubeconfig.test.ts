import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import {
  inClusterConfig,
  KubeconfigError,
  loadKubeconfig,
  resolveClientConfig,
  resourceFor,
  resourcePath,
} from "../../../src/client/index.js";

function withDir(f: (dir: string) => void) {
  const dir = mkdtempSync(join(tmpdir(), "podwire-kc-"));
  try {
    f(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const kc = (server: string, extra = "") => `apiVersion: v1
kind: Config
current-context: main
clusters:
- name: c1
  cluster:
    server: ${server}
    certificate-authority-data: ${Buffer.from("CA-PEM").toString("base64")}
- name: c2
  cluster:
    server: https://other:6443
    certificate-authority: ca.crt
contexts:
- name: main
  context: {cluster: c1, user: admin, namespace: team}
- name: second
  context: {cluster: c2, user: filed}
users:
- name: admin
  user:
    token: tok123
- name: filed
  user:
    client-certificate: sub/client.crt
    client-key-data: ${Buffer.from("KEY").toString("base64")}
${extra}`;

describe("kubeconfig loading", () => {
  it("reads the current context: server, CA data, token, namespace", () =>
    withDir((dir) => {
      const p = join(dir, "config");
      writeFileSync(p, kc("https://127.0.0.1:6443/"));
      const c = loadKubeconfig(p);
      assert.equal(c.server, "https://127.0.0.1:6443");
      assert.equal(c.ca?.toString(), "CA-PEM");
      assert.equal(c.token, "tok123");
      assert.equal(c.namespace, "team");
    }));

  it("resolves file references relative to the kubeconfig and honours --context", () =>
    withDir((dir) => {
      const p = join(dir, "config");
      writeFileSync(p, kc("https://x:1"));
      writeFileSync(join(dir, "ca.crt"), "FILE-CA");
      rmSync(join(dir, "sub"), { force: true, recursive: true });
      require_mkdir(join(dir, "sub"));
      writeFileSync(join(dir, "sub", "client.crt"), "CERT");
      const c = loadKubeconfig(p, { context: "second" });
      assert.equal(c.server, "https://other:6443");
      assert.equal(c.ca?.toString(), "FILE-CA");
      assert.equal(c.cert?.toString(), "CERT");
      assert.equal(c.key?.toString(), "KEY");
      assert.equal(c.namespace, "default");
      assert.throws(() => loadKubeconfig(p, { context: "nope" }), KubeconfigError);
    }));

  it("KUBECONFIG lists several files; the first definition wins and missing files are skipped", () =>
    withDir((dir) => {
      const a = join(dir, "a");
      const b = join(dir, "b");
      writeFileSync(a, "clusters: []\n");
      writeFileSync(b, kc("https://from-b:6443"));
      const c = resolveClientConfig({ env: { KUBECONFIG: `${join(dir, "missing")}:${a}:${b}` } });
      assert.equal(c.server, "https://from-b:6443");
    }));

  it("in-cluster config uses the service-account token file and CA", () =>
    withDir((dir) => {
      writeFileSync(join(dir, "token"), "satoken\n");
      writeFileSync(join(dir, "ca.crt"), "SA-CA");
      writeFileSync(join(dir, "namespace"), "kube-system");
      const c = inClusterConfig({ KUBERNETES_SERVICE_HOST: "10.96.0.1", KUBERNETES_SERVICE_PORT: "443" }, dir);
      assert.equal(c?.server, "https://10.96.0.1:443");
      assert.equal(c?.tokenFile, join(dir, "token"));
      assert.equal(c?.ca?.toString(), "SA-CA");
      assert.equal(c?.namespace, "kube-system");
      assert.equal(inClusterConfig({}, dir), undefined);
    }));
});

describe("resource paths", () => {
  it("maps kinds of core, apps and discovery groups to their URLs", () => {
    assert.equal(resourcePath(resourceFor("Pod"), { namespace: "ns" }), "/api/v1/namespaces/ns/pods");
    assert.equal(resourcePath(resourceFor("Pod")), "/api/v1/pods");
    assert.equal(
      resourcePath(resourceFor("Pod"), { namespace: "ns", name: "p", subresource: "binding" }),
      "/api/v1/namespaces/ns/pods/p/binding",
    );
    assert.equal(resourcePath(resourceFor("Node"), { namespace: "ignored", name: "n1" }), "/api/v1/nodes/n1");
    assert.equal(
      resourcePath(resourceFor("Deployment"), { namespace: "d", name: "x", subresource: "scale" }),
      "/apis/apps/v1/namespaces/d/deployments/x/scale",
    );
    assert.equal(resourcePath(resourceFor("EndpointSlice")), "/apis/discovery.k8s.io/v1/endpointslices");
    assert.throws(() => resourceFor("Widget"));
  });
});

import { mkdirSync } from "node:fs";
function require_mkdir(p: string) {
  mkdirSync(p, { recursive: true });
}
