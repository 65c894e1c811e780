/**
 * Real kubectl → in-process apiserver → kubelet API server (on a random 127/8 address, the kubelet's port 10250):
 * `kubectl exec` (stdout, stdin, exit code) and `kubectl logs` pass through; a kubelet that does not accept the
 * apiserver's client certificate (anonymous auth off, another client CA) answers 401, and kubectl prints the
 * Status the apiserver makes of it instead of a bare "Unauthorized".
 */
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { randomInt } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import type { Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { KUBELET_PORT } from "../../../src/kubelet/apiproxy.js";
import { ensureKubeletServingCert } from "../../../src/kubelet/pki.js";
import { startKubeletServer } from "../../../src/kubelet/server.js";
import { type Harness, startHarness } from "../apiserver/harness.js";

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

describe("kubectl exec / logs through the apiserver to a kubelet", () => {
  const tmp = mkdtempSync(join(tmpdir(), "pw-kexec-"));
  // A loopback address of this test's own (any 127/8 address is on lo): the fixed kubelet port cannot collide.
  const addr = `127.${randomInt(1, 255)}.${randomInt(0, 256)}.${randomInt(1, 255)}`;
  const log = join(tmp, "box.log");
  let h: Harness;
  let kubelet: Server | undefined;
  const backend = {
    podList: () => ({ items: [] }),
    logPath: () => log,
    execTarget: () => ({ spawn: (argv: string[]) => spawn(argv[0] as string, argv.slice(1), { stdio: "pipe" }) }),
  };
  // (not spawnSync: the apiserver answering kubectl runs in this process)
  const kubectl = (args: string[], input?: string) =>
    new Promise<Run>((done) => {
      const child = execFile(
        "kubectl",
        ["--kubeconfig", h.server.kubeconfigPath, ...args],
        { encoding: "utf8", timeout: 60_000 },
        (e, stdout, stderr) => done({ code: e ? (typeof e.code === "number" ? e.code : null) : 0, stdout, stderr }),
      );
      child.stdin?.end(input ?? "");
    });
  const stopKubelet = () =>
    new Promise<void>((r) => {
      if (!kubelet) return r();
      kubelet.close(() => r());
      kubelet.closeAllConnections();
    });
  const startKubelet = async (clientCA: string) => {
    await stopKubelet();
    const serving = ensureKubeletServingCert({
      dir: join(tmp, "kubelet"),
      nodeName: "n1",
      ips: [addr],
      ca: { certPath: h.server.caCertPath as string, keyPath: join(h.dir, "pki", "ca.key") },
    });
    kubelet = await startKubeletServer(backend, addr, KUBELET_PORT, serving, { clientCA, anonymous: false });
  };

  before(async () => {
    writeFileSync(log, "line one\nline two\n");
    h = await startHarness({ dataDir: join(tmp, "server") });
    const created = await h.req("POST", "/api/v1/namespaces/default/pods", {
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: "box" },
      spec: { nodeName: "n1", containers: [{ name: "main", image: "busybox" }] },
    });
    assert.equal(created.status, 201, created.text);
    const st = await h.req(
      "PATCH",
      "/api/v1/namespaces/default/pods/box/status",
      { status: { phase: "Running", hostIP: addr } },
      { contentType: "application/merge-patch+json" },
    );
    assert.equal(st.status, 200, st.text);
  });
  after(async () => {
    await stopKubelet();
    await h?.close();
    rmSync(tmp, { recursive: true, force: true });
  });

  it("a kubelet that trusts the cluster CA serves exec (stdout, stdin, exit code) and logs", async () => {
    await startKubelet(readFileSync(h.server.caCertPath as string, "utf8"));
    const out = await kubectl(["exec", "box", "--", "sh", "-c", "echo hello; echo oops >&2; exit 3"]);
    assert.equal(out.stdout, "hello\n", out.stderr);
    assert.match(out.stderr, /oops/);
    assert.equal(out.code, 3, "kubectl exec returns the command's exit code");
    const echoed = await kubectl(["exec", "-i", "box", "--", "cat"], "ping\n");
    assert.equal(echoed.stdout, "ping\n", echoed.stderr);
    assert.equal(echoed.code, 0);
    const logs = await kubectl(["logs", "box", "--tail=1"]);
    assert.equal(logs.stdout, "line two\n", logs.stderr);
  });

  it("a kubelet that refuses the apiserver (401): kubectl prints the Status, nothing runs", async () => {
    const otherCA = join(tmp, "other");
    writeFileSync(
      otherCA,
      // Any CA but the cluster's: the apiserver's kubelet-client certificate does not chain to it.
      ensureKubeletServingCert({ dir: join(tmp, "stranger"), nodeName: "stranger", ips: [addr] }).cert,
    );
    await startKubelet(readFileSync(otherCA, "utf8"));
    const marker = join(tmp, "ran");
    const ex = await kubectl(["exec", "box", "--", "touch", marker]);
    assert.equal(ex.code, 1, ex.stderr);
    assert.match(
      ex.stderr,
      /^error: You must be logged in to the server \(the server has asked for the client to provide credentials \( pods\/exec box\)\)$/m,
      "kubectl exec shows the apiserver's Status message",
    );
    assert.throws(() => readFileSync(marker), "the refused exec ran nothing");
    const logs = await kubectl(["logs", "box"]);
    assert.equal(logs.code, 1, logs.stderr);
    assert.equal(logs.stdout, "");
    assert.match(
      logs.stderr,
      /^error: You must be logged in to the server \(the server has asked for the client to provide credentials \( pods\/log box\)\)$/m,
    );
  });
});
