import assert from "node:assert/strict";
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { type CniPluginError, CniRuntime, loadConfListFromDir } from "../../../cni/runtime/runtime.js";
import { Topology } from "../../support/topology.js";

let topo: Topology;
before(async () => {
  await Topology.sweepOrphans();
  topo = await Topology.create({ nodes: 1, tag: "rtd" });
});
after(async () => {
  await topo?.destroy();
});

test("cni/runtime drives Debian's reference bridge + host-local + portmap: ADD, CHECK-free, DEL, errors", async () => {
  const node = topo.nodes[0]!;
  const confDir = join(node.dir, "net.d");
  const ipamDir = join(node.dir, "ipam");
  mkdirSync(confDir, { recursive: true });
  writeFileSync(
    join(confDir, "10-deb.conflist"),
    JSON.stringify({
      cniVersion: "1.0.0",
      name: "debnet",
      plugins: [
        {
          type: "bridge",
          bridge: "cni0",
          isDefaultGateway: true,
          hairpinMode: true,
          ipMasq: false,
          mtu: 1450,
          ipam: { type: "host-local", ranges: [[{ subnet: "10.244.5.0/24" }]], dataDir: ipamDir },
        },
        { type: "portmap", capabilities: { portMappings: true } },
      ],
    }),
  );
  writeFileSync(join(confDir, "99-ignored.conflist"), "{not json");
  const list = loadConfListFromDir(confDir);
  assert.equal(list.name, "debnet");
  const rt = new CniRuntime({
    binDirs: ["/usr/lib/cni"],
    cacheDir: join(node.dir, "cache"),
    wrap: ["nsenter", `--net=${node.path}`, "--"],
  });
  assert.ok((await rt.pluginVersions("bridge")).includes("1.0.0"));
  const pods = [await topo.addPod(node, "d1"), await topo.addPod(node, "d2")];
  const ips: string[] = [];
  for (const [i, pod] of pods.entries()) {
    const r = (await rt.add(list, {
      containerId: `deb${i}`,
      netns: pod.path,
      ifname: "eth0",
      args: { IgnoreUnknown: "1", K8S_POD_NAMESPACE: "default", K8S_POD_NAME: `d${i}` },
      capabilityArgs: { portMappings: [{ hostPort: 9000 + i, containerPort: 80, protocol: "tcp" }] },
    })) as { ips: { address: string; gateway: string }[]; interfaces: { name: string }[] };
    assert.equal(r.ips[0]!.gateway, "10.244.5.1");
    ips.push(r.ips[0]!.address.split("/")[0]!);
    const cached = JSON.parse(readFileSync(join(node.dir, "cache", "results", `debnet-deb${i}-eth0`), "utf8"));
    assert.deepEqual(cached.capabilityArgs.portMappings[0].hostPort, 9000 + i);
  }
  await topo.exec(pods[0]!, "ping", ["-c1", "-W2", ips[1]!]);
  const nat = (await topo.exec(node, "iptables-save", ["-t", "nat"])).stdout;
  assert.match(nat, /--dports 9000 /);
  assert.match(nat, /--dports 9001 /);
  // A second ADD of the same attachment fails with the plugin's error object (no cniVersion in Debian's errors).
  await assert.rejects(
    rt.add(list, { containerId: "deb0", netns: pods[0]!.path, ifname: "eth0" }),
    (e: CniPluginError) => e.plugin === "bridge" && /already exists/.test(e.msg),
  );
  // GC and STATUS are skipped for a 1.0.0 list (Debian 1.1.1 speaks up to 1.0.0).
  await rt.gc(list, []);
  await rt.status(list);
  for (const [i, pod] of pods.entries()) {
    await rt.del(list, { containerId: `deb${i}`, netns: pod.path, ifname: "eth0" });
    await rt.del(list, { containerId: `deb${i}`, netns: pod.path, ifname: "eth0" }); // idempotent
  }
  assert.deepEqual(
    readdirSync(join(ipamDir, "debnet")).filter((f) => /^\d/.test(f)),
    [],
  );
  assert.doesNotMatch((await topo.exec(node, "iptables-save", ["-t", "nat"])).stdout, /--dports 900[01] /);
  assert.deepEqual(readdirSync(join(node.dir, "cache", "results")), []);
});
