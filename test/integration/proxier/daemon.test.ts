import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { stringify } from "yaml";
import { runIn } from "../../../src/netlinux/netns.js";
import { NetnsScope } from "../../support/netns.js";

const bin = new URL("../../../../bin/podwire", import.meta.url).pathname;

function objects(services: number) {
  const items: object[] = [
    {
      apiVersion: "v1",
      kind: "Node",
      metadata: { name: "node-a" },
      status: { addresses: [{ type: "InternalIP", address: "198.18.0.1" }] },
    },
  ];
  for (let i = 1; i <= services; i++) {
    items.push({
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: `svc${i}`, namespace: "default" },
      spec: { clusterIP: `10.96.0.${i}`, ports: [{ name: "http", port: 80, protocol: "TCP" }] },
    });
    items.push({
      apiVersion: "discovery.k8s.io/v1",
      kind: "EndpointSlice",
      metadata: { name: `svc${i}-1`, namespace: "default", labels: { "kubernetes.io/service-name": `svc${i}` } },
      addressType: "IPv4",
      endpoints: [{ addresses: [`10.244.1.${i}`], nodeName: "node-a" }],
      ports: [{ name: "http", port: 8080, protocol: "TCP" }],
    });
  }
  return stringify({ apiVersion: "v1", kind: "List", items });
}

async function waitFor(what: string, fn: () => Promise<boolean>, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await fn()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe("podwire proxy daemon (--objects, inside a namespace)", () => {
  const scope = new NetnsScope("pd");
  const dir = mkdtempSync(join(tmpdir(), "pw-proxy-daemon-"));
  const file = join(dir, "objects.yaml");
  let ns = "";
  let child: ChildProcess;
  let stdout = "";
  let stderr = "";
  let metricsAddr = "";
  let healthzAddr = "";
  const natSave = async () => (await runIn(ns, "iptables-nft-save", ["-t", "nat"])).stdout;

  before(async () => {
    ns = await scope.add("node");
    writeFileSync(file, objects(2));
    child = spawn(
      bin,
      [
        "proxy",
        "--objects",
        file,
        "--node-name",
        "node-a",
        "--netns",
        ns,
        "--cluster-cidr",
        "10.244.0.0/16",
        "--iptables-backend",
        "nft",
        "--iptables-min-sync-period",
        "100ms",
        "--iptables-sync-period",
        "2s",
        "--metrics-bind-address",
        "127.0.0.1:0",
        "--healthz-bind-address",
        "127.0.0.1:0",
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    child.stdout!.on("data", (d) => (stdout += d));
    child.stderr!.on("data", (d) => (stderr += d));
    await waitFor("the daemon to report its addresses", async () => /healthz on \S+/.test(stdout));
    metricsAddr = stdout.match(/metrics on (\S+),/)![1]!;
    healthzAddr = stdout.match(/healthz on (\S+)/)![1]!;
  });
  after(async () => {
    if (child && child.exitCode === null) child.kill("SIGKILL");
    await scope.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it("programs the rules of the objects file", async () => {
    await waitFor("svc2's rules", async () => (await natSave()).includes('"default/svc2:http cluster IP"'));
  });

  it("reloads the objects file on change and syncs the difference", async () => {
    writeFileSync(file, objects(3));
    await waitFor("svc3's rules", async () => (await natSave()).includes("-d 10.96.0.3/32"));
    // The rules are visible once iptables-restore commits; the sync's log line comes after, through a pipe. The
    // 2 s periodic syncs are partial too but write no rules: look for the partial sync that wrote some.
    await waitFor("the log line of a partial sync that wrote rules", async () =>
      /"full":false,[^\n]*"rulesWritten":[1-9]/.test(stderr),
    );
  });

  it("serves kube-proxy metrics and /healthz", async () => {
    // The partial-sync duration is observed after the sync's conntrack clean-up, later than its log line.
    let m = "";
    await waitFor("a partial sync in the metrics", async () => {
      m = await (await fetch(`http://${metricsAddr}/metrics`)).text();
      return /kubeproxy_sync_partial_proxy_rules_duration_seconds_count [1-9]/.test(m);
    });
    assert.match(m, /kubeproxy_sync_proxy_rules_iptables_total\{table="nat"\} \d+/);
    assert.equal(await (await fetch(`http://${metricsAddr}/proxyMode`)).text(), "iptables");
    const h = await fetch(`http://${healthzAddr}/healthz`);
    assert.equal(h.status, 200);
    const body = (await h.json()) as { lastUpdated: string; nodeEligible: boolean };
    assert.ok(Date.parse(body.lastUpdated) > 0);
  });

  it("stops cleanly on SIGTERM within 10 s", async () => {
    const t0 = Date.now();
    child.kill("SIGTERM");
    const [code] = await once(child, "exit");
    assert.equal(code, 0, stderr.slice(-2000));
    assert.ok(Date.now() - t0 < 10_000);
  });
});
