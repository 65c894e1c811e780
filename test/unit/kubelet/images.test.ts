import assert from "node:assert/strict";
import { createSocket } from "node:dgram";
import { after, before, describe, it } from "node:test";
import { imageBaseName, resolveImage } from "../../../src/images/catalog.js";
import { type Netexec, startNetexec } from "../../../src/images/netexec.js";
import { startServeHostname } from "../../../src/images/serve-hostname.js";

async function get(port: number, path: string): Promise<{ code: number; body: string }> {
  const r = await fetch(`http://127.0.0.1:${port}${path}`);
  return { code: r.status, body: await r.text() };
}

function udp(port: number, msg: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = createSocket("udp4");
    s.on("message", (m) => {
      s.close();
      resolve(m.toString());
    });
    s.on("error", reject);
    s.send(msg, port, "127.0.0.1");
  });
}

describe("netexec (agnhost-compatible)", () => {
  let nx: Netexec;
  let peer: Netexec;
  before(async () => {
    nx = await startNetexec({ httpPort: 0, udpPort: 0, hostname: "pod-a" });
    peer = await startNetexec({ httpPort: 0, udpPort: 0, hostname: "pod-b" });
  });
  after(async () => {
    await nx.close();
    await peer.close();
  });
  it("/hostname answers the pod's hostname", async () => {
    assert.deepEqual(await get(nx.httpPort, "/hostname"), { code: 200, body: "pod-a" });
  });
  it("/echo returns msg, /clientip the caller's ip:port", async () => {
    const msg = `m${Math.random()}`;
    assert.equal((await get(nx.httpPort, `/echo?msg=${msg}`)).body, msg);
    assert.match((await get(nx.httpPort, "/clientip")).body, /^127\.0\.0\.1:\d+$/);
  });
  it("/healthz is 200 and unknown paths 404", async () => {
    assert.equal((await get(nx.httpPort, "/healthz")).code, 200);
    assert.equal((await get(nx.httpPort, "/nope")).code, 404);
  });
  it("/dial over http collects one response per try from the target", async () => {
    const r = await get(
      nx.httpPort,
      `/dial?host=127.0.0.1&port=${peer.httpPort}&request=hostname&protocol=http&tries=3`,
    );
    assert.deepEqual(JSON.parse(r.body), { responses: ["pod-b", "pod-b", "pod-b"] });
  });
  it("/dial over udp asks the target's UDP echo", async () => {
    const r = await get(nx.httpPort, `/dial?host=127.0.0.1&port=${peer.udpPort}&request=hostname&protocol=udp&tries=1`);
    assert.deepEqual(JSON.parse(r.body), { responses: ["pod-b"] });
  });
  it("/dial to a closed port reports errors", async () => {
    const r = JSON.parse(
      (await get(nx.httpPort, "/dial?host=127.0.0.1&port=1&request=hostname&protocol=http&tries=2")).body,
    );
    assert.equal(r.errors.length, 2);
    assert.deepEqual(r.responses, []);
  });
  it("UDP answers hostname, echo and clientip", async () => {
    assert.equal(await udp(nx.udpPort, "hostname"), "pod-a");
    assert.equal(await udp(nx.udpPort, "echo hello there"), "hello there");
    assert.match(await udp(nx.udpPort, "clientip"), /^127\.0\.0\.1:\d+$/);
  });
});

describe("serve-hostname", () => {
  it("answers every path with the pod name", async () => {
    const srv = await startServeHostname(0, "web-1");
    try {
      const port = (srv.address() as { port: number }).port;
      assert.equal((await get(port, "/anything")).body, "web-1");
    } finally {
      srv.closeAllConnections();
      srv.close();
    }
  });
});

describe("image catalog", () => {
  it("strips registry, tag and digest", () => {
    assert.equal(imageBaseName("registry.k8s.io/e2e-test-images/agnhost:2.47"), "agnhost");
    assert.equal(imageBaseName("localhost:5000/pause@sha256:abc"), "pause");
    assert.equal(imageBaseName("netexec"), "netexec");
  });
  it("runs built-ins as node modules with their args", () => {
    const r = resolveImage({ image: "netexec", args: ["--http-port=9000"] });
    assert.ok(r.ok);
    assert.equal(r.builtin, "netexec");
    assert.equal(r.file, process.execPath);
    assert.match(r.args[0] ?? "", /images\/netexec\.js$/);
    assert.deepEqual(r.args.slice(1), ["--http-port=9000"]);
  });
  it("runs agnhost subcommands from args or from a /agnhost command", () => {
    const a = resolveImage({
      image: "registry.k8s.io/e2e-test-images/agnhost:2.47",
      args: ["netexec", "--http-port", "80"],
    });
    assert.ok(a.ok && a.builtin === "netexec");
    assert.deepEqual(a.ok && a.args.slice(1), ["--http-port", "80"]);
    const b = resolveImage({
      image: "registry.k8s.io/e2e-test-images/agnhost:2.47",
      command: ["/agnhost", "serve-hostname"],
    });
    assert.ok(b.ok && b.builtin === "serve-hostname");
  });
  it("runs a command of any image as a host binary", () => {
    const r = resolveImage({ image: "busybox", command: ["sh", "-c"], args: ["echo hi"] });
    assert.deepEqual(r, { ok: true, builtin: null, file: "sh", args: ["-c", "echo hi"] });
  });
  it("fails an unknown image without command with ErrImagePull saying why", () => {
    const r = resolveImage({ image: "nginx:1.27" });
    assert.equal(r.ok, false);
    assert.ok(!r.ok && r.reason === "ErrImagePull" && /not a built-in image.*no command/.test(r.message));
    const s = resolveImage({ image: "registry.k8s.io/e2e-test-images/agnhost:2.47", args: ["porter"] });
    assert.ok(!s.ok && /porter/.test(s.message));
  });
});
