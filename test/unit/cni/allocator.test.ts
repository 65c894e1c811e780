import assert from "node:assert/strict";
import { test } from "node:test";
import {
  canonicalizeRange,
  canonicalizeRangeSet,
  checkRequested,
  IpamConfigError,
  nextIp,
} from "../../../cni/ipam/allocator.js";
import { canonicalIp, formatIp, parseCidr, parseIp } from "../../../cni/ipam/ip.js";

const formatIp4 = (n: bigint) => formatIp(4, n);
const parseIp4 = (s: string) => parseIp(s).n;
import { resultForVersion, runSkel } from "../../../cni/plugin/skel.js";
import { parseSubnetEnv } from "../../../cni/subnetenv.js";

test("range defaults follow host-local: gateway .1, start .1, end broadcast-1; host bits rejected", () => {
  const r = canonicalizeRange({ subnet: "10.244.1.0/24" });
  assert.equal(formatIp4(r.gateway), "10.244.1.1");
  assert.equal(formatIp4(r.start), "10.244.1.1");
  assert.equal(formatIp4(r.end), "10.244.1.254");
  assert.throws(() => canonicalizeRange({ subnet: "10.244.1.5/24" }), IpamConfigError);
  assert.throws(() => canonicalizeRange({ subnet: "10.244.1.0/24", rangeStart: "10.244.2.1" }), IpamConfigError);
});

test("nextIp skips the gateway, continues after last reserved and wraps across ranges", () => {
  const set = canonicalizeRangeSet([
    { subnet: "10.0.0.0/30" }, // .1 gw, only .2 usable... start .1 skip gw
    { subnet: "10.0.1.0/29", rangeStart: "10.0.1.3", rangeEnd: "10.0.1.4" },
  ]);
  const taken = new Set<bigint>();
  const seq: string[] = [];
  let last: bigint | undefined;
  for (let i = 0; i < 3; i++) {
    const ip = nextIp(set, (x) => taken.has(x), last)!;
    taken.add(ip);
    last = ip;
    seq.push(formatIp4(ip));
  }
  assert.deepEqual(seq, ["10.0.0.2", "10.0.1.3", "10.0.1.4"]);
  assert.equal(
    nextIp(set, (x) => taken.has(x), last),
    undefined,
  );
  taken.delete(parseIp4("10.0.0.2"));
  assert.equal(formatIp4(nextIp(set, (x) => taken.has(x), last)!), "10.0.0.2");
  assert.throws(() => checkRequested(set, parseIp4("10.0.0.1")), /gateway/);
});

test("IPv6: Go's text form, host-local's v6 defaults (end = last address), mixed families rejected", () => {
  for (const [inp, out] of [
    ["fd00:10:244:1::2", "fd00:10:244:1::2"],
    ["FD00:0:0:0:0:0:0:1", "fd00::1"],
    ["2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"],
    ["::", "::"],
    ["::ffff:10.1.2.3", "::ffff:10.1.2.3"],
    ["1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8"],
    ["fe80::1:2", "fe80::1:2"],
  ] as const)
    assert.equal(canonicalIp(inp), out);
  for (const bad of ["1::2::3", "1:2:3:4:5:6:7:8:9", "12345::", "g::1", "1:2:3:4:5:6:7"])
    assert.throws(() => parseIp(bad), /invalid/);
  assert.equal(parseCidr("fd00::/64").len, 64);
  const r = canonicalizeRange({ subnet: "fd00:10:244:1::/64" });
  assert.equal(formatIp(6, r.gateway), "fd00:10:244:1::1");
  assert.equal(formatIp(6, r.end), "fd00:10:244:1:ffff:ffff:ffff:ffff");
  const set = canonicalizeRangeSet([{ subnet: "fd00::/120", rangeStart: "fd00::fe" }]);
  const taken = new Set<bigint>();
  let last: bigint | undefined;
  const seq: string[] = [];
  for (let i = 0; i < 3; i++) {
    const ip = nextIp(set, (x) => taken.has(x), last);
    if (ip === undefined) break;
    taken.add(ip);
    last = ip;
    seq.push(formatIp(6, ip));
  }
  assert.deepEqual(seq, ["fd00::fe", "fd00::ff"]);
  assert.throws(() => canonicalizeRangeSet([{ subnet: "10.0.0.0/24" }, { subnet: "fd00::/64" }]), /mixed/);
  assert.throws(() => canonicalizeRange({ subnet: "fd00::/64", gateway: "10.0.0.1" }), /family/);
});

test("subnet.env parses flannel's format and rejects missing keys", () => {
  const e = parseSubnetEnv(
    "FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.1.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n",
  );
  assert.deepEqual(e, { networks: ["10.244.0.0/16"], subnet: "10.244.1.1/24", mtu: 1450, ipMasq: true });
  assert.throws(() => parseSubnetEnv("FLANNEL_NETWORK=10.244.0.0/16\n"), /is missing/);
});

test("skeleton: VERSION, unknown command, CHECK before 0.4.0 refused, result shape per version", async () => {
  const h = {
    add: async () => ({ cniVersion: "x", ips: [{ address: "10.0.0.2/24", interface: 0 }] }),
    del: async () => {},
    check: async () => {},
    gc: async () => {},
    status: async () => {},
  };
  const v = await runSkel({ CNI_COMMAND: "VERSION" }, '{"cniVersion":"1.0.0"}', h);
  assert.equal(v.code, 0);
  assert.equal(JSON.parse(v.stdout).cniVersion, "1.0.0");
  const u = await runSkel({ CNI_COMMAND: "FOO" }, "{}", h);
  assert.equal(JSON.parse(u.stdout).code, 4);
  const env = { CNI_COMMAND: "CHECK", CNI_CONTAINERID: "a", CNI_NETNS: "/x", CNI_IFNAME: "eth0" };
  const c = await runSkel(env, '{"cniVersion":"0.3.1","name":"n"}', h);
  assert.equal(JSON.parse(c.stdout).code, 1);
  const g = await runSkel({ CNI_COMMAND: "GC" }, '{"cniVersion":"1.0.0","name":"n"}', h);
  assert.equal(JSON.parse(g.stdout).code, 1);
  assert.equal(resultForVersion({ cniVersion: "", ips: [{ address: "10.0.0.2/24" }] }, "0.3.1").ips![0]!.version, "4");
  assert.equal(
    resultForVersion({ cniVersion: "", ips: [{ address: "10.0.0.2/24", version: "4" }] }, "1.0.0").ips![0]!.version,
    undefined,
  );
});
