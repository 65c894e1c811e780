import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import { NetnsScope } from "../../support/netns.js";
import { runs } from "../../support/runs.js";
import {
  type NsProcess,
  ObjectsFile,
  type World,
  client,
  hardNofile,
  makeWorld,
  objectsFor,
  startBackends,
  startProxy,
} from "./support.js";

/** Open fds of a process (the proxy's node process: nsenter execs it, so the child PID is node's). */
function fdCount(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

/** Open fds of the proxy and its worker processes. */
function proxyFds(pid: number): number {
  const children = readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean);
  return fdCount(pid) + children.reduce((n, c) => n + fdCount(Number(c)), 0);
}

describe("userspace mode at scale", () => {
  const scope = new NetnsScope("uk");
  const file = new ObjectsFile();
  let w: World;
  let backends: NsProcess[] = [];
  let proxy: NsProcess | undefined;
  // Each proxied connection costs two fds. A process cannot raise its hard limit here (no CAP_SYS_RESOURCE), so
  // the proxy runs with two worker processes (--proxy-workers 2): they accept on the same sockets (the primary
  // hands its accepting over to them) and the connections' fds are split over two limits. The count is capped
  // (and the cap reported) if even that is short.
  const wanted = runs(10000, 2000);
  const limit = hardNofile();
  const n = Math.min(wanted, limit - 512);

  before(async () => {
    w = await makeWorld(scope, 3);
    backends = await startBackends(w);
    file.write(
      objectsFor([
        { name: "web", clusterIP: "10.96.0.10", port: 80, targetPort: 8080, endpoints: w.backends.map((b) => b.ip) },
      ]),
    );
    proxy = await startProxy(w, file, { metricsAddress: "127.0.0.1:10249", workers: 2 }, limit);
  });

  after(async () => {
    await proxy?.stop();
    await Promise.all(backends.map((b) => b.stop()));
    await scope.cleanup();
    file.remove();
  });

  it(`holds ${n} concurrent connections (asked ${wanted}; fd hard limit ${limit}) and releases every fd`, async (t) => {
    if (n < wanted)
      t.diagnostic(`capped at ${n} connections: the proxy needs 2 fds each and the hard limit is ${limit}`);
    const pid = proxy!.child.pid!;
    const baseline = proxyFds(pid);
    const r = await client<{ ok: number; errors: number; stillOpen: number }>(
      w.client,
      ["hold", "10.96.0.10", "80", String(n)],
      limit,
    );
    assert.equal(r.errors, 0);
    assert.equal(r.ok, n);
    assert.equal(r.stillOpen, n, "no held connection was cut while the others were opened");
    // All closed by the client: the proxy returns to its baseline and still serves.
    for (let i = 0; i < 100 && proxyFds(pid) > baseline + 8; i++) await new Promise((res) => setTimeout(res, 100));
    assert.ok(proxyFds(pid) <= baseline + 8, `proxy fds ${proxyFds(pid)} vs baseline ${baseline}`);
    const after = await client<{ names: string[]; errors: number }>(w.client, ["tcp", "10.96.0.10", "80", "6"]);
    assert.equal(after.errors, 0);
    await new Promise((res) => setTimeout(res, 1200)); // workers report their counters every 500 ms
    const m = await client<{ text: string }>(w.node, ["get", "http://127.0.0.1:10249/metrics"]);
    assert.match(m.text, /podwire_userspace_active_connections\{service="default\/web:p",protocol="tcp"\} 0\b/);
    const total = /podwire_userspace_connections_total\{service="default\/web:p",protocol="tcp"\} (\d+)/.exec(m.text);
    assert.ok(total && Number(total[1]) >= n + 6);
  });
});
