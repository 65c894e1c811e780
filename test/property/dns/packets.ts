/** fast-check arbitraries for DNS fuzzing: random bytes, and valid queries with hostile mutations. */
import fc from "fast-check";
import { encodeQuery } from "../../unit/dns/packets.js";

const names = [
  "kubernetes.default.svc.cluster.local",
  "headless.default.svc.cluster.local",
  "_https._tcp.headless.default.svc.cluster.local",
  "my-pet.headless.default.svc.cluster.local",
  "foo.default.svc.cluster.local",
  "1.0.3.10.in-addr.arpa",
  "10-1-2-3.default.pod.cluster.local",
  "dns-version.cluster.local",
  "cluster.local",
  "www.example.com",
  "nope.svc.cluster.local",
];
const types = [1, 2, 5, 6, 12, 15, 16, 28, 33, 41, 251, 252, 255, 65535, 0];

const label = fc.stringMatching(/^[A-Za-z0-9_-]{1,20}$/);
const randomName = fc.array(label, { minLength: 0, maxLength: 6 }).map((ls) => ls.join("."));

export const validQuery = fc
  .record({
    name: fc.oneof(fc.constantFrom(...names), randomName),
    type: fc.constantFrom(...types),
    id: fc.integer({ min: 0, max: 65535 }),
    edns: fc.option(fc.integer({ min: 0, max: 65535 }), { nil: undefined }),
    ednsVersion: fc.constantFrom(0, 0, 0, 1, 255),
    dnssecOk: fc.boolean(),
  })
  .map((q) => {
    const o: Parameters<typeof encodeQuery>[2] = { id: q.id, ednsVersion: q.ednsVersion, dnssecOk: q.dnssecOk };
    if (q.edns !== undefined) o.edns = q.edns;
    return encodeQuery(q.name, q.type, o);
  });

type Mutation = (b: Buffer) => Buffer;

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  // flip a byte
  fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })).map(
    ([i, v]): Mutation =>
      (b) => {
        const c = Buffer.from(b);
        if (c.length) c[i % c.length] = v;
        return c;
      },
  ),
  // truncate
  fc.nat().map(
    (n): Mutation =>
      (b) =>
        b.subarray(0, n % (b.length + 1)),
  ),
  // lying header counts (up to 0xFFFF)
  fc.tuple(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 65535 })).map(
    ([which, v]): Mutation =>
      (b) => {
        const c = Buffer.from(b);
        if (c.length >= 12) c.writeUInt16BE(v, 4 + 2 * which);
        return c;
      },
  ),
  // random flags word (QR, opcode, rcode…)
  fc.integer({ min: 0, max: 65535 }).map(
    (v): Mutation =>
      (b) => {
        const c = Buffer.from(b);
        if (c.length >= 4) c.writeUInt16BE(v, 2);
        return c;
      },
  ),
  // compression pointer (often a loop) in the question name
  fc.integer({ min: 0, max: 0x3fff }).map(
    (p): Mutation =>
      (b) => {
        const c = Buffer.from(b);
        if (c.length >= 14) c.writeUInt16BE(0xc000 | p, 12);
        return c;
      },
  ),
  // garbage appended
  fc.uint8Array({ maxLength: 64 }).map(
    (g): Mutation =>
      (b) =>
        Buffer.concat([b, Buffer.from(g)]),
  ),
  // an oversized label length
  fc.integer({ min: 64, max: 255 }).map(
    (l): Mutation =>
      (b) => {
        const c = Buffer.from(b);
        if (c.length > 12) c[12] = l;
        return c;
      },
  ),
);

export const mutatedQuery = fc
  .tuple(validQuery, fc.array(mutation, { minLength: 1, maxLength: 4 }))
  .map(([q, ms]) => ms.reduce((b, m) => m(b), q));

export const randomPacket = fc.uint8Array({ minLength: 0, maxLength: 600 }).map((a) => Buffer.from(a));

/** What the fuzzers send: random bytes, hostile mutations of queries, and plain valid queries. */
export const anyPacket = fc.oneof(
  { arbitrary: randomPacket, weight: 3 },
  { arbitrary: mutatedQuery, weight: 6 },
  { arbitrary: validQuery, weight: 1 },
);
