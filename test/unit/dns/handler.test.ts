import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { RRType } from "../../../dns/records.js";
import { AnswerCache } from "../../../dns/server/cache.js";
import { type ClientInfo, DnsHandler, type Resolver } from "../../../dns/server/handler.js";
import type { Query } from "../../../dns/wire/query.js";
import type { UpstreamReply } from "../../../dns/wire/reply.js";
import { buildZoneView, type ZoneOptions } from "../../../dns/zone/view.js";
import { service, slice, specObjects } from "./fixtures.js";
import { runs } from "../../support/runs.js";
import { decode, encodeQuery } from "./packets.js";

const opts: ZoneOptions = { zone: "cluster.local", ttl: 5, pods: "insecure" };
const udp: ClientInfo = { address: "127.0.0.1", family: 4, proto: "udp" };
const tcp: ClientInfo = { ...udp, proto: "tcp" };
const outsider: ClientInfo = { address: "203.0.113.9", family: 4, proto: "udp" };

function handler(extra: Partial<ConstructorParameters<typeof DnsHandler>[0]> = {}, objects = specObjects()) {
  const h = new DnsHandler({ zone: opts, allowRecursion: (a) => a.startsWith("127."), ...extra });
  h.setView(buildZoneView(objects, opts, 7));
  return h;
}

function ask(h: DnsHandler, msg: Buffer, client = udp): Buffer | undefined {
  const r = h.handle(msg, client);
  assert.ok(!(r instanceof Promise), "cluster answers are synchronous");
  return r;
}

async function askAsync(h: DnsHandler, msg: Buffer, client = udp): Promise<Buffer | undefined> {
  return await h.handle(msg, client);
}

/** Headless service with n ready endpoints. */
function bigHeadless(n: number) {
  const eps = Array.from({ length: n }, (_, i) => ({ ip: `10.9.${Math.floor(i / 250)}.${(i % 250) + 1}` }));
  return [
    service("default", "big", { clusterIP: "None", ports: [{ name: "http", port: 80 }] }),
    slice("default", "big", eps, [{ name: "http", port: 80 }]),
  ];
}

describe("DNS handler: replies on the wire", () => {
  it("answers with QR, AA, the query's ID and RD, and echoes the question's case", () => {
    const h = handler();
    const out = decode(ask(h, encodeQuery("KubeRnetes.default.svc.Cluster.local", RRType.A, { id: 777 })) as Buffer);
    assert.equal(out.id, 777);
    assert.ok(out.qr && out.aa && out.rd && !out.tc);
    assert.equal(out.question?.name, "KubeRnetes.default.svc.Cluster.local");
    assert.equal(out.answers[0]?.name, "KubeRnetes.default.svc.Cluster.local");
    assert.equal(out.answers[0]?.address, "10.3.0.1");
  });

  it("fast path: a repeated question is answered from the stored reply with ID, RD and case patched", () => {
    const h = handler();
    const first = ask(h, encodeQuery("kubernetes.default.svc.cluster.local", RRType.A, { id: 1 })) as Buffer;
    const before = h.fastHits;
    const again = ask(h, encodeQuery("KUBERNETES.default.svc.cluster.local", RRType.A, { id: 2, rd: false })) as Buffer;
    assert.equal(h.fastHits, before + 1);
    const d = decode(again);
    assert.equal(d.id, 2);
    assert.equal(d.rd, false);
    assert.equal(d.question?.name, "KUBERNETES.default.svc.cluster.local");
    assert.equal(d.answers[0]?.address, "10.3.0.1");
    assert.equal(first.length, again.length);
  });

  it("fast path is invalidated when the zone view changes", () => {
    const h = handler();
    ask(h, encodeQuery("kubernetes.default.svc.cluster.local", RRType.A));
    const objs = specObjects().map((o) =>
      o.kind === "Service" && o.metadata.name === "kubernetes"
        ? service("default", "kubernetes", { clusterIP: "10.3.0.77", ports: [{ port: 443 }] })
        : o,
    );
    h.setView(buildZoneView(objs, opts, 8));
    const d = decode(ask(h, encodeQuery("kubernetes.default.svc.cluster.local", RRType.A)) as Buffer);
    assert.equal(d.answers[0]?.address, "10.3.0.77");
  });

  it("fast path reuse: every reply is byte-identical to one built from scratch (random case, EDNS, DO, UDP/TCP)", () => {
    const mid = Array.from({ length: 6 }, (_, i) => ({ ip: `10.8.0.${i + 1}` }));
    const objects = [
      ...specObjects(),
      ...bigHeadless(120),
      service("default", "mid", { clusterIP: "None", ports: [{ name: "http", port: 80 }] }),
      slice("default", "mid", mid, [{ name: "http", port: 80 }]),
    ];
    const names = [
      "kubernetes.default.svc.cluster.local",
      "big.default.svc.cluster.local",
      "_http._tcp.big.default.svc.cluster.local",
      "_http._tcp.mid.default.svc.cluster.local", // answers fit 512, the A glue does not all fit
      "nope.default.svc.cluster.local",
      "dns-version.cluster.local",
    ];
    const query = fc.record({
      name: fc.constantFrom(...names),
      upper: fc.array(fc.boolean(), { minLength: 64, maxLength: 64 }),
      qtype: fc.constantFrom(RRType.A, RRType.AAAA, RRType.SRV, RRType.TXT, 65, 97),
      edns: fc.option(fc.constantFrom(512, 600, 1232, 4096), { nil: undefined }),
      dnssecOk: fc.boolean(),
      tcp: fc.boolean(),
      id: fc.integer({ min: 0, max: 0xffff }),
      rd: fc.boolean(),
    });
    fc.assert(
      fc.property(fc.array(query, { minLength: 1, maxLength: 40 }), (qs) => {
        const h = handler({}, objects);
        const fresh = handler({}, objects);
        const view = buildZoneView(objects, opts, 7);
        for (const q of qs) {
          const name = [...q.name].map((c, i) => (q.upper[i % 64] ? c.toUpperCase() : c)).join("");
          const msg = encodeQuery(name, q.qtype, {
            id: q.id,
            rd: q.rd,
            ...(q.edns !== undefined ? { edns: q.edns, dnssecOk: q.dnssecOk } : {}),
          });
          const client = q.tcp ? tcp : udp;
          fresh.setView(view); // no stored replies: built from scratch
          const want = ask(fresh, msg, client) as Buffer;
          const got = ask(h, msg, client) as Buffer;
          assert.equal(
            got.toString("hex"),
            want.toString("hex"),
            `${name} type ${q.qtype} edns ${q.edns} tcp ${q.tcp}`,
          );
        }
      }),
      { numRuns: runs(1000, 150) },
    );
  });

  it("negative answers: NXDOMAIN and NODATA with the SOA in authority", () => {
    const h = handler();
    const nx = decode(ask(h, encodeQuery("nope.default.svc.cluster.local", RRType.A)) as Buffer);
    assert.equal(nx.rcode, 3);
    assert.equal(nx.authorities[0]?.type, RRType.SOA);
    assert.equal(nx.authorities[0]?.name, "cluster.local");
    const nodata = decode(ask(h, encodeQuery("kubernetes.default.svc.cluster.local", RRType.AAAA)) as Buffer);
    assert.equal(nodata.rcode, 0);
    assert.equal(nodata.answers.length, 0);
    assert.equal(nodata.authorities[0]?.type, RRType.SOA);
  });

  it("SRV targets are written uncompressed (RFC 2782)", () => {
    const h = handler();
    const buf = ask(h, encodeQuery("_https._tcp.kubernetes.default.svc.cluster.local", RRType.SRV)) as Buffer;
    const d = decode(buf);
    assert.equal(d.answers[0]?.target, "kubernetes.default.svc.cluster.local");
    // Locate the SRV RDATA: the uncompressed target must appear verbatim after priority/weight/port.
    const target = Buffer.from("\x0akubernetes\x07default\x03svc\x07cluster\x05local\x00", "latin1");
    const at = buf.indexOf(target, 12 + 50);
    assert.ok(at > 0, "uncompressed target present in RDATA");
    assert.equal(buf.readUInt16BE(at - 2), 443);
  });

  it("UDP without EDNS: at most 512 octets, as many whole answers as fit, TC=1", () => {
    const h = handler({}, bigHeadless(100));
    const buf = ask(h, encodeQuery("big.default.svc.cluster.local", RRType.A)) as Buffer;
    assert.ok(buf.length <= 512);
    const d = decode(buf);
    assert.ok(d.tc);
    assert.ok(d.answers.length > 10 && d.answers.length < 100, `${d.answers.length} answers`);
    // no room for one more 16-octet record
    assert.ok(buf.length + 16 > 512);
  });

  it("EDNS: OPT echoed with payload 1232 and DO echoed; a larger client size is capped at 1232", () => {
    const h = handler({}, bigHeadless(100));
    const buf = ask(
      h,
      encodeQuery("big.default.svc.cluster.local", RRType.A, { edns: 4096, dnssecOk: true }),
    ) as Buffer;
    assert.ok(buf.length <= 1232 && buf.length > 512);
    const d = decode(buf);
    assert.ok(d.tc);
    const opt = d.additionals.find((r) => r.type === RRType.OPT);
    assert.equal(opt?.class, 1232);
    assert.equal(buf.readUInt16BE(buf.length - 4) & 0x8000, 0x8000, "DO bit echoed");
    const small = decode(
      ask(h, encodeQuery("kubernetes.default.svc.cluster.local", RRType.A, { edns: 1232 })) ?? Buffer.alloc(0),
    );
    assert.equal(small.rcode, 3); // not in this view: still a full, OPT-carrying reply
    assert.ok(small.additionals.some((r) => r.type === RRType.OPT));
  });

  it("TCP carries the full answer", () => {
    const h = handler({}, bigHeadless(300));
    const d = decode(ask(h, encodeQuery("big.default.svc.cluster.local", RRType.A), tcp) as Buffer);
    assert.ok(!d.tc);
    assert.equal(d.answers.length, 300);
  });

  it("bad packets: FORMERR, NOTIMP, BADVERS, and responses or runts are dropped", () => {
    const h = handler();
    const q = encodeQuery("kubernetes.default.svc.cluster.local", RRType.A);
    const two = Buffer.from(q);
    two.writeUInt16BE(2, 4);
    assert.equal(decode(ask(h, two) as Buffer).rcode, 1);
    const status = Buffer.from(q);
    status[2] = (status[2] as number) | (2 << 3);
    assert.equal((ask(h, status) as Buffer)[3]! & 0xf, 4);
    const resp = Buffer.from(q);
    resp[2] = (resp[2] as number) | 0x80;
    assert.equal(ask(h, resp), undefined);
    assert.equal(ask(h, Buffer.alloc(5)), undefined);
    const badvers = ask(
      h,
      encodeQuery("kubernetes.default.svc.cluster.local", RRType.A, { edns: 1232, ednsVersion: 1 }),
    ) as Buffer;
    // extended RCODE 16 = header 0 + OPT high bits 1
    assert.equal(badvers[3]! & 0xf, 0);
    assert.equal(badvers[badvers.length - 6], 1);
    const truncatedName = q.subarray(0, 20);
    assert.equal(decode(ask(h, truncatedName) as Buffer).rcode, 1);
  });

  it("an additional record other than OPT goes through dns2's decoder and is still answered", () => {
    const h = handler();
    const q = encodeQuery("kubernetes.default.svc.cluster.local", RRType.A);
    q.writeUInt16BE(1, 10);
    // additional: TXT record named "x" with rdata "\x01a"
    const extra = Buffer.from([1, 0x78, 0, 0, 16, 0, 1, 0, 0, 0, 0, 0, 2, 1, 0x61]);
    const d = decode(ask(h, Buffer.concat([q, extra])) as Buffer);
    assert.equal(d.rcode, 0);
    assert.equal(d.answers[0]?.address, "10.3.0.1");
  });

  it("SERVFAIL for the cluster zone until the first sync", () => {
    const h = new DnsHandler({ zone: opts, allowRecursion: () => true });
    const d = decode(ask(h, encodeQuery("kubernetes.default.svc.cluster.local", RRType.A)) as Buffer);
    assert.equal(d.rcode, 2);
  });
});

function upstreamReply(q: Query, rcode: number, ttl: number, withSoa = false): UpstreamReply {
  const a = Buffer.from([192, 0, 2, 53]);
  const owner = q.question.subarray(0, q.question.length - 4);
  const soaRdata = Buffer.concat([Buffer.from([0, 0]), Buffer.alloc(20, 0)]);
  soaRdata.writeUInt32BE(60, soaRdata.length - 4);
  return {
    id: 0,
    flags: 0x8180 | rcode,
    rcode,
    questionKey: q.key,
    answers: rcode === 0 ? [{ owner, type: 1, class: 1, ttl, rdata: a }] : [],
    authority: withSoa ? [{ owner: Buffer.from([0]), type: 6, class: 1, ttl: 300, rdata: soaRdata }] : [],
    additional: [],
  };
}

describe("DNS handler: forward chain", () => {
  it("forwards names outside the zone for allowed clients and caches the reply", async () => {
    let calls = 0;
    const fwd: Resolver = {
      resolve: async (q) => {
        calls++;
        return upstreamReply(q, 0, 120);
      },
    };
    const h = handler({ forwarder: fwd, cache: new AnswerCache() });
    const d = decode((await askAsync(h, encodeQuery("www.example.com", RRType.A))) as Buffer);
    assert.equal(d.answers[0]?.address, "192.0.2.53");
    assert.ok(d.ra && !d.aa);
    await askAsync(h, encodeQuery("WWW.example.com", RRType.A, { id: 9 }));
    assert.equal(calls, 1, "second query served from the cache");
  });

  it("refuses recursion to clients outside the allowed networks, and when nothing is forwarded", async () => {
    const fwd: Resolver = { resolve: async (q) => upstreamReply(q, 0, 120) };
    const h = handler({ forwarder: fwd });
    assert.equal(decode((await askAsync(h, encodeQuery("www.example.com", RRType.A), outsider)) as Buffer).rcode, 5);
    // cluster answers are still served to everyone
    assert.equal(
      decode((await askAsync(h, encodeQuery("kubernetes.default.svc.cluster.local", RRType.A), outsider)) as Buffer)
        .rcode,
      0,
    );
    const none = handler();
    assert.equal(decode((await askAsync(none, encodeQuery("www.example.com", RRType.A))) as Buffer).rcode, 5);
  });

  it("an upstream failure or a throwing resolver becomes SERVFAIL, never a rejection", async () => {
    const h = handler({
      forwarder: {
        resolve: () => {
          throw new Error("boom");
        },
      },
    });
    assert.equal(decode((await askAsync(h, encodeQuery("www.example.com", RRType.A))) as Buffer).rcode, 2);
    const h2 = handler({ forwarder: { resolve: async () => Promise.reject(new Error("down")) } });
    assert.equal(decode((await askAsync(h2, encodeQuery("www.example.com", RRType.A))) as Buffer).rcode, 2);
  });

  it("ExternalName pointing outside: the CNAME plus the target's records from upstream", async () => {
    const h = handler({ forwarder: { resolve: async (q) => upstreamReply(q, 0, 60) } });
    const d = decode((await askAsync(h, encodeQuery("foo.default.svc.cluster.local", RRType.A))) as Buffer);
    assert.equal(d.answers[0]?.type, RRType.CNAME);
    assert.equal(d.answers[1]?.name, "www.example.com");
    assert.equal(d.answers[1]?.address, "192.0.2.53");
  });

  it("unknown reverse names fall through to forwarding", async () => {
    let asked = "";
    const h = handler({
      forwarder: {
        resolve: async (q) => {
          asked = q.labels.join(".");
          return upstreamReply(q, 3, 0, true);
        },
      },
    });
    const d = decode((await askAsync(h, encodeQuery("9.9.9.9.in-addr.arpa", RRType.PTR))) as Buffer);
    assert.equal(asked, "9.9.9.9.in-addr.arpa");
    assert.equal(d.rcode, 3);
  });

  it("stub domains take names under their suffix (longest suffix wins); others use the default forwarder", async () => {
    const asked: string[] = [];
    const via = (tag: string): Resolver => ({
      resolve: async (q) => {
        asked.push(`${tag}:${q.labels.join(".")}`);
        return upstreamReply(q, 0, 60);
      },
    });
    const h = handler({
      forwarder: via("default"),
      stubs: [
        { suffix: "corp.example", resolver: via("corp") },
        { suffix: "eu.corp.example", resolver: via("eu") },
      ],
    });
    for (const n of ["a.corp.example", "b.eu.corp.example", "corp.example", "www.example.com"])
      await askAsync(h, encodeQuery(n, RRType.A));
    assert.deepEqual(asked, [
      "corp:a.corp.example",
      "eu:b.eu.corp.example",
      "corp:corp.example",
      "default:www.example.com",
    ]);
    const onlyStub = handler({ stubs: [{ suffix: "corp.example", resolver: via("corp") }] });
    assert.equal(decode((await askAsync(onlyStub, encodeQuery("x.corp.example", RRType.A))) as Buffer).rcode, 0);
    assert.equal(decode((await askAsync(onlyStub, encodeQuery("www.example.com", RRType.A))) as Buffer).rcode, 5);
  });
});
