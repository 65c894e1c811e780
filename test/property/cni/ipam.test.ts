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
// Run once IPv4-only and once dual-stack (a v6 set beside it: one address of each family per owner, both released
// together; the v4 set has 5 usable addresses, the v6 /125 six, so the v4 set runs out first).
for (const dual of [false, true])
  test(`host-local IPAM${dual ? " (dual-stack)" : ""}: random allocate/release/gc sequences keep store == model, no duplicates`, () => {
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
          const ranges = [[{ subnet: "10.1.0.0/29" }], ...(dual ? [[{ subnet: "fd00:1::/125" }]] : [])];
          const conf = { type: "host-local", ranges, dataDir: dir };
          const model = new Map<number, string[]>(); // id -> ips
          for (const c of cmds) {
            if (c.op === "add") {
              try {
                const r = allocate("net", conf, `c${c.id}`, "eth0");
                assert.ok(!model.has(c.id), "duplicate allocation must fail");
                const ips = r.ips.map((x) => x.address);
                assert.equal(ips.length, dual ? 2 : 1);
                assert.ok(!["10.1.0.0/29", "10.1.0.1/29", "10.1.0.7/29"].includes(ips[0]!), ips[0]);
                if (dual) {
                  assert.match(ips[1]!, /^fd00:1::[2-7]\/125$/, "v6: not the network, not the gateway (::1)");
                  assert.equal(r.ips[1]!.gateway, "fd00:1::1");
                }
                for (const ip of ips) assert.ok(![...model.values()].flat().includes(ip), "IP handed out twice");
                model.set(c.id, ips);
              } catch (e) {
                const msg = (e as Error).message;
                assert.ok(
                  model.has(c.id) ? /duplicate/.test(msg) : model.size === 5 && /no IP addresses/.test(msg),
                  msg,
                );
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
              .map((r) => `${r.id}=${r.ip}/${r.ip.includes(":") ? 125 : 29}`)
              .sort();
            const want = [...model.entries()].flatMap(([id, ips]) => ips.map((ip) => `c${id}=${ip}`)).sort();
            assert.deepEqual(onDisk, want);
          }
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      }),
      { numRuns: runs(500, 100) },
    );
  });
