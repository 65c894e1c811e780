/**
 * --kubelet-certificate-authority: with it, pods/log reaches only kubelets whose serving certificate the CA
 * signed (a self-signed kubelet is refused); without it (the default) kubelet certificates are not verified.
 */
import assert from "node:assert/strict";
import { execFile, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, describe, it } from "node:test";
import { configureKubeletClient, kubeletPodLogs } from "../../../src/kubelet/apiproxy.js";
import { ensureKubeletServingCert } from "../../../src/kubelet/pki.js";
import { startKubeletServer } from "../../../src/kubelet/server.js";
import { type Harness, startHarness } from "./harness.js";

const tmp = mkdtempSync(join(tmpdir(), "pw-kubelet-ca-"));
const servers: Server[] = [];
after(() => {
  for (const s of servers) s.close();
  configureKubeletClient({ ca: undefined });
  rmSync(tmp, { recursive: true, force: true });
});

/** A fake kubelet on 127.0.0.1 answering containerLogs with a line naming itself. */
async function fakeKubelet(name: string, cert: { cert: string; key: string }): Promise<number> {
  const s = createServer({ cert: cert.cert, key: cert.key }, (req, res) => {
    res.writeHead(200, { "content-type": "text/plain" });
    res.end(`${name} ${req.url}\n`);
  });
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", () => r()));
  return (s.address() as AddressInfo).port;
}

/** An apiserver whose pods/log goes to the fake kubelet named by the pod's nodeName (all on 127.0.0.1). */
async function apiserver(dataDir: string, ports: Map<string, number>, kubeletCA?: string): Promise<Harness> {
  const h = await startHarness({
    dataDir,
    kubeletCertificateAuthority: kubeletCA,
    podLogs: (pod, container, q, res) =>
      kubeletPodLogs(
        { ...pod, status: { hostIP: "127.0.0.1" } },
        container,
        q,
        res,
        ports.get(pod.spec?.nodeName) ?? 1,
      ),
  });
  for (const node of ports.keys()) {
    const r = await h.req("POST", "/api/v1/namespaces/default/pods", {
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: `on-${node}` },
      spec: { nodeName: node, containers: [{ name: "c", image: "busybox" }] },
    });
    assert.equal(r.status, 201, r.text);
  }
  return h;
}

describe("kubelet certificate authority", () => {
  it("off by default: a self-signed kubelet serves logs; with the CA's PEM only a kubelet it signed does", async () => {
    const dataDir = join(tmp, "server");
    // The first start makes the cluster CA (dataDir/pki) that the signed kubelet cert comes from.
    const ports = new Map<string, number>();
    const selfSigned = ensureKubeletServingCert({ dir: join(tmp, "self"), nodeName: "self", ips: ["127.0.0.1"] });
    ports.set("self", await fakeKubelet("self", selfSigned));
    let h = await apiserver(dataDir, ports);
    try {
      const r = await h.req("GET", "/api/v1/namespaces/default/pods/on-self/log");
      assert.equal(r.status, 200, r.text);
      assert.equal(r.text, "self /containerLogs/default/on-self/c\n");
    } finally {
      await h.close();
    }

    const signed = ensureKubeletServingCert({
      dir: join(tmp, "signed"),
      nodeName: "signed",
      ips: ["127.0.0.1"],
      ca: { certPath: join(dataDir, "pki", "ca.crt"), keyPath: join(dataDir, "pki", "ca.key") },
    });
    ports.set("signed", await fakeKubelet("signed", signed));
    // Signed by the cluster CA but for another address: hostname verification still applies.
    const wrongIP = ensureKubeletServingCert({
      dir: join(tmp, "wrongip"),
      nodeName: "wrongip",
      ips: ["127.0.0.9"],
      ca: { certPath: join(dataDir, "pki", "ca.crt"), keyPath: join(dataDir, "pki", "ca.key") },
    });
    ports.set("wrongip", await fakeKubelet("wrongip", wrongIP));
    h = await apiserver(join(tmp, "server2"), ports, readFileSync(join(dataDir, "pki", "ca.crt"), "utf8"));
    try {
      const ok = await h.req("GET", "/api/v1/namespaces/default/pods/on-signed/log");
      assert.equal(ok.status, 200, ok.text);
      assert.equal(ok.text, "signed /containerLogs/default/on-signed/c\n");
      for (const node of ["self", "wrongip"]) {
        const bad = await h.req("GET", `/api/v1/namespaces/default/pods/on-${node}/log`);
        assert.ok(bad.status >= 500, `${node}: ${bad.status} ${bad.text}`);
        const st = JSON.parse(bad.text) as { kind: string; message: string };
        assert.equal(st.kind, "Status", "the refusal is a Kubernetes Status");
        assert.match(st.message, /tls: failed to verify certificate/, `${node}: says the certificate is not trusted`);
        assert.doesNotMatch(bad.text, new RegExp(`^${node} `), "no log from an unverified kubelet");
        assert.match(bad.text, /certificate|altnames|IP: 127\.0\.0\.1/i, bad.text);
      }
    } finally {
      await h.close();
    }
  });

  it("'cluster' means the apiserver's own CA", async () => {
    const dataDir = join(tmp, "own");
    const ports = new Map<string, number>();
    // ensurePki runs inside startApiServer; issue the kubelet cert after it, from that CA.
    ports.set("late", 1);
    const h = await apiserver(dataDir, ports, "cluster");
    try {
      const signed = ensureKubeletServingCert({
        dir: join(tmp, "late"),
        nodeName: "late",
        ips: ["127.0.0.1"],
        ca: { certPath: h.server.caCertPath as string, keyPath: join(dataDir, "pki", "ca.key") },
      });
      ports.set("late", await fakeKubelet("late", signed));
      const ok = await h.req("GET", "/api/v1/namespaces/default/pods/on-late/log");
      assert.equal(ok.status, 200, ok.text);
      const selfSigned = ensureKubeletServingCert({ dir: join(tmp, "self2"), nodeName: "x", ips: ["127.0.0.1"] });
      ports.set("late", await fakeKubelet("self2", selfSigned));
      const bad = await h.req("GET", "/api/v1/namespaces/default/pods/on-late/log");
      assert.ok(bad.status >= 500, `${bad.status} ${bad.text}`);
      assert.match(bad.text, /certificate/i);
    } finally {
      await h.close();
    }
  });

  it("the apiserver presents its kubelet-client certificate: a kubelet with anonymous auth off serves it logs", async () => {
    const dataDir = join(tmp, "client-cert");
    const ports = new Map<string, number>([
      ["strict", 1],
      ["other", 1],
    ]);
    const h = await apiserver(dataDir, ports, "cluster");
    try {
      const pki = join(dataDir, "pki");
      const clusterCA = readFileSync(join(pki, "ca.crt"), "utf8");
      const clientCrt = readFileSync(join(pki, "apiserver-kubelet-client.crt"), "utf8");
      assert.match(
        spawnSync("openssl", ["x509", "-noout", "-subject", "-ext", "extendedKeyUsage"], {
          input: clientCrt,
          encoding: "utf8",
        }).stdout,
        /CN ?= ?kube-apiserver-kubelet-client[\s\S]*TLS Web Client Authentication/,
        "a clientAuth certificate named like kubeadm's",
      );
      const log = join(tmp, "strict.log");
      writeFileSync(log, "from the strict kubelet\n");
      const backend = { podList: () => ({ items: [] }), logPath: () => log, execTarget: () => undefined };
      const serving = ensureKubeletServingCert({
        dir: join(tmp, "strict"),
        nodeName: "strict",
        ips: ["127.0.0.1"],
        ca: { certPath: join(pki, "ca.crt"), keyPath: join(pki, "ca.key") },
      });
      // Trusts the cluster CA for client certs: the apiserver's kubelet-client cert authenticates it.
      const strict = await startKubeletServer(backend, "127.0.0.1", 0, serving, {
        clientCA: clusterCA,
        anonymous: false,
      });
      servers.push(strict as unknown as Server);
      ports.set("strict", (strict.address() as AddressInfo).port);
      // Trusts another CA only: the apiserver is anonymous to it, and anonymous is off.
      const otherCA = spawnSync(
        "openssl",
        [
          "req",
          "-x509",
          "-newkey",
          "ec",
          "-pkeyopt",
          "ec_paramgen_curve:prime256v1",
          "-nodes",
          "-keyout",
          join(tmp, "o.key"),
          "-subj",
          "/CN=o",
          "-days",
          "1",
          "-out",
          "-",
        ],
        { encoding: "utf8" },
      ).stdout;
      const other = await startKubeletServer(backend, "127.0.0.1", 0, serving, { clientCA: otherCA, anonymous: false });
      servers.push(other as unknown as Server);
      ports.set("other", (other.address() as AddressInfo).port);

      const ok = await h.req("GET", "/api/v1/namespaces/default/pods/on-strict/log");
      assert.equal(ok.status, 200, ok.text);
      assert.equal(ok.text, "from the strict kubelet\n");
      const refused = await h.req("GET", "/api/v1/namespaces/default/pods/on-other/log");
      assert.equal(refused.status, 401, refused.text);
      assert.doesNotMatch(refused.text, /strict kubelet/);
      // The kubelet's plain-text 401 becomes the Status kube-apiserver makes of it, and kubectl prints its reason.
      assert.deepEqual(refused.json, {
        kind: "Status",
        apiVersion: "v1",
        metadata: {},
        status: "Failure",
        message: "the server has asked for the client to provide credentials ( pods/log on-other)",
        reason: "Unauthorized",
        details: { name: "on-other", kind: "pods/log" },
        code: 401,
      });
      // (not spawnSync: the apiserver answering kubectl runs in this process)
      const kubectl = await new Promise<{ code: number | null; stdout: string; stderr: string }>((done) => {
        execFile(
          "kubectl",
          ["--kubeconfig", h.server.kubeconfigPath, "logs", "on-other"],
          { encoding: "utf8", timeout: 30_000 },
          (e, stdout, stderr) => done({ code: e ? (typeof e.code === "number" ? e.code : null) : 0, stdout, stderr }),
        );
      });
      assert.equal(kubectl.code, 1, kubectl.stderr);
      assert.equal(kubectl.stdout, "");
      assert.match(
        kubectl.stderr,
        /^error: You must be logged in to the server \(the server has asked for the client to provide credentials \( pods\/log on-other\)\)$/m,
      );
    } finally {
      await h.close();
    }
  });

  it("podwire server rejects an unreadable or non-PEM --kubelet-certificate-authority with exit 2", () => {
    const notPem = join(tmp, "not.pem");
    writeFileSync(notPem, "hello\n");
    for (const file of [join(tmp, "missing.pem"), notPem]) {
      const r = spawnSync(
        resolve("bin/podwire"),
        ["server", "--data-dir", join(tmp, "cli"), "--kubelet-certificate-authority", file],
        { encoding: "utf8", timeout: 30_000 },
      );
      assert.equal(r.status, 2, r.stderr);
      assert.match(r.stderr, /--kubelet-certificate-authority/);
    }
  });
});
