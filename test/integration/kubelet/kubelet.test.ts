/**
 * The kubelet against an in-memory API (FakeClient) with the real process runtime: pods run as processes in
 * their own network namespaces (no CNI here: loopback only), with hostname, resolv.conf, env vars (services,
 * ConfigMaps, Secrets, downward API), exec readiness/liveness/startup probes (HTTP and TCP startup probes on
 * hostNetwork pods listening on 127.0.0.1), restart back-off, logs/exec over the kubelet's HTTP server, graceful
 * deletion.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { randomBytes, X509Certificate } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { createServer, type IncomingHttpHeaders } from "node:http";
import { request as httpsRequest } from "node:https";
import { connect as tlsConnect } from "node:tls";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { WebSocket } from "ws";
import type { ConfigMap, ContainerStatus, Node, Pod, Secret, Service } from "../../../src/api/core.js";
import { ApiSource } from "../../../src/client/informer.js";
import { FakeClient } from "../../../src/client/fake.js";
import { configureKubeletClient, kubeletPodLogs, proxyExecUpgrade } from "../../../src/kubelet/apiproxy.js";
import { Kubelet } from "../../../src/kubelet/kubelet.js";
import { ensureKubeletServingCert } from "../../../src/kubelet/pki.js";
import { LoopbackOnlyNetwork } from "../../../src/kubelet/network.js";
import type { Logger } from "../../../src/kubelet/podworker.js";
import { ProcessRuntime } from "../../../src/kubelet/runtime.js";
import { delNetnsByPrefix, listNetns } from "../../../src/netlinux/netns.js";
import { newKey, signCert } from "../../../src/pki/openssl.js";

const quiet: Logger = { info() {}, warn() {}, error() {}, debug() {} };

async function until<T>(
  what: string,
  fn: () => T | undefined | false | Promise<T | undefined | false>,
  ms = 15_000,
): Promise<T> {
  const end = Date.now() + ms;
  let last: unknown;
  while (Date.now() < end) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ""}`);
}

/** A throwaway cluster CA (what `podwire server` keeps in DATA/pki). */
function makeCA(dir: string, name: string): { certPath: string; keyPath: string; cert: string } {
  const keyPath = join(dir, `${name}.key`);
  const certPath = join(dir, `${name}.crt`);
  execFileSync("openssl", ["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", keyPath]);
  execFileSync("openssl", [
    "req",
    "-x509",
    "-new",
    "-key",
    keyPath,
    "-days",
    "1",
    "-subj",
    `/CN=${name}`,
    "-out",
    certPath,
  ]);
  return { certPath, keyPath, cert: readFileSync(certPath, "utf8") };
}

/** A client certificate (clientAuth) signed by `ca`, as the apiserver's kubelet-client cert is. */
function clientCert(
  dir: string,
  name: string,
  ca: { certPath: string; keyPath: string },
): { cert: string; key: string } {
  const keyPath = join(dir, `${name}.key`);
  const certPath = join(dir, `${name}.crt`);
  newKey(keyPath, dir);
  signCert({
    dir,
    keyPath,
    certPath,
    subject: `/O=system:masters/CN=${name}`,
    extensions: "extendedKeyUsage=clientAuth\nkeyUsage=digitalSignature,keyEncipherment\n",
    days: 1,
    ca,
  });
  return { cert: readFileSync(certPath, "utf8"), key: readFileSync(keyPath, "utf8") };
}

function pod(name: string, containers: Pod["spec"]["containers"], extra: Partial<Pod["spec"]> = {}): Pod {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { namespace: "default", name },
    spec: { nodeName: "kn1", containers, terminationGracePeriodSeconds: 2, ...extra },
  };
}

/** The Status kube-apiserver answers when the kubelet refuses it 401 (NewGenericServerResponse for a subresource). */
function assertUnauthorizedStatus(st: Record<string, unknown>, resource: string): void {
  assert.equal(st.kind, "Status");
  assert.equal(st.apiVersion, "v1");
  assert.equal(st.status, "Failure");
  assert.equal(st.reason, "Unauthorized");
  assert.equal(st.code, 401);
  assert.equal(st.message, `the server has asked for the client to provide credentials ( ${resource} envpod)`);
  assert.deepEqual(st.details, { name: "envpod", kind: resource });
}

describe("kubelet with the process runtime", () => {
  const prefix = `pwk${randomBytes(2).toString("hex")}-`;
  const dir = mkdtempSync(join(tmpdir(), "pwkubelet-"));
  const flag = join(dir, "ready-flag");
  const fake = new FakeClient();
  let kubelet: Kubelet;
  const ca = makeCA(dir, "test-cluster-ca");
  /** The apiserver's identity towards kubelets: a client certificate from the cluster CA. */
  const apiClient = clientCert(dir, "kube-apiserver-kubelet-client", ca);
  /**
   * A request to the kubelet API over HTTPS, verifying its certificate with the cluster CA and presenting the
   * apiserver's client certificate (or `as`: another one, or none).
   */
  const kcall = (path: string, method = "GET", as: { cert: string; key: string } | null = apiClient) =>
    new Promise<{ status: number; headers: IncomingHttpHeaders; text: string }>((resolve, reject) => {
      const id = as ? { cert: as.cert, key: as.key } : {};
      const req = httpsRequest({ host: "127.0.0.1", port: kubelet.port, path, method, ca: ca.cert, ...id }, (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (d: string) => {
          text += d;
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
      });
      req.on("error", reject);
      req.end();
    });
  const getPod = (name: string) => fake.peek<Pod>("Pod", "default", name);

  before(async () => {
    const cert = ensureKubeletServingCert({
      dir: join(dir, "pki"),
      nodeName: "kn1",
      ips: ["127.0.0.1"],
      ca: { certPath: ca.certPath, keyPath: ca.keyPath },
    });
    const svc: Service = {
      apiVersion: "v1",
      kind: "Service",
      metadata: { namespace: "default", name: "web-svc" },
      spec: { clusterIP: "10.96.5.5", ports: [{ port: 80, protocol: "TCP" }] },
    };
    fake.seed(svc);
    kubelet = new Kubelet(
      {
        nodeName: "kn1",
        nodeIP: "127.0.0.1",
        rootDir: dir,
        netnsPrefix: prefix,
        clusterDNS: ["10.96.0.10"],
        clusterDomain: "cluster.local",
        port: 0,
        heartbeatMs: 500,
        backoff: { initialMs: 300, maxMs: 1000, resetAfterMs: 60_000 },
        configRetryMs: 300,
        tlsCertFile: cert.certPath,
        tlsPrivateKeyFile: cert.keyPath,
        clientCAFile: ca.certPath,
        anonymousAuth: false,
      },
      fake,
      new ApiSource(fake),
      new ProcessRuntime(),
      new LoopbackOnlyNetwork(),
      quiet,
    );
    await kubelet.start();
  });
  after(async () => {
    await kubelet.stop(true);
    await delNetnsByPrefix(prefix);
    rmSync(dir, { recursive: true, force: true });
  });

  it("registers its Node Ready with capacity from the host", async () => {
    const n = await until("node", () => fake.peek<Node>("Node", undefined, "kn1"));
    assert.equal(n.status?.conditions?.find((c) => c.type === "Ready")?.status, "True", "Ready condition");
    assert.match(n.status?.capacity?.cpu ?? "", /^\d+$/, "cpu capacity");
    assert.match(n.status?.capacity?.memory ?? "", /^\d+Ki$/, "memory capacity");
    assert.deepEqual(n.status?.addresses?.[0], { type: "InternalIP", address: "127.0.0.1" });
  });

  it("runs a pod's container in its own netns with hostname, resolv.conf and service env; logs are served", async () => {
    await fake.create(
      pod("envpod", [
        {
          name: "main",
          image: "busybox",
          command: [
            "sh",
            "-c",
            'hostname; cat /etc/resolv.conf; echo "SVC=$WEB_SVC_SERVICE_HOST:$WEB_SVC_SERVICE_PORT"; echo "X=$X"; sleep 600',
          ],
          env: [{ name: "X", value: "$(WEB_SVC_PORT)" }],
        },
      ]),
    );
    const p = await until("envpod Running", () => getPod("envpod")?.status?.phase === "Running" && getPod("envpod"));
    assert.equal(p.status?.containerStatuses?.[0]?.state?.running !== undefined, true, "container running");
    const log = await until("log output", async () => {
      const t = (await kcall("/containerLogs/default/envpod/main")).text;
      return t.includes("X=") && t;
    });
    assert.match(log, /^envpod$/m, "hostname is the pod name (UTS namespace)");
    assert.match(log, /nameserver 10\.96\.0\.10/, "cluster DNS in resolv.conf");
    assert.match(log, /search default\.svc\.cluster\.local svc\.cluster\.local cluster\.local/, "search path");
    assert.match(log, /options ndots:5/, "ndots");
    assert.match(log, /SVC=10\.96\.5\.5:80/, "service env vars");
    assert.match(log, /X=tcp:\/\/10\.96\.5\.5:80/, "$(VAR) expansion");
    const ns = listNetns(prefix);
    assert.equal(ns.length, 1, "one pod netns");
  });

  it("exec runs in the pod's namespaces (POST fallback)", async () => {
    const r = await kcall("/exec/default/envpod/main?command=sh&command=-c&command=hostname%3B%20exit%203", "POST");
    assert.equal(r.text, "envpod\n");
    assert.equal(r.headers["x-exit-code"], "3");
  });

  it("exec over the v5 channel websocket: stdin, stdout, stderr, exit status (as kubectl speaks it)", async () => {
    const q = new URLSearchParams([
      ["command", "sh"],
      ["command", "-c"],
      ["command", "cat; echo err >&2; exit 4"],
      ["stdin", "1"],
      ["stdout", "1"],
      ["stderr", "1"],
    ]);
    const ws = new WebSocket(
      `wss://127.0.0.1:${kubelet.port}/exec/default/envpod/main?${q}`,
      ["v5.channel.k8s.io", "v4.channel.k8s.io"],
      { ca: ca.cert, cert: apiClient.cert, key: apiClient.key },
    );
    const got: Record<number, string> = { 1: "", 2: "", 3: "" };
    await new Promise<void>((resolve, reject) => {
      ws.on("open", () => {
        assert.equal(ws.protocol, "v5.channel.k8s.io", "negotiated v5");
        ws.send(Buffer.concat([Buffer.from([0]), Buffer.from("hello from stdin\n")]));
        ws.send(Buffer.from([255, 0]));
      });
      ws.on("message", (m: Buffer) => {
        const ch = m[0] ?? 0;
        got[ch] = (got[ch] ?? "") + m.subarray(1).toString();
      });
      ws.on("close", () => resolve());
      ws.on("error", reject);
    });
    assert.equal(got[1], "hello from stdin\n", "stdin echoed on stdout (channel 1)");
    assert.equal(got[2], "err\n", "stderr on channel 2");
    const status = JSON.parse(got[3] ?? "{}");
    assert.equal(status.status, "Failure", "status channel reports failure");
    assert.equal(status.details?.causes?.[0]?.message, "4", "exit code 4 in the status causes");
  });

  it("the kubelet API is HTTPS with the cluster-CA-signed serving cert (CN system:node:kn1, IP SAN); no plain HTTP", async () => {
    const peer = await new Promise<X509Certificate>((resolve, reject) => {
      const s = tlsConnect({ host: "127.0.0.1", port: kubelet.port, ca: ca.cert }, () => {
        const raw = s.getPeerX509Certificate();
        s.end();
        if (raw) resolve(raw);
        else reject(new Error("no peer certificate"));
      });
      s.on("error", reject);
    });
    assert.match(peer.subject, /CN=system:node:kn1/);
    assert.match(peer.subject, /O=system:nodes/);
    assert.match(peer.subjectAltName ?? "", /IP Address:127\.0\.0\.1/);
    assert.equal(peer.verify(new X509Certificate(ca.cert).publicKey), true, "signed by the cluster CA");
    assert.equal((await kcall("/healthz")).text, "ok");
    await assert.rejects(fetch(`http://127.0.0.1:${kubelet.port}/healthz`), "plain HTTP is not served");
  });

  it("anonymous-auth off: no client certificate, or one from another CA → 401 Unauthorized on every path", async () => {
    const other = makeCA(dir, "stranger-ca");
    const stranger = clientCert(dir, "stranger", other);
    for (const as of [null, stranger]) {
      for (const [path, method] of [
        ["/healthz", "GET"],
        ["/pods", "GET"],
        ["/containerLogs/default/envpod/main", "GET"],
        ["/exec/default/envpod/main?command=true", "POST"],
      ] as const) {
        const r = await kcall(path, method, as);
        assert.equal(r.status, 401, `${method} ${path} ${as ? "with a foreign client cert" : "anonymous"}`);
        // The kubelet's own refusal is plain text, as the real kubelet's auth filter writes it; the apiserver makes
        // a Status of it (below).
        assert.equal(r.text, "Unauthorized");
        assert.match(String(r.headers["content-type"]), /^text\/plain/);
      }
    }
    // The exec websocket upgrade is refused the same way, before any process starts.
    const q = new URLSearchParams([
      ["command", "touch"],
      ["command", join(dir, "anon-exec-ran")],
      ["stdout", "1"],
    ]);
    const status = await new Promise<number>((resolve, reject) => {
      const ws = new WebSocket(`wss://127.0.0.1:${kubelet.port}/exec/default/envpod/main?${q}`, ["v5.channel.k8s.io"], {
        ca: ca.cert,
      });
      ws.on("unexpected-response", (_req, res) => resolve(res.statusCode ?? 0));
      ws.on("open", () => reject(new Error("anonymous exec upgrade was accepted")));
      ws.on("error", () => {});
    });
    assert.equal(status, 401, "anonymous exec upgrade");
    assert.equal(existsSync(join(dir, "anon-exec-ran")), false, "the anonymous exec ran nothing");
    // With the cluster CA's client certificate the same calls are served.
    assert.equal((await kcall("/healthz")).status, 200);
    assert.equal((await kcall("/pods")).status, 200);
  });

  it("apiserver side (apiproxy): logs and exec reach the kubelet over TLS, verified with the CA; a wrong CA fails", async () => {
    const podLike = { metadata: { namespace: "default", name: "envpod" }, status: { hostIP: "127.0.0.1" } };
    // A stand-in for the apiserver's pods/log and pods/exec handlers.
    const front = createServer((req, res) => {
      const u = new URL(req.url ?? "/", "http://x");
      void kubeletPodLogs(podLike, "main", u.searchParams, res, kubelet.port);
    });
    front.on("upgrade", (req, socket, head) => {
      const u = new URL(req.url ?? "/", "http://x");
      proxyExecUpgrade(podLike, "main", u.searchParams, req, socket, head, kubelet.port);
    });
    await new Promise<void>((r) => front.listen(0, "127.0.0.1", () => r()));
    const addr = front.address();
    const fport = addr && typeof addr === "object" ? addr.port : 0;
    try {
      configureKubeletClient({ scheme: "https", ca: ca.cert, cert: apiClient.cert, key: apiClient.key });
      const logs = await fetch(`http://127.0.0.1:${fport}/?tailLines=100`);
      assert.equal(logs.status, 200);
      assert.match(await logs.text(), /^envpod$/m, "log text through the proxy");
      const q = new URLSearchParams([
        ["command", "sh"],
        ["command", "-c"],
        ["command", "echo via-proxy; exit 0"],
        ["stdout", "1"],
      ]);
      const ws = new WebSocket(`ws://127.0.0.1:${fport}/?${q}`, ["v5.channel.k8s.io"]);
      let out = "";
      let st = "";
      await new Promise<void>((resolve, reject) => {
        ws.on("message", (m: Buffer) => {
          if (m[0] === 1) out += m.subarray(1).toString();
          if (m[0] === 3) st += m.subarray(1).toString();
        });
        ws.on("close", () => resolve());
        ws.on("error", reject);
      });
      assert.equal(out, "via-proxy\n", "exec stdout through the TLS proxy");
      assert.equal(JSON.parse(st).status, "Success");
      const other = makeCA(dir, "other-ca");
      configureKubeletClient({ ca: other.cert });
      const bad = await fetch(`http://127.0.0.1:${fport}/`);
      assert.equal(bad.status, 502, "a kubelet cert not signed by the configured CA is refused");
      // Without its client certificate the apiserver is anonymous to the kubelet: the kubelet's plain-text 401
      // comes back as the Status kube-apiserver makes of it (what kubectl prints).
      configureKubeletClient({ ca: ca.cert, cert: undefined, key: undefined });
      const anon = await fetch(`http://127.0.0.1:${fport}/`);
      assert.equal(anon.status, 401, "no client certificate: the kubelet's 401 reaches the caller");
      assert.match(anon.headers.get("content-type") ?? "", /^application\/json/);
      assertUnauthorizedStatus((await anon.json()) as Record<string, unknown>, "pods/log");
      // The exec upgrade is refused with the same Status, and nothing runs.
      const refused = new URLSearchParams([
        ["command", "touch"],
        ["command", join(dir, "anon-proxied-exec-ran")],
        ["stdout", "1"],
      ]);
      const up = await new Promise<{ code: number; type: string; body: string }>((resolve, reject) => {
        const ws = new WebSocket(`ws://127.0.0.1:${fport}/?${refused}`, ["v5.channel.k8s.io"]);
        ws.on("unexpected-response", (_req, res) => {
          let body = "";
          res.on("data", (d: Buffer) => {
            body += d.toString();
          });
          res.on("end", () =>
            resolve({ code: res.statusCode ?? 0, type: String(res.headers["content-type"] ?? ""), body }),
          );
        });
        ws.on("open", () => reject(new Error("an exec upgrade the kubelet refused was accepted")));
        ws.on("error", () => {});
      });
      assert.equal(up.code, 401, "exec upgrade refused by the kubelet");
      assert.match(up.type, /^application\/json/);
      assertUnauthorizedStatus(JSON.parse(up.body), "pods/exec");
      assert.equal(existsSync(join(dir, "anon-proxied-exec-ran")), false, "the refused exec ran nothing");
    } finally {
      configureKubeletClient({ scheme: "https", ca: undefined, cert: undefined, key: undefined });
      front.close();
      front.closeAllConnections();
    }
  });

  it("serving cert: self-signed without a CA (as the kubelet makes one), re-issued when the node IP changes", () => {
    const d = join(dir, "selfpki");
    const a = ensureKubeletServingCert({ dir: d, nodeName: "n9", ips: ["198.18.0.9"] });
    const x = new X509Certificate(a.cert);
    assert.match(x.subject, /CN=n9@\d+/);
    assert.equal(x.checkIssued(x), true, "self-issued");
    assert.match(x.subjectAltName ?? "", /IP Address:198\.18\.0\.9/);
    assert.match(x.subjectAltName ?? "", /DNS:n9/);
    assert.equal(ensureKubeletServingCert({ dir: d, nodeName: "n9", ips: ["198.18.0.9"] }).cert, a.cert, "kept");
    const b = ensureKubeletServingCert({ dir: d, nodeName: "n9", ips: ["198.18.0.10"] });
    assert.notEqual(b.cert, a.cert);
    assert.match(new X509Certificate(b.cert).subjectAltName ?? "", /IP Address:198\.18\.0\.10/);
  });

  it("readiness probe drives the Ready condition both ways", async () => {
    await fake.create(
      pod("ready", [
        {
          name: "c",
          image: "x",
          command: ["sleep", "600"],
          // timeoutSeconds: exec probes that must pass get 10 s, not the default 1 s a loaded CI machine can exceed.
          readinessProbe: {
            exec: { command: ["test", "-f", flag] },
            periodSeconds: 1,
            failureThreshold: 1,
            timeoutSeconds: 10,
          },
        },
      ]),
    );
    const ready = (v: string) => () =>
      getPod("ready")?.status?.conditions?.find((c) => c.type === "Ready")?.status === v;
    await until("Running not ready", () => getPod("ready")?.status?.phase === "Running" && ready("False")());
    writeFileSync(flag, "");
    await until("Ready=True after the probe passes", ready("True"));
    unlinkSync(flag);
    await until("Ready=False after the probe fails", ready("False"));
  });

  it("restartPolicy Always restarts a crashing container with back-off and counts restarts", async () => {
    await fake.create(pod("crash", [{ name: "c", image: "x", command: ["sh", "-c", "echo run; exit 2"] }]));
    const p = await until(
      "two restarts",
      () => (getPod("crash")?.status?.containerStatuses?.[0]?.restartCount ?? 0) >= 2 && getPod("crash"),
      20_000,
    );
    const cs = p.status?.containerStatuses?.[0];
    assert.equal(cs?.lastState?.terminated?.exitCode, 2, "last exit code");
    assert.equal(p.status?.phase, "Running");
  });

  it("restartPolicy Never: exit 0 → Succeeded", async () => {
    await fake.create(pod("job", [{ name: "c", image: "x", command: ["true"] }], { restartPolicy: "Never" }));
    await until("Succeeded", () => getPod("job")?.status?.phase === "Succeeded");
  });

  it("liveness failure restarts the container", async () => {
    await fake.create(
      pod("live", [
        {
          name: "c",
          image: "x",
          command: ["sleep", "600"],
          livenessProbe: {
            exec: { command: ["false"] },
            periodSeconds: 1,
            failureThreshold: 2,
            terminationGracePeriodSeconds: 1,
          },
        },
      ]),
    );
    await until(
      "restarted by liveness",
      () => (getPod("live")?.status?.containerStatuses?.[0]?.restartCount ?? 0) >= 1,
      20_000,
    );
  });

  it("unknown image without command → ErrImagePull saying why", async () => {
    await fake.create(pod("noimg", [{ name: "c", image: "nginx:1.27" }]));
    const w = await until("waiting reason", () => getPod("noimg")?.status?.containerStatuses?.[0]?.state?.waiting);
    assert.equal(w.reason, "ErrImagePull");
    assert.match(w.message ?? "", /not a built-in image/);
  });

  it("built-in netexec runs and answers inside the pod", async () => {
    await fake.create(
      pod("nx", [
        {
          name: "c",
          image: "registry.k8s.io/e2e-test-images/agnhost:2.47",
          args: ["netexec", "--http-port=8080"],
          // timeoutSeconds 10, not the default 1: under CI load (nsenter + bash start-up) a passing probe can take
          // over a second, and a probe that always times out would never make the pod Ready.
          readinessProbe: {
            exec: { command: ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/8080"] },
            periodSeconds: 1,
            timeoutSeconds: 10,
          },
        },
      ]),
    );
    await until(
      "netexec ready",
      () => getPod("nx")?.status?.conditions?.find((c) => c.type === "Ready")?.status === "True",
      60_000,
    );
  });

  const logOf = async (name: string) => (await kcall(`/containerLogs/default/${name}/c`)).text;
  const status = (name: string): ContainerStatus | undefined => getPod(name)?.status?.containerStatuses?.[0];
  /** Events the kubelet recorded about a pod: "Reason: message" lines. */
  const eventsOf = async (name: string) => {
    const r = await fake.list("Event", { namespace: "default" });
    assert.ok(r.ok);
    return r.value.items
      .filter((e) => e.involvedObject.name === name && e.source?.component === "kubelet")
      .map((e) => `${e.reason}: ${e.message}`);
  };
  const readyCond = (name: string) => getPod(name)?.status?.conditions?.find((c) => c.type === "Ready")?.status;

  it("env from a ConfigMap (envFrom with prefix), a Secret (secretKeyRef), fieldRefs; $(VAR) in env and args", async () => {
    const cm: ConfigMap = {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { namespace: "default", name: "app-config" },
      data: { LEVEL: "debug", greeting: "hello" },
    };
    const secret: Secret = {
      apiVersion: "v1",
      kind: "Secret",
      metadata: { namespace: "default", name: "app-secret" },
      data: { password: Buffer.from("pw-1 2").toString("base64") },
    };
    await fake.create(cm);
    await fake.create(secret);
    const p = pod("cfgpod", [
      {
        name: "c",
        image: "busybox",
        command: ["sh", "-c", 'echo "ARG=$1"; env | sort; sleep 600', "sh"],
        args: ["$(CFG_greeting)-$(POD)-$$(POD)-$(UNDEFINED)"],
        envFrom: [{ prefix: "CFG_", configMapRef: { name: "app-config" } }],
        env: [
          { name: "PASS", valueFrom: { secretKeyRef: { name: "app-secret", key: "password" } } },
          { name: "POD", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } },
          { name: "APP", valueFrom: { fieldRef: { fieldPath: "metadata.labels['app']" } } },
          { name: "NODE", valueFrom: { fieldRef: { fieldPath: "spec.nodeName" } } },
          { name: "HOST_IP", valueFrom: { fieldRef: { fieldPath: "status.hostIP" } } },
          { name: "MSG", value: "$(CFG_LEVEL)@$(WEB_SVC_SERVICE_HOST)" },
          { name: "OPT", valueFrom: { configMapKeyRef: { name: "no-such-cm", key: "k", optional: true } } },
        ],
      },
    ]);
    p.metadata.labels = { app: "shop" };
    await fake.create(p);
    const log = await until("cfgpod env in its log", async () => {
      const t = await logOf("cfgpod");
      return t.includes("PASS=") && t;
    });
    assert.match(
      log,
      /^ARG=hello-cfgpod-\$\(POD\)-\$\(UNDEFINED\)$/m,
      "args: defined expanded, $$ escaped, unknown kept",
    );
    assert.match(log, /^CFG_LEVEL=debug$/m, "envFrom ConfigMap with prefix");
    assert.match(log, /^PASS=pw-1 2$/m, "secretKeyRef decoded");
    assert.match(log, /^POD=cfgpod$/m, "fieldRef metadata.name");
    assert.match(log, /^APP=shop$/m, "fieldRef label");
    assert.match(log, /^NODE=kn1$/m, "fieldRef spec.nodeName");
    assert.match(log, /^HOST_IP=127\.0\.0\.1$/m, "fieldRef status.hostIP");
    assert.match(log, /^MSG=debug@10\.96\.5\.5$/m, "value expands envFrom and service vars");
    assert.doesNotMatch(log, /^OPT=/m, "optional ref to a missing ConfigMap is skipped");
  });

  it("a missing ConfigMap/key → CreateContainerConfigError with the kubelet's message, started once it exists", async () => {
    await fake.create(
      pod("needcm", [
        {
          name: "c",
          image: "x",
          command: ["sh", "-c", 'echo "K=$K"; sleep 600'],
          env: [{ name: "K", valueFrom: { configMapKeyRef: { name: "late", key: "k" } } }],
        },
      ]),
    );
    const w1 = await until("waiting on the ConfigMap", () => status("needcm")?.state?.waiting);
    assert.equal(w1.reason, "CreateContainerConfigError");
    assert.equal(w1.message, 'configmap "late" not found');
    assert.ok((await eventsOf("needcm")).includes('Failed: Error: configmap "late" not found'), "Failed event");
    assert.equal(getPod("needcm")?.status?.phase, "Pending");
    const cm: ConfigMap = { apiVersion: "v1", kind: "ConfigMap", metadata: { namespace: "default", name: "late" } };
    cm.data = { other: "1" };
    await fake.create(cm);
    const w2 = await until(
      "waiting on the key",
      () => status("needcm")?.state?.waiting?.message?.startsWith("couldn't") && status("needcm")?.state?.waiting,
    );
    assert.equal(w2.message, "couldn't find key k in ConfigMap default/late");
    const cur = fake.peek<ConfigMap>("ConfigMap", "default", "late");
    assert.ok(cur);
    await fake.update({ ...cur, data: { k: "finally" } });
    await until("running once the key exists", () => status("needcm")?.state?.running);
    assert.equal(status("needcm")?.restartCount, 0, "a config error is not a restart");
    await until("log shows the value", async () => (await logOf("needcm")).includes("K=finally"));
  });

  it("startupProbe (exec) holds liveness and readiness back until it succeeds; Started follows it", async () => {
    const startFlag = join(dir, "started-flag");
    await fake.create(
      pod("startgate", [
        {
          name: "c",
          image: "x",
          command: ["sleep", "600"],
          startupProbe: {
            exec: { command: ["test", "-f", startFlag] },
            periodSeconds: 1,
            failureThreshold: 60,
            timeoutSeconds: 10,
          },
          // Would kill the container within ~1 s if it ran before the startup probe passed.
          livenessProbe: {
            exec: { command: ["test", "-f", startFlag] },
            periodSeconds: 1,
            failureThreshold: 1,
            timeoutSeconds: 10,
          },
          readinessProbe: { exec: { command: ["true"] }, periodSeconds: 1, timeoutSeconds: 10 },
        },
      ]),
    );
    await until("running", () => status("startgate")?.state?.running);
    await new Promise((r) => setTimeout(r, 2500));
    const s = status("startgate");
    assert.equal(s?.started, false, "not started while the startup probe fails");
    assert.equal(s?.ready, false, "not ready before started (readiness probe held back)");
    assert.equal(readyCond("startgate"), "False");
    assert.equal(s?.restartCount, 0, "liveness did not run before startup");
    writeFileSync(startFlag, "");
    await until("Started=true", () => status("startgate")?.started === true);
    await until("Ready after startup (readiness now runs)", () => readyCond("startgate") === "True");
    // Now liveness runs: remove what it checks and it restarts the container; Started resets with it.
    unlinkSync(startFlag);
    await until("restarted by liveness", () => (status("startgate")?.restartCount ?? 0) >= 1, 20_000);
    await until("not started again while its startup probe fails", () => status("startgate")?.started === false);
  });

  it("startupProbe failing failureThreshold times kills and restarts the container (restartPolicy Always)", async () => {
    await fake.create(
      pod("startfail", [
        {
          name: "c",
          image: "x",
          command: ["sleep", "600"],
          startupProbe: {
            exec: { command: ["sh", "-c", "echo not yet; exit 1"] },
            periodSeconds: 1,
            failureThreshold: 2,
            timeoutSeconds: 10, // fails by exit 1 (the event text below), not by a timeout under load
            terminationGracePeriodSeconds: 1,
          },
        },
      ]),
    );
    const s = await until(
      "restarted",
      () => ((status("startfail")?.restartCount ?? 0) >= 1 ? status("startfail") : undefined),
      20_000,
    );
    const t = s.lastState?.terminated;
    assert.ok(t, "last state terminated");
    assert.equal(t.exitCode, 143, "SIGTERM exit (sleep ends on SIGTERM)");
    const evs = await eventsOf("startfail");
    assert.ok(evs.includes("Unhealthy: Startup probe failed: command exited 1: not yet"), evs.join("\n"));
    assert.ok(evs.includes("Killing: Container c failed startup probe, will be restarted"), evs.join("\n"));
    assert.ok(evs.includes("Started: Started container c"), evs.join("\n"));
    assert.equal(s.started, false);
    assert.equal(getPod("startfail")?.status?.phase, "Running");
  });

  it("startupProbe failure with restartPolicy Never: killed, not restarted → Failed", async () => {
    await fake.create(
      pod(
        "startnever",
        [
          {
            name: "c",
            image: "x",
            command: ["sleep", "600"],
            startupProbe: { exec: { command: ["false"] }, periodSeconds: 1, failureThreshold: 2 },
          },
        ],
        { restartPolicy: "Never", terminationGracePeriodSeconds: 1 },
      ),
    );
    await until("Failed", () => getPod("startnever")?.status?.phase === "Failed", 20_000);
    const s = status("startnever");
    assert.equal(s?.restartCount, 0);
    assert.match(s?.state?.terminated?.message ?? "", /^Container c failed startup probe: /);
  });

  /**
   * A hostNetwork pod (so the kubelet reaches it on 127.0.0.1) that starts listening once the file `gate` exists
   * (at once without one). A gate, not a timer: under load the kubelet's "running" status can come later than any
   * fixed delay, and the test must see it before the port answers.
   */
  const lateListener = (
    name: string,
    port: number,
    gate: string | undefined,
    probe: Pod["spec"]["containers"][0]["startupProbe"],
  ) =>
    pod(
      name,
      [
        {
          name: "c",
          image: "x",
          command: [
            process.execPath,
            "-e",
            `const listen = () => require("http").createServer((q, r) => { r.statusCode = q.url === "/ok" ? 200 : 500; r.end(); }).listen(${port}, "127.0.0.1");
            const gate = ${JSON.stringify(gate ?? "")};
            const t = setInterval(() => { if (!gate || require("fs").existsSync(gate)) { clearInterval(t); listen(); } }, 50);`,
          ],
          startupProbe: probe,
        },
      ],
      { hostNetwork: true },
    );
  /** A port free on 127.0.0.1 a moment ago (bound to 0 and released). */
  const freePort = () =>
    new Promise<number>((resolve, reject) => {
      const srv = createServer();
      srv.on("error", reject);
      srv.listen(0, "127.0.0.1", () => {
        const a = srv.address();
        srv.close(() => resolve(a && typeof a === "object" ? a.port : 0));
      });
    });

  for (const handler of ["httpGet", "tcpSocket"] as const) {
    it(`startupProbe ${handler}: Started stays false until the port answers, then the pod becomes Ready`, async () => {
      const port = await freePort();
      const name = `start${handler.toLowerCase()}`;
      const probe =
        handler === "httpGet"
          ? { httpGet: { path: "/ok", port }, periodSeconds: 1, failureThreshold: 30 }
          : { tcpSocket: { port }, periodSeconds: 1, failureThreshold: 30 };
      const gate = join(dir, `${name}-listen`);
      await fake.create(lateListener(name, port, gate, probe));
      await until("running, not started", () => status(name)?.state?.running && status(name)?.started === false);
      assert.equal(readyCond(name), "False");
      writeFileSync(gate, "");
      await until("started", () => status(name)?.started === true, 20_000);
      await until("Ready", () => readyCond(name) === "True");
      assert.equal(status(name)?.restartCount, 0);
    });
  }

  it("startupProbe httpGet: a non-2xx/3xx answer counts as failure (restart after failureThreshold)", async () => {
    const port = await freePort();
    await fake.create(
      lateListener("starthttp500", port, undefined, {
        httpGet: { path: "/bad", port },
        periodSeconds: 1,
        failureThreshold: 2,
        terminationGracePeriodSeconds: 1,
      }),
    );
    await until("restarted", () => (status("starthttp500")?.restartCount ?? 0) >= 1, 20_000);
    assert.match(
      status("starthttp500")?.lastState?.terminated?.message ?? "",
      /failed startup probe, will be restarted: HTTP probe failed with statuscode: 500/,
    );
  });

  it("init containers run in order to completion (a failing one retried) before the app containers", async () => {
    const once = join(dir, "init2-failed-once");
    // init1 runs until the test has seen it running (a gate file, not a fixed sleep that a slow status update can miss).
    const init1Gate = join(dir, "init1-may-finish");
    await fake.create(
      pod("initpod", [{ name: "c", image: "x", command: ["sh", "-c", `echo app-sees-$(cat ${once}); sleep 600`] }], {
        initContainers: [
          {
            name: "init1",
            image: "x",
            command: ["sh", "-c", `echo one; while [ ! -f ${init1Gate} ]; do sleep 0.1; done`],
          },
          {
            name: "init2",
            image: "x",
            command: ["sh", "-c", `if [ -f ${once} ]; then exit 0; fi; echo marker > ${once}; exit 1`],
          },
        ],
      }),
    );
    const cond = (t: string) => getPod("initpod")?.status?.conditions?.find((c) => c.type === t);
    await until("initializing", () => getPod("initpod")?.status?.initContainerStatuses?.[0]?.state?.running);
    const pending = getPod("initpod");
    assert.equal(pending?.status?.phase, "Pending");
    assert.equal(cond("Initialized")?.status, "False");
    assert.equal(cond("Initialized")?.message, "containers with incomplete status: [init1 init2]");
    assert.equal(pending?.status?.containerStatuses?.[0]?.state?.waiting?.reason, "PodInitializing");
    writeFileSync(init1Gate, "");
    await until("Running after init", () => getPod("initpod")?.status?.phase === "Running", 30_000);
    const st = getPod("initpod")?.status;
    const [i1, i2] = st?.initContainerStatuses ?? [];
    assert.equal(i1?.state?.terminated?.reason, "Completed");
    assert.equal(i1?.ready, true, "a completed init container is ready");
    assert.equal(i1?.restartCount, 0);
    assert.equal(i2?.restartCount, 1, "the failing init container was run again");
    assert.equal(i2?.lastState?.terminated?.exitCode, 1);
    assert.equal(i2?.state?.terminated?.exitCode, 0);
    assert.equal(cond("Initialized")?.status, "True");
    await until("app ran after init2", async () => (await logOf("initpod")).includes("app-sees-marker"));
    assert.match((await kcall("/containerLogs/default/initpod/init1")).text, /^one$/m, "init container logs");
  });

  it("init container failure with restartPolicy Never → Failed, app container never started", async () => {
    await fake.create(
      pod("initnever", [{ name: "c", image: "x", command: ["sleep", "600"] }], {
        restartPolicy: "Never",
        initContainers: [{ name: "boom", image: "x", command: ["sh", "-c", "exit 3"] }],
      }),
    );
    await until("Failed", () => getPod("initnever")?.status?.phase === "Failed");
    const st = getPod("initnever")?.status;
    assert.equal(st?.initContainerStatuses?.[0]?.state?.terminated?.exitCode, 3);
    assert.equal(st?.containerStatuses?.[0]?.state?.waiting?.reason, "PodInitializing");
    assert.equal(st?.containerStatuses?.[0]?.restartCount, 0);
  });

  it("graceful deletion: SIGTERM, sandbox removed, object deleted", async () => {
    const uid = getPod("envpod")?.metadata.uid ?? "";
    // The kubelet names a pod's netns prefix + the first 12 hex digits of its uid. Watch that one: a count of all
    // netns can also move because another test's pod is being torn down at the same time.
    const own = `${prefix}${uid.replace(/-/g, "").slice(0, 12)}`;
    assert.ok(uid && listNetns(prefix).includes(own), `envpod's netns ${own} exists`);
    await fake.delete("Pod", "default", "envpod", { gracePeriodSeconds: 2 });
    await until("pod object gone", () => !getPod("envpod"), 15_000);
    await until("pod netns removed", () => !listNetns(prefix).includes(own));
    assert.equal(existsSync(flag), false);
  });
});
