/**
 * Robustness: random and mutated packets can neither crash, stall nor mislead the server.
 * 1. In process: every packet gets either no reply or a well-formed reply (QR=1, same ID, fits the UDP limit),
 *    and the handler never throws or rejects.
 * 2. Over the wire: the same kinds of packets are sent over UDP and TCP to a running `podwire dns serve`; then a
 *    normal query is answered correctly and the process is still alive.
 * Case counts: runs(100000, 5000) each.
 */
import assert from "node:assert/strict";
import dgram from "node:dgram";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import fc from "fast-check";
import { RRType } from "../../../dns/records.js";
import { type ClientInfo, DnsHandler } from "../../../dns/server/handler.js";
import { dig, serveDns } from "../../integration/dns/support.js";
import { runs } from "../../support/runs.js";
import { specObjects } from "../../unit/dns/fixtures.js";
import { buildZoneView, type ZoneOptions } from "../../../dns/zone/view.js";
import { anyPacket } from "./packets.js";

const N = runs(100_000, 5_000);
const opts: ZoneOptions = { zone: "cluster.local", ttl: 5, pods: "insecure" };

describe("DNS fuzzing", () => {
  it(`handler: ${N} random/mutated packets get no reply or a well-formed one, never a throw`, async () => {
    const h = new DnsHandler({
      zone: opts,
      allowRecursion: () => true,
      forwarder: {
        resolve: async (q) => ({
          id: 0,
          flags: 0x8180,
          rcode: 0,
          questionKey: q.key,
          answers: [],
          authority: [],
          additional: [],
        }),
      },
    });
    h.setView(buildZoneView(specObjects(), opts));
    const udp: ClientInfo = { address: "127.0.0.1", family: 4, proto: "udp" };
    const pending: Promise<void>[] = [];
    const check = (pkt: Buffer, out: Buffer | undefined) => {
      if (out === undefined) return;
      assert.ok(out.length >= 12, "reply has a header");
      assert.equal(out.readUInt16BE(0), pkt.readUInt16BE(0), "reply carries the query ID");
      assert.ok((out[2] as number) & 0x80, "QR=1");
      assert.ok(out.length <= 1232, "reply fits the UDP limit");
      if (out.length > 512) {
        // only EDNS clients get more than 512 octets
        assert.equal(pkt.readUInt16BE(10), 1);
      }
    };
    fc.assert(
      fc.property(anyPacket, (pkt) => {
        const r = h.handle(pkt, udp);
        if (r instanceof Promise) pending.push(r.then((out) => check(pkt, out)));
        else check(pkt, r);
      }),
      { numRuns: N },
    );
    await Promise.all(pending);
  });

  it(`server: survives ${N} packets over UDP and TCP, then answers a normal query correctly`, async (t) => {
    const dir = mkdtempSync(join(tmpdir(), "podwire-dns-fuzz-"));
    const file = join(dir, "objects.json");
    writeFileSync(file, JSON.stringify({ apiVersion: "v1", kind: "List", items: specObjects() }));
    const server = await serveDns(["--objects", file, "--upstream", "none"]);
    const sock = dgram.createSocket("udp4");
    try {
      const packets = fc.sample(anyPacket, { numRuns: N, seed: Date.now() | 0 });
      // UDP: in bursts, so the kernel buffer is not the thing under test.
      for (let i = 0; i < packets.length; i += 200) {
        await Promise.all(
          packets
            .slice(i, i + 200)
            .map((p) => new Promise<void>((resolve) => sock.send(p, server.port, "127.0.0.1", () => resolve()))),
        );
        await new Promise((r) => setTimeout(r, 2));
      }
      // TCP: a slice of the same packets, framed, on a few connections (some frames lie about their length).
      for (let c = 0; c < 5; c++) {
        await new Promise<void>((resolve) => {
          const s = net.connect(server.port, "127.0.0.1", () => {
            for (const p of packets.slice(c * 200, c * 200 + 200)) {
              const len = Buffer.alloc(2);
              len.writeUInt16BE(p.length);
              s.write(Buffer.concat([len, p]));
            }
            s.end(Buffer.from([0xff, 0xff, 1, 2, 3]));
          });
          s.on("data", () => {});
          s.on("error", () => resolve());
          s.on("close", () => resolve());
        });
      }
      const started = performance.now();
      const r = await dig(server.port, "kubernetes.default.svc.cluster.local", "A");
      t.diagnostic(`normal query answered ${(performance.now() - started).toFixed(1)} ms after the flood`);
      assert.equal(r.status, "NOERROR");
      assert.deepEqual(
        r.answer.map((a) => a.data),
        ["10.3.0.1"],
      );
      const tcp = await dig(server.port, "_https._tcp.headless.default.svc.cluster.local", "SRV", ["+tcp"]);
      assert.equal(tcp.answer.length, 3);
      assert.equal(server.proc.exitCode, null, "server still running");
      assert.equal(RRType.A, 1);
    } finally {
      sock.close();
      const code = await server.stop();
      rmSync(dir, { recursive: true, force: true });
      assert.equal(code, 0, `server exit: ${server.stderr().slice(-500)}`);
    }
  });
});
