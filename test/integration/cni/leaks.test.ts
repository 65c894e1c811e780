import assert from "node:assert/strict";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import fc from "fast-check";
import { execPlugin } from "../../../cni/runtime/exec.js";
import { nodeRuntime, PODWIRE_BIN_DIR, podwireConfList } from "../../support/cni.js";
import { type AgentProc, startSocketAgent, stopAgent } from "../../support/overlay.js";
import { runs } from "../../support/runs.js";
import { Topology, type TopoNode, type TopoPod } from "../../support/topology.js";

// Random lifecycles as a runtime (and the failures around it) produce them: ADD, DEL, GC, a plugin SIGKILLed in
// the middle of ADD, a sandbox whose netns disappears without DEL. After GC with the live attachments, the store
// and the kernel hold exactly the live attachments; after DEL of those, nothing at all is left.
// Every op is a real exec of bin/podwire-cni as a runtime (and podwire's kubelet) does it: ADD/DEL/GC through its
// C client to the overlay agent's socket; the SIGKILLed ADDs kill either the Node plugin itself
// (PODWIRE_CNI_NO_AGENT) or the C client while the agent finishes, so both paths share and fight over the same
// store and bridge.

const SLOTS = 3;
let topo: Topology;
let node: TopoNode;
let agent: AgentProc | undefined;
let sock: string;

before(async () => {
  await Topology.sweepOrphans();
  topo = await Topology.create({ nodes: 1, tag: "leak" });
  node = topo.nodes[0]!;
  ({ agent, sock } = await startSocketAgent(node, topo.dir));
});
after(async () => {
  if (agent) await stopAgent(agent);
  await topo?.destroy();
});

type Cmd =
  | { op: "add"; slot: number }
  | { op: "del"; slot: number }
  | { op: "gc" }
  | { op: "kill"; slot: number; afterMs: number; viaAgent: boolean }
  | { op: "podgone"; slot: number };

const slot = fc.integer({ min: 0, max: SLOTS - 1 });
const cmdArb: fc.Arbitrary<Cmd> = fc.oneof(
  { weight: 4, arbitrary: slot.map((s) => ({ op: "add" as const, slot: s })) },
  { weight: 3, arbitrary: slot.map((s) => ({ op: "del" as const, slot: s })) },
  { weight: 1, arbitrary: fc.constant({ op: "gc" as const }) },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant("kill" as const),
      slot,
      afterMs: fc.integer({ min: 20, max: 250 }),
      viaAgent: fc.boolean(),
    }),
  },
  { weight: 1, arbitrary: slot.map((s) => ({ op: "podgone" as const, slot: s })) },
);

async function hostVeths(): Promise<string[]> {
  const r = await topo.exec(node, "ip", ["-j", "link", "show", "type", "veth"]);
  return (JSON.parse(r.stdout || "[]") as { ifname: string }[])
    .map((l) => l.ifname)
    .filter((n) => n.startsWith("veth"));
}

let round = 0;

test("random ADD/DEL/GC/kill/pod-gone sequences leak no IPs, veths or files", async () => {
  const dataDir = join(node.dir, "ipam");
  const list = podwireConfList({
    cniVersion: "1.1.0",
    subnet: "10.244.1.0/28",
    dataDir,
    portmap: false,
    agentSocket: sock,
  });
  const rt = nodeRuntime(node);
  const storeDir = join(dataDir, list.name);
  const ipFiles = () => (existsSync(storeDir) ? readdirSync(storeDir).filter((f) => /^\d/.test(f)) : []);

  await fc.assert(
    fc.asyncProperty(fc.array(cmdArb, { minLength: 1, maxLength: 8 }), async (cmds) => {
      round++;
      const pods = new Map<number, TopoPod>();
      const attached = new Set<number>();
      const cid = (s: number) => `r${round}-c${s}`;
      const att = (s: number) => ({ containerId: cid(s), netns: pods.get(s)!.path, ifname: "eth0" });
      const podFor = async (s: number) => {
        let p = pods.get(s);
        if (!p) {
          p = await topo.addPod(node, `r${round}s${s}`);
          pods.set(s, p);
        }
        return p;
      };
      try {
        for (const c of cmds) {
          if (c.op === "add") {
            if (attached.has(c.slot)) continue; // a runtime never ADDs twice without DEL
            await podFor(c.slot);
            try {
              await rt.add(list, att(c.slot));
              attached.add(c.slot);
            } catch {
              await rt.del(list, att(c.slot)); // a failed ADD is followed by DEL
            }
          } else if (c.op === "del") {
            if (!pods.has(c.slot)) continue;
            await rt.del(list, att(c.slot));
            attached.delete(c.slot);
          } else if (c.op === "gc") {
            await rt.gc(
              list,
              [...attached].map((s) => ({ containerID: cid(s), ifname: "eth0" })),
            );
          } else if (c.op === "kill") {
            if (attached.has(c.slot)) continue;
            const p = await podFor(c.slot);
            // The plugin is SIGKILLed after a random delay, possibly half-way through its ADD; no DEL follows.
            // Either the Node plugin itself dies, or the thin client dies while the agent finishes the ADD.
            await execPlugin({
              type: "podwire-cni",
              path: [PODWIRE_BIN_DIR],
              env: {
                CNI_COMMAND: "ADD",
                CNI_CONTAINERID: cid(c.slot),
                CNI_NETNS: p.path,
                CNI_IFNAME: "eth0",
                ...(c.viaAgent ? {} : { PODWIRE_CNI_NO_AGENT: "1" }),
              },
              stdin: rt.requestConfig(list, list.plugins[0]!, undefined, undefined),
              wrap: ["nsenter", `--net=${node.path}`, "--"],
              timeoutMs: c.afterMs,
            });
            // Whatever it left is now unknown to the runtime: a fresh netns for the slot's next life.
            await topo.removePod(p);
            pods.delete(c.slot);
          } else if (c.op === "podgone") {
            const p = pods.get(c.slot);
            if (!p) continue;
            await topo.removePod(p); // sandbox died; the attachment stays "attached" until DEL/GC
          }
          // Never two owners for one IP.
          const owners = ipFiles();
          assert.equal(new Set(owners).size, owners.length);
        }
        // GC with the attachments whose sandbox still exists; then the store and kernel hold exactly those.
        const live = [...attached].filter((s) => pods.get(s) && existsSync(pods.get(s)!.path));
        await rt.gc(
          list,
          live.map((s) => ({ containerID: cid(s), ifname: "eth0" })),
        );
        assert.equal(ipFiles().length, live.length, `IP files after GC: ${ipFiles().join(",")}`);
        assert.equal((await hostVeths()).length, live.length, "veths after GC");
        for (const s of live) await rt.del(list, att(s));
        assert.deepEqual(ipFiles(), []);
        assert.deepEqual(await hostVeths(), []);
        const left = existsSync(storeDir)
          ? readdirSync(storeDir).filter((f) => !/^(lock|last_reserved_ip\.0)$/.test(f))
          : [];
        assert.deepEqual(left, [], "no stray files (lock.pid, temp files) in the store");
        const cache = join(node.dir, "cni-cache", "results");
        assert.deepEqual(existsSync(cache) ? readdirSync(cache) : [], [], "no cached results left");
      } finally {
        for (const p of pods.values()) await topo.removePod(p);
      }
    }),
    { numRuns: runs(1000, 60), endOnFailure: true },
  );
});
