/**
 * `podwire server`'s controller flags and logging: --node-monitor-grace-period and --pod-eviction-timeout reach
 * the node lifecycle controller (a node whose heartbeat stops goes Unknown after the grace period, its pod is
 * evicted after the timeout), the controllers log through the server's JSON log stream, and bad durations are
 * usage errors (exit 2).
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { after, before, describe, it } from "node:test";
import type { Node, Pod } from "../../../src/api/index.js";
import { parseDuration } from "../../../src/cli/commands/server.js";
import { connect, type KubeClient } from "../../../src/client/index.js";
import { podwireBin, type ServerProcess, startServerProcess } from "../../e2e/kubectl/server-process.js";

async function until<T>(f: () => Promise<T | undefined | false>, what: string, ms = 30_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe("podwire server controller flags", () => {
  let srv: ServerProcess;
  let c: KubeClient;
  before(async () => {
    srv = await startServerProcess([
      "--controllers",
      "nodelifecycle",
      "--node-monitor-grace-period",
      "3s",
      "--pod-eviction-timeout",
      "2s",
    ]);
    c = connect({ kubeconfig: srv.kubeconfig });
  });
  after(async () => {
    c?.close();
    await srv?.cleanup();
  });

  it("parses Go durations as kube-controller-manager does", () => {
    assert.equal(parseDuration("--x", "40s"), 40);
    assert.equal(parseDuration("--x", "5m0s"), 300);
    assert.equal(parseDuration("--x", "1m30s"), 90);
    assert.equal(parseDuration("--x", "1h"), 3600);
    assert.equal(parseDuration("--x", "500ms"), 0.5);
    assert.equal(parseDuration("--x", "0"), 0);
    for (const bad of ["", "40", "s", "4 0s", "40sx", "-1s"]) assert.throws(() => parseDuration("--x", bad), bad);
  });

  it("a silent node goes Unknown after the grace period and its pod is evicted after the timeout; both logged", async () => {
    const now = new Date().toISOString().replace(/\.\d+Z$/, "Z");
    const n = await c.create<Node>({ apiVersion: "v1", kind: "Node", metadata: { name: "quiet" }, spec: {} });
    assert.ok(n.ok, n.ok ? "" : n.error.message);
    // The controller may touch the fresh node (no heartbeat yet) first: retry on a conflict like a kubelet.
    await until(async () => {
      const cur = await c.get("Node", undefined, "quiet");
      if (!cur.ok) return false;
      const s = await c.updateStatus<Node>({
        ...cur.value,
        status: { conditions: [{ type: "Ready", status: "True", lastHeartbeatTime: now, lastTransitionTime: now }] },
      });
      return s.ok;
    }, "heartbeat posted");
    const p = await c.create<Pod>({
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: "on-quiet", namespace: "default" },
      spec: { nodeName: "quiet", containers: [{ name: "c", image: "pause" }] },
    });
    assert.ok(p.ok, p.ok ? "" : p.error.message);
    const t0 = Date.now();
    await until(async () => {
      const g = await c.get("Node", undefined, "quiet");
      return g.ok && g.value.status?.conditions?.find((x) => x.type === "Ready")?.status === "Unknown";
    }, "node Unknown");
    // The monitor looks every 5 s: Unknown comes after 3 s of silence, well before the 50 s default.
    assert.ok(Date.now() - t0 < 20_000, `Unknown after ${Date.now() - t0} ms`);
    await until(async () => {
      const g = await c.get("Pod", "default", "on-quiet");
      return (!g.ok && g.error.status.code === 404) || (g.ok && !!g.value.metadata.deletionTimestamp);
    }, "pod evicted");
    await until(async () => srv.log().includes("node stopped posting status"), "the controller's log line");
    const line = srv
      .log()
      .split("\n")
      .find((l) => l.includes("node stopped posting status"));
    const rec = JSON.parse(line ?? "{}") as { component?: string; node?: string; level?: number };
    assert.equal(rec.component, "controller-manager");
    assert.equal(rec.node, "quiet");
  });

  it("rejects bad durations with exit 2", () => {
    for (const args of [
      ["--node-monitor-grace-period", "forty"],
      ["--pod-eviction-timeout", "5x"],
      ["--log-level", "loud"],
    ]) {
      const r = spawnSync(process.execPath, [podwireBin, "server", "--data-dir", "/tmp/pw-never-made", ...args], {
        encoding: "utf8",
      });
      assert.equal(r.status, 2, `${args.join(" ")}: ${r.stderr}`);
    }
  });
});
