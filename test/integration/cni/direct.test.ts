import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { nodeRuntime, podwireConfList } from "../../support/cni.js";
import {
  type AgentProc,
  nodeObject,
  startOverlay,
  stopAll,
  subnetFileOf,
  waitFor,
  writeNodesFile,
} from "../../support/overlay.js";
import { Topology } from "../../support/topology.js";

let topo: Topology;
let agents: AgentProc[] = [];

before(async () => {
  await Topology.sweepOrphans();
  topo = await Topology.create({ nodes: 2, tag: "drct" });
});
after(async () => {
  await stopAll(agents);
  await topo?.destroy();
});

test("--direct-routing: peers on the same L2 get a plain route via their public IP, no neigh/FDB; pods reach each other", async () => {
  const [n1, n2] = topo.nodes as [(typeof topo.nodes)[0], (typeof topo.nodes)[0]];
  const objects = join(topo.dir, "nodes.yaml");
  writeNodesFile(objects, [nodeObject(n1!), nodeObject(n2!)]);
  agents = [n1!, n2!].map((n) => startOverlay(n, objects, ["--direct-routing"]));
  for (const n of [n1!, n2!]) await waitFor(() => existsSync(subnetFileOf(n)), 60_000, "subnet.env");
  await waitFor(
    async () => {
      const routes = JSON.parse((await topo.exec(n1!, "ip", ["-j", "route"])).stdout) as {
        dst: string;
        gateway?: string;
        dev: string;
      }[];
      return routes.some((r) => r.dst === n2!.podCidr && r.gateway === n2!.ip && r.dev === "eth0");
    },
    10_000,
    "direct route",
  );
  const neigh = JSON.parse(
    (await topo.exec(n1!, "ip", ["-j", "neigh", "show", "dev", "flannel.1", "nud", "permanent"])).stdout || "[]",
  );
  assert.deepEqual(neigh, []);
  const ips: string[] = [];
  for (const n of [n1!, n2!]) {
    const pod = await topo.addPod(n, "p");
    const list = podwireConfList({ subnetFile: subnetFileOf(n), dataDir: join(n.dir, "ipam"), portmap: false });
    const r = (await nodeRuntime(n).add(list, { containerId: `${n.name}-p`, netns: pod.path, ifname: "eth0" })) as {
      ips: { address: string }[];
    };
    ips.push(r.ips[0]!.address.split("/")[0]!);
  }
  await waitFor(
    async () => (await topo.exec(n1!.pods[0]!, "ping", ["-c1", "-W1", ips[1]!], { check: false })).code === 0,
    10_000,
    "pod ping over direct route",
  );
});
