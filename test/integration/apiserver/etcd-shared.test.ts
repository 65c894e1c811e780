/**
 * Two `podwire server` processes on one 3-member etcd cluster: concurrent Service creates through both never share
 * a ClusterIP or NodePort, a watch on one apiserver sees writes made through the other, and the CLI's
 * usage errors / SIGTERM behave as the contracts say.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { request } from "node:https";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { podwireBin, type ServerProcess, startServerProcess } from "../../e2e/kubectl/server-process.js";
import { serverClient } from "../../support/apiserver-client.js";
import { type EtcdCluster, startEtcdCluster } from "./etcd-cluster.js";
import { tokenOf } from "./harness.js";

let etcd: EtcdCluster;
const servers: ServerProcess[] = [];
before(async () => {
  etcd = await startEtcdCluster(3);
  for (let i = 0; i < 2; i++)
    servers.push(
      await startServerProcess([
        "--controllers",
        "none",
        "--storage",
        "etcd",
        "--etcd-endpoints",
        etcd.endpoints.join(","),
      ]),
    );
});
after(async () => {
  for (const s of servers) await s.cleanup();
  await etcd?.stop();
});

function client(srv: ServerProcess) {
  const c = serverClient(srv, 8);
  const { token, ca } = c;
  // biome-ignore lint/suspicious/noExplicitAny: JSON replies
  const call = async (method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> => {
    const r = await c.call(method, path, body);
    return { status: r.status, json: JSON.parse(r.text || "null") };
  };
  // biome-ignore lint/suspicious/noExplicitAny: watch events
  const watch = (path: string, events: any[]) => {
    const r = request(
      { host: "127.0.0.1", port: srv.port, path, headers: { Authorization: `Bearer ${token}` }, ca },
      (res) => {
        let buf = "";
        res.on("data", (c: Buffer) => {
          buf += c.toString();
          for (let i = buf.indexOf("\n"); i >= 0; i = buf.indexOf("\n")) {
            events.push(JSON.parse(buf.slice(0, i)));
            buf = buf.slice(i + 1);
          }
        });
      },
    );
    r.end();
    return () => r.destroy();
  };
  return { call, watch, close: () => c.agent.destroy() };
}

describe("apiservers sharing etcd", () => {
  it("never hand out a ClusterIP or NodePort twice, and see each other's writes", async () => {
    const [a, b] = servers.map(client) as [ReturnType<typeof client>, ReturnType<typeof client>];
    // biome-ignore lint/suspicious/noExplicitAny: watch events
    const seenOnA: any[] = [];
    const rv = (await a.call("GET", "/api/v1/namespaces/default/services")).json.metadata.resourceVersion;
    const stop = a.watch(`/api/v1/namespaces/default/services?watch=true&resourceVersion=${rv}`, seenOnA);
    try {
      const creates = [];
      for (let i = 0; i < 30; i++)
        creates.push(
          (i % 2 ? b : a).call("POST", "/api/v1/namespaces/default/services", {
            metadata: { name: `s${i}` },
            spec: { type: "NodePort", selector: { app: "x" }, ports: [{ port: 80 }] },
          }),
        );
      const results = await Promise.all(creates);
      assert.ok(
        results.every((r) => r.status === 201),
        JSON.stringify(results.filter((r) => r.status !== 201).map((r) => r.json)),
      );
      const list = (await b.call("GET", "/api/v1/namespaces/default/services")).json.items;
      const ips = list.map((s: { spec: { clusterIP: string } }) => s.spec.clusterIP);
      const ports = list.flatMap((s: { spec: { ports: { nodePort?: number }[] } }) =>
        s.spec.ports.map((p) => p.nodePort).filter(Boolean),
      );
      assert.equal(new Set(ips).size, ips.length, "duplicate ClusterIP");
      assert.equal(new Set(ports).size, ports.length, "duplicate NodePort");
      const deadline = Date.now() + 10_000;
      while (seenOnA.filter((e) => e.type === "ADDED").length < 30 && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 50));
      const names = new Set(seenOnA.filter((e) => e.type === "ADDED").map((e) => e.object.metadata.name));
      for (let i = 1; i < 30; i += 2)
        assert.ok(names.has(`s${i}`), `a watch on apiserver A saw s${i} created through B`);
    } finally {
      stop();
      a.close();
      b.close();
    }
  });

  it("`podwire server kubeconfig --node` mints node credentials the running server accepts", async () => {
    const srv = servers[1] as ServerProcess;
    const out = join(srv.dir, "n7.kubeconfig");
    const r = spawnSync(
      process.execPath,
      [podwireBin, "server", "kubeconfig", "--data-dir", join(srv.dir, "data"), "--node", "n7", "--out", out],
      {
        encoding: "utf8",
      },
    );
    assert.equal(r.status, 0, r.stderr);
    const token = tokenOf(out);
    const ca = readFileSync(join(srv.dir, "data", "pki", "ca.crt"), "utf8");
    const post = (name: string) =>
      new Promise<number>((resolve, reject) => {
        const body = JSON.stringify({ metadata: { name } });
        const q = request(
          {
            host: "127.0.0.1",
            port: srv.port,
            method: "POST",
            path: "/api/v1/nodes",
            ca,
            headers: {
              Authorization: `Bearer ${token}`,
              "Content-Type": "application/json",
              "Content-Length": String(Buffer.byteLength(body)),
            },
          },
          (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          },
        );
        q.on("error", reject);
        q.end(body);
      });
    assert.equal(await post("n7"), 201);
    assert.equal(await post("n8"), 403);
  });

  it("usage errors exit 2; SIGTERM with open watches exits 0 within 10 s", async () => {
    const bad = spawnSync(process.execPath, [podwireBin, "server", "--data-dir", "/tmp/x", "--storage", "nope"], {
      encoding: "utf8",
    });
    assert.equal(bad.status, 2, bad.stderr);
    const noEtcd = spawnSync(process.execPath, [podwireBin, "server", "--data-dir", "/tmp/x", "--storage", "etcd"], {
      encoding: "utf8",
    });
    assert.equal(noEtcd.status, 2, noEtcd.stderr);
    const srv = servers[0] as ServerProcess;
    const c = client(srv);
    const stops = [c.watch("/api/v1/pods?watch=true", []), c.watch("/api/v1/namespaces?watch=true", [])];
    await new Promise((r) => setTimeout(r, 300));
    const t0 = Date.now();
    const code = await srv.stop("SIGTERM");
    assert.equal(code, 0);
    assert.ok(Date.now() - t0 < 10_000, `stopped after ${Date.now() - t0} ms`);
    for (const s of stops) s();
    c.close();
  });
});
