import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { AnswerCache, cacheTtl } from "../../../dns/server/cache.js";
import type { WireRR } from "../../../dns/wire/message.js";
import type { UpstreamReply } from "../../../dns/wire/reply.js";

const name = Buffer.from("\x03www\x07example\x03com\x00", "latin1");
const a = (ttl: number): WireRR => ({ owner: name, type: 1, class: 1, ttl, rdata: Buffer.from([192, 0, 2, 1]) });
function soa(ttl: number, minimum: number): WireRR {
  const rdata = Buffer.alloc(2 + 20);
  rdata.writeUInt32BE(minimum, rdata.length - 4);
  return { owner: Buffer.from([0]), type: 6, class: 1, ttl, rdata };
}
function reply(rcode: number, answers: WireRR[], authority: WireRR[] = []): UpstreamReply {
  return { id: 1, flags: 0x8180 | rcode, rcode, questionKey: "k", answers, authority, additional: [] };
}

describe("forward cache (RFC 2308)", () => {
  it("positive answers live for the smallest answer TTL, capped at 3600", () => {
    assert.equal(cacheTtl(reply(0, [a(300), a(60)])), 60);
    assert.equal(cacheTtl(reply(0, [a(99999)])), 3600);
  });
  it("negative answers live for min(SOA TTL, SOA minimum); without SOA they are not cached", () => {
    assert.equal(cacheTtl(reply(3, [], [soa(900, 30)])), 30);
    assert.equal(cacheTtl(reply(0, [], [soa(20, 300)])), 20);
    assert.equal(cacheTtl(reply(3, [])), 0);
    assert.equal(cacheTtl(reply(2, [])), 0, "SERVFAIL is not cached");
  });
  it("served copies have TTLs reduced by their age, and expire", () => {
    let now = 1_000_000;
    const c = new AnswerCache(10, { now: () => now });
    c.put("k", reply(0, [a(10)]));
    now += 4500;
    assert.equal(c.get("k")?.answers[0]?.ttl, 6);
    now += 6000;
    assert.equal(c.get("k"), undefined);
    assert.equal(c.hits, 1);
    assert.equal(c.misses, 1);
  });
  it("holds at most `capacity` entries, dropping the oldest", () => {
    const c = new AnswerCache(2, { now: () => 0 });
    for (const k of ["a", "b", "c"]) c.put(k, reply(0, [a(60)]));
    assert.equal(c.size, 2);
    assert.equal(c.get("a"), undefined);
    assert.ok(c.get("c"));
  });
});
