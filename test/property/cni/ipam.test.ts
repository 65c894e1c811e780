import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import fc from "fast-check";
import { allocate, gc, release } from "../../../cni/ipam/hostlocal.js";
import { DiskStore } from "../../../cni/ipam/store.js";
import { runs } from "../../support/runs.js";

// Model-based: random allocate/release/gc sequences against the real disk store agree with a simple model, never
// hand out network/gateway/broadcast, never hand one IP to two owners, and release reuses nothing before wrap.
test("host-local IPAM: random allocate/release/gc sequences keep store == model, no duplicates", () => {
  const cmd = fc.oneof(
    fc.record({ op: fc.constant("add" as const), id: fc.integer({ min: 0, max: 9 }) }),
    fc.record({ op: fc.constant("del" as const), id: fc.integer({ min: 0, max: 9 }) }),
    fc.record({
      op: fc.constant("gc" as const),
      keep: fc.uniqueArray(fc.integer({ min: 0, max: 9 }), { maxLength: 10 }),
    }),
  );
  fc.assert(
    fc.property(fc.array(cmd, { maxLength: 40 }), (cmds) => {
      const dir = mkdtempSync(join(tmpdir(), "pw-ipam-"));
      try {
        const conf = { type: "host-local", ranges: [[{ subnet: "10.1.0.0/29" }]], dataDir: dir };
        const model = new Map<number, string>(); // id -> ip
        for (const c of cmds) {
          if (c.op === "add") {
            try {
              const r = allocate("net", conf, `c${c.id}`, "eth0");
              assert.ok(!model.has(c.id), "duplicate allocation must fail");
              const ip = r.ips[0]!.address;
              assert.ok(!["10.1.0.0/29", "10.1.0.1/29", "10.1.0.7/29"].includes(ip), ip);
              assert.ok(![...model.values()].includes(ip), "IP handed out twice");
              model.set(c.id, ip);
            } catch (e) {
              const msg = (e as Error).message;
              assert.ok(model.has(c.id) ? /duplicate/.test(msg) : model.size === 5 && /no IP addresses/.test(msg), msg);
            }
          } else if (c.op === "del") {
            release("net", conf, `c${c.id}`, "eth0");
            model.delete(c.id);
          } else {
            gc(
              "net",
              conf,
              c.keep.map((k) => ({ containerID: `c${k}`, ifname: "eth0" })),
            );
            for (const id of [...model.keys()]) if (!c.keep.includes(id)) model.delete(id);
          }
          const onDisk = new DiskStore("net", dir)
            .list()
            .map((r) => `${r.id}=${r.ip}/29`)
            .sort();
          const want = [...model.entries()].map(([id, ip]) => `c${id}=${ip}`).sort();
          assert.deepEqual(onDisk, want);
        }
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }),
    { numRuns: runs(500, 100) },
  );
});
