/**
 * `podwire proxy --kubeconfig` against a real `podwire server` (both the real CLI, as child processes): a Service
 * and its EndpointSlice created through the API are programmed into a test namespace's nat table (iptables mode),
 * an endpoint added later shows up by a partial sync, and deleting both removes the rules and the chains.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { readFileSync } from "node:fs";
import { request } from "node:https";
import { after, before, describe, it } from "node:test";
import { parse } from "yaml";
import { runIn } from "../../../src/netlinux/netns.js";
import { type ServerProcess, podwireBin, startServerProcess } from "../../e2e/kubectl/server-process.js";
import { NetnsScope } from "../../support/netns.js";

const SVC_IP = "10.96.0.77";

async function waitFor(what: string, fn: () => Promise<boolean>, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await fn()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Admin-token JSON requests to the server (TLS with its self-signed CA). */
function client(srv: ServerProcess) {
  const kc = parse(readFileSync(srv.kubeconfig, "utf8")) as {
    clusters: { cluster: { "certificate-authority-data"?: string } }[];
    users: { user: { token: string } }[];
  };
  const token = kc.users[0]!.user.token;
  const caData = kc.clusters[0]?.cluster["certificate-authority-data"];
  const ca = caData ? Buffer.from(caData, "base64").toString() : undefined;
  return (method: string, path: string, body?: unknown) =>
    new Promise<{ status: number; text: string }>((resolve, reject) => {
      const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
      const r = request(
        {
          host: "127.0.0.1",
          port: srv.port,
          method,
          path,
          ...(ca ? { ca } : { rejectUnauthorized: false }),
          headers: {
            Authorization: `Bearer ${token}`,
            Accept: "application/json",
            ...(payload ? { "Content-Type": "application/json", "Content-Length": String(payload.length) } : {}),
          },
        },
        (res) => {
          let text = "";
          res.on("data", (c: Buffer) => (text += c));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, text }));
        },
      );
      r.on("error", reject);
      if (payload) r.write(payload);
      r.end();
    });
}

/** web's KUBE-SVC chain (from its KUBE-SERVICES rule) and the KUBE-SEP chains it jumps to, in rule order. */
function webChains(nat: string): { svc: string; seps: string[] } {
  const svc = nat.match(new RegExp(`-A KUBE-SERVICES -d ${SVC_IP}/32 .* -j (KUBE-SVC-\\S+)`))?.[1];
  assert.ok(svc, "web's KUBE-SERVICES rule");
  const seps = [...nat.matchAll(new RegExp(`^-A ${svc} .*-j (KUBE-SEP-\\S+)$`, "gm"))].map((m) => m[1]!);
  return { svc, seps };
}

function slice(ips: string[]) {
  return {
    apiVersion: "discovery.k8s.io/v1",
    kind: "EndpointSlice",
    metadata: { name: "web-1", namespace: "default", labels: { "kubernetes.io/service-name": "web" } },
    addressType: "IPv4",
    endpoints: ips.map((ip) => ({ addresses: [ip], nodeName: "node-a", conditions: { ready: true } })),
    ports: [{ name: "http", port: 8080, protocol: "TCP" }],
  };
}

describe("podwire proxy --kubeconfig against podwire server (iptables mode, in a namespace)", () => {
  const scope = new NetnsScope("pk");
  let srv: ServerProcess | undefined;
  let api: ReturnType<typeof client>;
  let ns = "";
  let child: ChildProcess | undefined;
  let out = "";
  const natSave = async () => (await runIn(ns, "iptables-nft-save", ["-t", "nat"])).stdout;

  before(async () => {
    ns = await scope.add("node");
    srv = await startServerProcess();
    api = client(srv);
    child = spawn(
      podwireBin,
      [
        "proxy",
        "--kubeconfig",
        srv.kubeconfig,
        "--node-name",
        "node-a",
        "--node-ip",
        "198.18.0.1",
        "--netns",
        ns,
        "--cluster-cidr",
        "10.244.0.0/16",
        "--iptables-backend",
        "nft",
        "--iptables-min-sync-period",
        "100ms",
        "--iptables-sync-period",
        "5s",
        "--metrics-bind-address",
        "127.0.0.1:0",
        "--healthz-bind-address",
        "127.0.0.1:0",
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    child.stdout!.on("data", (d) => (out += d));
    child.stderr!.on("data", (d) => (out += d));
    await waitFor("the proxy to start", async () => /healthz on \S+/.test(out));
  });

  after(async () => {
    if (child?.pid && child.exitCode === null && child.signalCode === null) {
      const exited = once(child, "exit");
      process.kill(child.pid, "SIGKILL");
      await exited;
    }
    await srv?.cleanup();
    await scope.cleanup();
  });

  it("programs a Service and EndpointSlice created through the API", async () => {
    const s = await api("POST", "/api/v1/namespaces/default/services", {
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: "web", namespace: "default" },
      spec: { type: "ClusterIP", clusterIP: SVC_IP, ports: [{ name: "http", port: 80, protocol: "TCP" }] },
    });
    assert.equal(s.status, 201, s.text);
    const e = await api("POST", "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices", slice(["10.244.1.5"]));
    assert.equal(e.status, 201, e.text);
    await waitFor("web's DNAT rule", async () => (await natSave()).includes("--to-destination 10.244.1.5:8080"));
    const nat = await natSave();
    assert.match(nat, new RegExp(`-A KUBE-SERVICES -d ${SVC_IP}/32 .*"default/web:http cluster IP".* -j KUBE-SVC-`));
    assert.match(nat, /-A KUBE-SVC-\S+ ! -s 10\.244\.0\.0\/16 -d 10\.96\.0\.77\/32 .*-j KUBE-MARK-MASQ/);
  });

  it("follows an endpoint added through the API", async () => {
    const cur = JSON.parse(
      (await api("GET", "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices/web-1")).text,
    ) as { metadata: { resourceVersion: string } };
    const next = slice(["10.244.1.5", "10.244.2.6"]);
    const r = await api("PUT", "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices/web-1", {
      ...next,
      metadata: { ...next.metadata, resourceVersion: cur.metadata.resourceVersion },
    });
    assert.equal(r.status, 200, r.text);
    await waitFor("the second endpoint", async () => (await natSave()).includes("--to-destination 10.244.2.6:8080"));
    const nat = await natSave();
    const { svc, seps } = webChains(nat);
    assert.equal(seps.length, 2, "two endpoint chains");
    // iptables-save prints the probability with 11 decimals.
    assert.match(nat, new RegExp(`-A ${svc} .*--probability 0\\.50* -j ${seps[0]}`));
  });

  it("removes the rules and chains when the Service and EndpointSlice are deleted", async () => {
    const { svc, seps } = webChains(await natSave());
    const mine = [svc, ...seps];
    assert.equal(
      (await api("DELETE", "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices/web-1")).status,
      200,
    );
    assert.equal((await api("DELETE", "/api/v1/namespaces/default/services/web")).status, 200);
    await waitFor("web's rules to go", async () => {
      const nat = await natSave();
      return !nat.includes(SVC_IP) && mine.every((c) => !nat.includes(c));
    });
    const nat = await natSave();
    assert.match(nat, /^:KUBE-SERVICES/m, "the shared chains stay");
    assert.doesNotMatch(nat, /10\.244\.[12]\.\d+:8080/);
  });

  it("stops cleanly on SIGTERM within 10 s", async () => {
    const c = child!;
    const t0 = Date.now();
    const exited = once(c, "exit");
    process.kill(c.pid!, "SIGTERM");
    const [code] = await exited;
    assert.equal(code, 0, out.slice(-2000));
    assert.ok(Date.now() - t0 < 10_000);
  });
});
