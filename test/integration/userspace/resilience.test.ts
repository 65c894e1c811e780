import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { runIn } from "../../../src/netlinux/netns.js";
import { NetnsScope } from "../../support/netns.js";
import {
  type NsProcess,
  ObjectsFile,
  type SvcSpec,
  type World,
  client,
  countBy,
  makeWorld,
  objectsFor,
  startBackends,
  startProxy,
  synced,
} from "./support.js";

interface LoopResult {
  count: number;
  byName: Record<string, number>;
  errors: number;
  errorSamples: string[];
}

describe("userspace mode: affinity, failover, endpoint churn", () => {
  const scope = new NetnsScope("ur");
  const file = new ObjectsFile();
  let w: World;
  let backends: NsProcess[] = [];
  let proxy: NsProcess | undefined;
  let ips: string[];
  let gen = 1;
  const svc = (over: Partial<SvcSpec> = {}): SvcSpec => ({
    name: "web",
    clusterIP: "10.96.0.10",
    port: 80,
    targetPort: 8080,
    endpoints: ips,
    ...over,
  });
  const sticky = (): SvcSpec => ({ ...svc(), name: "sticky", clusterIP: "10.96.0.20", affinitySeconds: 60 });
  async function apply(svcs: SvcSpec[]): Promise<void> {
    file.write(objectsFor(svcs));
    await synced(proxy!, ++gen);
  }

  before(async () => {
    w = await makeWorld(scope, 3);
    backends = await startBackends(w);
    ips = w.backends.map((b) => b.ip);
    file.write(objectsFor([svc(), sticky()]));
    proxy = await startProxy(w, file, { metricsAddress: "127.0.0.1:10249" });
  });

  after(async () => {
    await proxy?.stop();
    await Promise.all(backends.map((b) => b.stop()));
    await scope.cleanup();
    file.remove();
  });

  it("ClientIP affinity keeps one client on one backend; without it the same client is spread", async () => {
    const s = await client<{ names: string[]; errors: number }>(w.client, ["tcp", "10.96.0.20", "80", "12"]);
    assert.equal(s.errors, 0);
    assert.equal(new Set(s.names).size, 1);
    const r = await client<{ names: string[]; errors: number }>(w.client, ["tcp", "10.96.0.10", "80", "12"]);
    assert.equal(new Set(r.names).size, 3);
  });

  it("affinity moves to a live backend when the sticky one stops answering SYNs (dial timeout, reset)", async () => {
    const first = await client<{ names: string[] }>(w.client, ["tcp", "10.96.0.20", "80", "1"]);
    const idx = Number(first.names[0]!.slice(1));
    const victim = w.backends[idx]!;
    await runIn(victim.ns, "iptables", ["-w", "-A", "INPUT", "-p", "tcp", "--dport", "8080", "-j", "DROP"]);
    try {
      const s = await client<{ names: string[]; errors: number }>(w.client, ["tcp", "10.96.0.20", "80", "6"]);
      assert.equal(s.errors, 0);
      assert.ok(!s.names.includes(victim.name), JSON.stringify(s.names));
      assert.equal(new Set(s.names).size, 1, "the new choice sticks");
    } finally {
      await runIn(victim.ns, "iptables", ["-w", "-D", "INPUT", "-p", "tcp", "--dport", "8080", "-j", "DROP"]);
    }
  });

  it("endpoint churn under load fails no request and cuts no established connection", async () => {
    const load = client<LoopResult>(w.client, ["loop", "10.96.0.10", "80", "4000", "4"]);
    const held = client<{ sent: number; answered: number; names: string[]; error: string }>(w.client, [
      "persist",
      "10.96.0.10",
      "80",
      "4000",
    ]);
    // b0 stays; b1 and b2 come and go (they keep running, like terminating pods still serving).
    const sets = [[ips[0]!, ips[1]!], [ips[0]!], [ips[0]!, ips[2]!], ips, [ips[0]!, ips[1]!]];
    for (const eps of sets) {
      await new Promise((r) => setTimeout(r, 300));
      await apply([svc({ endpoints: eps }), sticky()]);
    }
    const [r, h] = await Promise.all([load, held]);
    assert.equal(r.errors, 0, JSON.stringify(r.errorSamples));
    // The loops run for a fixed time; on a loaded machine they get through far fewer requests than when idle.
    assert.ok(r.count > 10, `only ${r.count} requests`);
    assert.ok((r.byName.b0 ?? 0) > 0);
    assert.equal(h.error, "");
    assert.ok(h.sent > 5, `only ${h.sent} messages on the held connection`);
    assert.equal(h.answered, h.sent, "the held connection got every answer");
  });

  it("fails over when a backend process dies mid-test", async () => {
    await apply([svc(), sticky()]); // all three again (the churn test ended with two)
    const load = client<LoopResult>(w.client, ["loop", "10.96.0.10", "80", "3000", "4"]);
    await new Promise((r) => setTimeout(r, 1000));
    backends[2]!.child.kill("SIGKILL");
    const r = await load;
    // Only requests in flight on the dying backend may fail (at most one per worker).
    assert.ok(r.errors <= 4, JSON.stringify(r));
    assert.ok(r.count > 10, `only ${r.count} requests`);
    const after = await client<{ names: string[]; errors: number }>(w.client, ["tcp", "10.96.0.10", "80", "30"]);
    assert.equal(after.errors, 0);
    assert.deepEqual(Object.keys(countBy(after.names)).sort(), ["b0", "b1"]);
    const m = await client<{ status: number; text: string }>(w.node, ["get", "http://127.0.0.1:10249/metrics"]);
    assert.equal(m.status, 200);
    const fails = /podwire_userspace_dial_failures_total\{service="default\/web:p"\} (\d+)/.exec(m.text);
    assert.ok(fails && Number(fails[1]) > 0, "dial failures counted");
    assert.match(m.text, /podwire_userspace_bytes_total\{service="default\/web:p",direction="in"\} [1-9]/);
    assert.match(m.text, /kubeproxy_sync_proxy_rules_last_timestamp_seconds [1-9]/);
  });
});
