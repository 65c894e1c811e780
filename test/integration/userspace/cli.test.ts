import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { after, before, describe, it } from "node:test";
import { run } from "../../../src/netlinux/exec.js";
import { inputFromObjects } from "../../../proxier/userspace/model.js";
import { renderUserspaceRules } from "../../../proxier/userspace/rules.js";
import { ensureJumpRules, execRunner } from "../../../proxier/userspace/runner.js";
import { NetnsScope } from "../../support/netns.js";
import {
  type NsProcess,
  NsProcess as Proc,
  ObjectsFile,
  type World,
  client,
  countBy,
  iptablesSave,
  makeWorld,
  objectsFor,
  startBackends,
} from "./support.js";

const IPTABLES_MODE_READY = /-A PREROUTING .*-j KUBE-SERVICES/;
const BIN = new URL("../../../../bin/podwire", import.meta.url).pathname;

function podwire(args: string[]): NsProcess {
  return new Proc(spawn(BIN, args, { stdio: ["ignore", "pipe", "pipe"] }));
}

describe("podwire proxy --proxy-mode userspace (CLI, node namespace via --netns)", () => {
  const scope = new NetnsScope("uc");
  const file = new ObjectsFile();
  let w: World;
  let backends: NsProcess[] = [];

  before(async () => {
    w = await makeWorld(scope, 2);
    backends = await startBackends(w);
    file.write(
      objectsFor([
        {
          name: "web",
          clusterIP: "10.96.0.10",
          port: 80,
          targetPort: 8080,
          nodePort: 30080,
          endpoints: w.backends.map((b) => b.ip),
        },
      ]),
    );
  });
  /** `podwire proxy` in iptables mode (its default) on the test node. */
  const iptablesModeProxy = () =>
    podwire([
      "proxy",
      "--objects",
      file.path,
      "--node-name",
      "n1",
      "--netns",
      w.node,
      "--metrics-bind-address",
      "127.0.0.1:0",
      "--healthz-bind-address",
      "127.0.0.1:0",
    ]);
  /** The node's iptables-save once the iptables mode has installed its jump (or after 30 s, for the assertion). */
  async function saveOnceJumped(): Promise<string> {
    for (let i = 0; i < 300; i++) {
      const save = await iptablesSave(w.node);
      if (IPTABLES_MODE_READY.test(save)) return save;
      await new Promise((r) => setTimeout(r, 100));
    }
    return iptablesSave(w.node);
  }
  after(async () => {
    await Promise.all(backends.map((b) => b.stop()));
    await scope.cleanup();
    file.remove();
  });

  it("render prints the portal payload; bad flags exit 2", async () => {
    const r = await run(BIN, [
      "proxy",
      "render",
      "--proxy-mode",
      "userspace",
      "--objects",
      file.path,
      "--node-name",
      "n1",
    ]);
    assert.match(r.stdout, /-A KUBE-PORTALS-CONTAINER .*-d 10\.96\.0\.10\/32 -j REDIRECT --to-ports 36000/);
    assert.match(r.stdout, /-A KUBE-NODEPORT-HOST .*--dport 30080 -j DNAT --to-destination 198\.18\.0\.1:36000/);
    const bad = await run(
      BIN,
      ["proxy", "render", "--proxy-mode", "userspace", "--objects", file.path, "--proxy-port-range", "9-1"],
      { check: false },
    );
    assert.equal(bad.code, 2, bad.stderr);
  });

  it("switches a node from iptables mode to userspace mode and serves traffic; SIGTERM cleans up", async () => {
    const ipt = iptablesModeProxy();
    try {
      assert.match(await saveOnceJumped(), IPTABLES_MODE_READY);
    } finally {
      await ipt.stop();
    }
    const us = podwire([
      "proxy",
      "--proxy-mode",
      "userspace",
      "--objects",
      file.path,
      "--node-name",
      "n1",
      "--netns",
      w.node,
    ]);
    try {
      await us.waitLine((l) => l.startsWith("podwire proxy: userspace mode"));
      const save = await iptablesSave(w.node);
      assert.doesNotMatch(save, /KUBE-(SERVICES|SVC-|SEP-|NODEPORTS)/, "iptables mode's rules removed");
      assert.match(save, /KUBE-PORTALS-CONTAINER/);
      const r = await client<{ names: string[]; errors: number }>(w.client, ["tcp", "10.96.0.10", "80", "4"]);
      assert.equal(r.errors, 0);
      assert.deepEqual(countBy(r.names), { b0: 2, b1: 2 });
    } finally {
      const t0 = Date.now();
      await us.stop();
      assert.ok(Date.now() - t0 < 10_000);
    }
    assert.equal(us.child.exitCode, 0, us.stderr);
    assert.doesNotMatch(await iptablesSave(w.node), /KUBE-(PORTALS|NODEPORT-)/);
  });

  it("the iptables mode removes userspace portals a crashed userspace proxy left behind", async () => {
    const ipt = await execRunner(w.node, "nft");
    await ipt.restore(
      renderUserspaceRules(inputFromObjects(objectsFor([]), "n1"), { proxyPorts: new Map() }) +
        "*nat\n-A KUBE-PORTALS-CONTAINER -d 10.96.0.10/32 -p tcp -m tcp --dport 80 -j REDIRECT --to-ports 40000\nCOMMIT\n",
    );
    await ensureJumpRules(ipt);
    assert.match(await iptablesSave(w.node), /-j KUBE-PORTALS-CONTAINER/);
    const proc = iptablesModeProxy();
    try {
      const save = await saveOnceJumped();
      assert.match(save, IPTABLES_MODE_READY);
      assert.doesNotMatch(save, /KUBE-(PORTALS|NODEPORT-)/);
    } finally {
      await proc.stop();
    }
  });
});
