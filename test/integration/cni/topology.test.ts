import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { after, test } from "node:test";
import { listNetns, runIn } from "../../../src/netlinux/netns.js";
import { Topology } from "../../support/topology.js";

let topo: Topology | undefined;
after(async () => {
  await topo?.destroy();
});

test("topology: nodes reach each other over the underlay bridge; destroy removes every namespace and file", async () => {
  const rootLinksBefore = (await runIn(null, "ip", ["-o", "link"])).stdout.split("\n").length;
  topo = await Topology.create({ nodes: 3, tag: "topo" });
  const [a, , c] = topo.nodes;
  await topo.exec(a!, "ping", ["-c1", "-W2", c!.ip]);
  const pod = await topo.addPod(a!, "p1");
  assert.ok(listNetns(topo.prefix).includes(pod.ns));
  await topo.removeNode(c!);
  const r = await topo.exec(a!, "ping", ["-c1", "-W1", c!.ip], { check: false });
  assert.notEqual(r.code, 0, "removed node must be unreachable");
  const rootLinksAfter = (await runIn(null, "ip", ["-o", "link"])).stdout.split("\n").length;
  assert.equal(rootLinksAfter, rootLinksBefore, "initial namespace links unchanged");
  const { prefix, dir } = topo;
  await topo.destroy();
  topo = undefined;
  assert.deepEqual(listNetns(prefix), []);
  assert.equal(existsSync(dir), false);
});
