/**
 * The kubelet against an in-memory API (FakeClient) with the real process runtime: pods run as processes in
 * their own network namespaces (no CNI here: loopback only), with hostname, resolv.conf, env vars, exec
 * readiness/liveness probes, restart back-off, logs/exec over the kubelet's HTTP server, graceful deletion.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { WebSocket } from "ws";
import type { Node, Pod, Service } from "../../../src/api/core.js";
import { ApiSource } from "../../../src/client/informer.js";
import { FakeClient } from "../../../src/client/fake.js";
import { Kubelet } from "../../../src/kubelet/kubelet.js";
import { LoopbackOnlyNetwork } from "../../../src/kubelet/network.js";
import type { Logger } from "../../../src/kubelet/podworker.js";
import { ProcessRuntime } from "../../../src/kubelet/runtime.js";
import { delNetnsByPrefix, listNetns } from "../../../src/netlinux/netns.js";

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

function pod(name: string, containers: Pod["spec"]["containers"], extra: Partial<Pod["spec"]> = {}): Pod {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { namespace: "default", name },
    spec: { nodeName: "kn1", containers, terminationGracePeriodSeconds: 2, ...extra },
  };
}

describe("kubelet with the process runtime", () => {
  const prefix = `pwk${randomBytes(2).toString("hex")}-`;
  const dir = mkdtempSync(join(tmpdir(), "pwkubelet-"));
  const flag = join(dir, "ready-flag");
  const fake = new FakeClient();
  let kubelet: Kubelet;
  const getPod = (name: string) => fake.peek<Pod>("Pod", "default", name);

  before(async () => {
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
      const r = await fetch(`http://127.0.0.1:${kubelet.port}/containerLogs/default/envpod/main`);
      const t = await r.text();
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
    const r = await fetch(
      `http://127.0.0.1:${kubelet.port}/exec/default/envpod/main?command=sh&command=-c&command=hostname%3B%20exit%203`,
      { method: "POST" },
    );
    assert.equal(await r.text(), "envpod\n");
    assert.equal(r.headers.get("x-exit-code"), "3");
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
    const ws = new WebSocket(`ws://127.0.0.1:${kubelet.port}/exec/default/envpod/main?${q}`, [
      "v5.channel.k8s.io",
      "v4.channel.k8s.io",
    ]);
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

  it("readiness probe drives the Ready condition both ways", async () => {
    await fake.create(
      pod("ready", [
        {
          name: "c",
          image: "x",
          command: ["sleep", "600"],
          readinessProbe: { exec: { command: ["test", "-f", flag] }, periodSeconds: 1, failureThreshold: 1 },
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
          readinessProbe: { exec: { command: ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/8080"] }, periodSeconds: 1 },
        },
      ]),
    );
    await until(
      "netexec ready",
      () => getPod("nx")?.status?.conditions?.find((c) => c.type === "Ready")?.status === "True",
      20_000,
    );
  });

  it("graceful deletion: SIGTERM, sandbox removed, object deleted", async () => {
    const before = listNetns(prefix).length;
    await fake.delete("Pod", "default", "envpod", { gracePeriodSeconds: 2 });
    await until("pod object gone", () => !getPod("envpod"), 15_000);
    await until("pod netns removed", () => listNetns(prefix).length === before - 1);
    assert.equal(existsSync(flag), false);
  });
});
