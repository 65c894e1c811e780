/**
 * The executable a runtime execs (bin/podwire-cni → dist/podwire-cni, the C client) and the agent's pod-side
 * netns helper: forwarding is faithful (env, config of any size, exit code, stdout), a missing or dead agent falls
 * back to the Node plugin, a lost connection is a spec-shaped "try again" error, and the helper reports kernel
 * errors per request without leaving its own namespace.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { execPlugin } from "../../../cni/runtime/exec.js";
import { findHelperBinary, PodSideError, PodSideHelper } from "../../../cni/plugin/podside.js";
import { ip, netnsPath } from "../../../src/netlinux/netns.js";
import { PODWIRE_BIN_DIR } from "../../support/cni.js";
import { NetnsScope } from "../../support/netns.js";

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), "pwcli-"));
});
after(() => rmSync(dir, { recursive: true, force: true }));

const exec = (env: Record<string, string>, stdin: string, extra: Record<string, string> = {}) =>
  execPlugin({
    type: "podwire-cni",
    path: [PODWIRE_BIN_DIR],
    env,
    stdin,
    baseEnv: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...extra },
  });

/** A fake agent: records each request, answers with `reply(request)` (undefined: close without a reply). */
function fakeAgent(
  path: string,
  reply: (req: string) => string | undefined,
): Promise<{ server: Server; got: string[] }> {
  const got: string[] = [];
  const server = createServer({ allowHalfOpen: true }, (c) => {
    const chunks: Buffer[] = [];
    c.on("data", (b: Buffer) => chunks.push(b));
    c.on("end", () => {
      const req = Buffer.concat(chunks).toString("utf8");
      got.push(req);
      const r = reply(req);
      if (r === undefined) c.destroy();
      else c.end(r);
    });
  });
  return new Promise((resolve) => server.listen(path, () => resolve({ server, got })));
}

test("the compiled client is what bin/podwire-cni runs", () => {
  assert.ok(findHelperBinary(), "dist/podwire-cni is an ELF binary (cc was available at build time)");
});

test("forwards env and a large config verbatim and returns the agent's exit code and stdout", async () => {
  const sock = join(dir, `a${randomBytes(3).toString("hex")}.sock`);
  const { server, got } = await fakeAgent(sock, () => '7\n{"cniVersion":"1.1.0","code":7,"msg":"from the agent"}\n');
  try {
    // > 64 KiB: more than one pipe buffer and one socket read.
    const pad = randomBytes(60_000).toString("hex");
    const conf = JSON.stringify({ cniVersion: "1.1.0", name: "n", type: "podwire-cni", agentSocket: sock, pad });
    const env = {
      CNI_COMMAND: "ADD",
      CNI_CONTAINERID: "c1",
      CNI_NETNS: "/run/netns/x",
      CNI_IFNAME: "eth0",
      CNI_ARGS: "K8S_POD_NAME=a;IgnoreUnknown=1",
    };
    const r = await exec(env, conf);
    assert.equal(r.ok, false);
    if (r.ok) return;
    assert.equal(r.exitCode, 7);
    assert.deepEqual(r.error, { cniVersion: "1.1.0", code: 7, msg: "from the agent" });
    assert.equal(got.length, 1);
    const [head, body] = [got[0]!.slice(0, got[0]!.indexOf("\n--\n")), got[0]!.slice(got[0]!.indexOf("\n--\n") + 4)];
    assert.deepEqual(head.split("\n"), [
      "CNI_COMMAND=ADD",
      "CNI_CONTAINERID=c1",
      "CNI_NETNS=/run/netns/x",
      "CNI_IFNAME=eth0",
      "CNI_ARGS=K8S_POD_NAME=a;IgnoreUnknown=1",
      `CNI_PATH=${PODWIRE_BIN_DIR}`,
    ]);
    assert.equal(body, conf);
  } finally {
    server.close();
  }
});

test("an agent that drops the connection gives error 11 (try again) with the config's version", async () => {
  const sock = join(dir, `b${randomBytes(3).toString("hex")}.sock`);
  const { server } = await fakeAgent(sock, () => undefined);
  try {
    const conf = JSON.stringify({ cniVersion: "1.0.0", name: "n", type: "podwire-cni", agentSocket: sock });
    const r = await exec({ CNI_COMMAND: "DEL", CNI_CONTAINERID: "c", CNI_IFNAME: "eth0" }, conf);
    assert.equal(r.ok, false);
    if (!r.ok) {
      assert.equal(r.exitCode, 1);
      assert.equal(r.error.code, 11);
      assert.equal(r.error.cniVersion, "1.0.0");
      assert.match(r.error.msg, /try again/);
    }
  } finally {
    server.close();
  }
});

test("no agent (no socket, stale file, PODWIRE_CNI_NO_AGENT): the Node plugin answers, stdin intact", async () => {
  const stale = join(dir, "stale.sock");
  writeFileSync(stale, "");
  const live = join(dir, `c${randomBytes(3).toString("hex")}.sock`);
  const { server, got } = await fakeAgent(live, () => "0\n");
  try {
    const pad = "x".repeat(200_000);
    for (const [sock, extra] of [
      [undefined, {}],
      [join(dir, "missing.sock"), {}],
      [stale, {}],
      [live, { PODWIRE_CNI_NO_AGENT: "1" }],
    ] as const) {
      const conf = JSON.stringify({ cniVersion: "0.4.0", name: "n", ...(sock ? { agentSocket: sock } : {}), pad });
      const r = await exec({ CNI_COMMAND: "VERSION" }, conf, extra);
      assert.ok(r.ok, JSON.stringify(r));
      assert.deepEqual(r.result, {
        cniVersion: "0.4.0",
        supportedVersions: ["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"],
      });
      // The Node plugin's env checks (error JSON on stdout, exit 1) also without an agent.
      const bad = await exec({ CNI_COMMAND: "ADD" }, conf, extra);
      assert.ok(!bad.ok && bad.exitCode === 1 && bad.error.code === 4, JSON.stringify(bad));
    }
    assert.equal(got.length, 0, "PODWIRE_CNI_NO_AGENT kept the client off the socket");
  } finally {
    server.close();
  }
});

test("netns helper: configures the pod side, reports kernel errors per request, keeps serving", async () => {
  const bin = findHelperBinary();
  assert.ok(bin);
  const scope = new NetnsScope("hlp");
  const helper = new PodSideHelper(bin);
  try {
    const ns = await scope.add("p");
    await ip(ns, "link", "add", "eth0", "type", "veth", "peer", "name", "peer0");
    const setup = {
      netns: netnsPath(ns),
      ifname: "eth0",
      addresses: ["10.244.3.7/24"],
      routes: [{ dst: "0.0.0.0/0", gw: "10.244.3.1" }, { dst: "10.96.0.0/12" }],
    };
    await helper.setup(setup);
    const link = JSON.parse((await ip(ns, "-j", "addr", "show", "eth0")).stdout)[0];
    assert.ok(link.flags.includes("UP"));
    assert.ok(
      link.addr_info.some((a: { local: string; prefixlen: number }) => a.local === "10.244.3.7" && a.prefixlen === 24),
    );
    const routes = JSON.parse((await ip(ns, "-j", "route", "show")).stdout) as {
      dst: string;
      gateway?: string;
      scope?: string;
    }[];
    assert.ok(routes.some((r) => r.dst === "default" && r.gateway === "10.244.3.1"));
    assert.ok(routes.some((r) => r.dst === "10.96.0.0/12" && !r.gateway && r.scope === "link"));
    await assert.rejects(helper.setup(setup), (e: unknown) => e instanceof PodSideError && e.errno === 17);
    await assert.rejects(
      helper.setup({ ...setup, ifname: "eth9" }),
      (e: unknown) => e instanceof PodSideError && e.errno === 19,
    );
    await assert.rejects(
      helper.setup({ ...setup, netns: `${netnsPath(ns)}-gone` }),
      (e: unknown) => e instanceof PodSideError && e.errno === 2,
    );
    // Still serving: a second pod works after the failures.
    const ns2 = await scope.add("q");
    await ip(ns2, "link", "add", "eth0", "type", "veth", "peer", "name", "peer0");
    await helper.setup({ ...setup, netns: netnsPath(ns2), addresses: ["10.244.3.8/24"] });
    assert.match((await ip(ns2, "addr", "show", "eth0")).stdout, /10\.244\.3\.8\/24/);
  } finally {
    helper.close();
    await scope.cleanup();
  }
});
