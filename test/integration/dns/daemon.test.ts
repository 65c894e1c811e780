/**
 * The daemon path end to end: `podwire dns --kubeconfig` against the bundled `podwire server`; a Service created
 * and deleted through the API appears in and disappears from the answers.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import type { Service } from "../../../src/api/index.js";
import { connect } from "../../../src/client/index.js";
import { dig } from "./support.js";

const bin = fileURLToPath(new URL("../../../../bin/podwire", import.meta.url));

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, "127.0.0.1", () => {
      const a = s.address();
      s.close(() => resolve(a && typeof a === "object" ? a.port : 0));
    });
  });
}

async function stop(p: ChildProcess): Promise<number | null> {
  if (p.exitCode !== null || p.signalCode !== null) return p.exitCode;
  p.kill("SIGTERM");
  const t = setTimeout(() => p.kill("SIGKILL"), 10_000);
  const [code] = (await once(p, "exit")) as [number | null];
  clearTimeout(t);
  return code;
}

async function until<T>(f: () => Promise<T>, ok: (v: T) => boolean, tries = 100): Promise<T> {
  let v = await f();
  for (let i = 0; i < tries && !ok(v); i++) {
    await sleep(200);
    v = await f();
  }
  return v;
}

describe("podwire dns --kubeconfig (daemon) against podwire server", () => {
  it("answers from the API and follows Service changes", async () => {
    const dir = mkdtempSync(join(tmpdir(), "podwire-dns-daemon-"));
    const apiPort = await freePort();
    const server = spawn(process.execPath, [bin, "server", "--data-dir", dir, "--listen", `127.0.0.1:${apiPort}`], {
      stdio: ["ignore", "ignore", "ignore"],
    });
    let dns: ChildProcess | undefined;
    try {
      const kubeconfig = join(dir, "admin.kubeconfig");
      // A deadline for a condition: a cold server start has taken over 30 s on the loaded 2-core CI machine.
      for (let i = 0; i < 1200 && !existsSync(kubeconfig); i++) await sleep(100);
      assert.ok(existsSync(kubeconfig), "podwire server wrote its admin kubeconfig");
      dns = spawn(
        process.execPath,
        [bin, "dns", "--kubeconfig", kubeconfig, "--listen", "127.0.0.1:0", "--upstream", "none"],
        {
          stdio: ["ignore", "pipe", "ignore"],
        },
      );
      let out = "";
      const port = await new Promise<number>((resolve, reject) => {
        dns?.stdout?.on("data", (d) => {
          out += d;
          const m = /listening on [^ ]+:(\d+)/.exec(out);
          if (m) resolve(Number(m[1]));
        });
        dns?.once("exit", (c) => reject(new Error(`podwire dns exited ${c}`)));
        // Never wait forever (node --test has no default timeout): fail, and let finally stop both processes.
        setTimeout(() => reject(new Error(`podwire dns did not report listening: ${out}`)), 120_000).unref();
      });
      const first = await until(
        () => dig(port, "kubernetes.default.svc.cluster.local", "A"),
        (r) => r.status === "NOERROR" && r.answer.length > 0,
      );
      assert.equal(first.answer[0]?.type, "A");
      const client = connect({ kubeconfig });
      const svc: Service = {
        apiVersion: "v1",
        kind: "Service",
        metadata: { name: "web", namespace: "default" },
        spec: { ports: [{ name: "http", port: 80, protocol: "TCP" }] },
      };
      const created = await client.create(svc);
      assert.ok(created.ok, "service created");
      const ip = created.ok ? created.value.spec.clusterIP : undefined;
      const a = await until(
        () => dig(port, "web.default.svc.cluster.local", "A"),
        (r) => r.answer.length > 0,
      );
      assert.deepEqual(
        a.answer.map((x) => x.data),
        [ip],
      );
      const srv = await dig(port, "_http._tcp.web.default.svc.cluster.local", "SRV");
      assert.deepEqual(
        srv.answer.map((x) => x.data),
        ["10 100 80 web.default.svc.cluster.local."],
      );
      await client.delete("Service", "default", "web");
      const gone = await until(
        () => dig(port, "web.default.svc.cluster.local", "A"),
        (r) => r.status === "NXDOMAIN",
      );
      assert.equal(gone.status, "NXDOMAIN");
      client.close();
      assert.equal(await stop(dns), 0);
    } finally {
      if (dns) await stop(dns);
      await stop(server);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
