import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { stringify } from "yaml";
import { overallExpected, overallInput } from "./kube-cases.js";
import { sortIPTablesRules } from "./support.js";

const bin = new URL("../../../../bin/podwire", import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), "pw-proxy-render-"));
after(() => rmSync(dir, { recursive: true, force: true }));

function podwire(...args: string[]) {
  return spawnSync(bin, args, { encoding: "utf8" });
}

/** kube-proxy's test output as production prints it: mark via %#08x, no nfacct counters (podwire creates none). */
function asProduction(expected: string): string {
  return expected
    .split("\n")
    .filter((l) => !l.includes("--nfacct-name localhost_nps_accepted_pkts"))
    .map((l) =>
      l.replace(" -m nfacct --nfacct-name ct_state_invalid_dropped_pkts", "").replaceAll("0x4000", "0x00004000"),
    )
    .join("\n");
}

describe("podwire proxy render", () => {
  const input = overallInput();
  const file = join(dir, "objects.yaml");
  const node = {
    apiVersion: "v1",
    kind: "Node",
    metadata: { name: "test-hostname" },
    status: { addresses: [{ type: "InternalIP", address: "192.168.0.2" }] },
  };
  writeFileSync(
    file,
    stringify({ apiVersion: "v1", kind: "List", items: [...input.services, ...input.endpointSlices, node] }),
  );

  it("renders kube-proxy's TestOverallIPTablesRules case identically after the canonical sort", () => {
    const r = podwire(
      "proxy",
      "render",
      "--objects",
      file,
      "--node-name",
      "test-hostname",
      "--cluster-cidr",
      "10.0.0.0/8",
    );
    assert.equal(r.status, 0, r.stderr);
    assert.equal(sortIPTablesRules(r.stdout), asProduction(overallExpected));
  });

  it("takes node IPs from the Node object unless --node-ip is given", () => {
    const a = podwire(
      "proxy",
      "render",
      "--objects",
      file,
      "--node-name",
      "test-hostname",
      "--nodeport-addresses",
      "192.168.0.0/16",
    );
    assert.equal(a.status, 0, a.stderr);
    assert.match(a.stdout, /-d 192\.168\.0\.2 -j KUBE-NODEPORTS/);
    const b = podwire(
      "proxy",
      "render",
      "--objects",
      file,
      "--node-name",
      "test-hostname",
      "--node-ip",
      "192.168.7.7",
      "--nodeport-addresses",
      "192.168.0.0/16",
    );
    assert.match(b.stdout, /-d 192\.168\.7\.7 -j KUBE-NODEPORTS/);
    assert.doesNotMatch(b.stdout, /-d 192\.168\.0\.2 -j KUBE-NODEPORTS/);
  });

  it("honours --masquerade-bit, --masquerade-all and --localhost-nodeports=false", () => {
    const r = podwire(
      "proxy",
      "render",
      "--objects",
      file,
      "--node-name",
      "test-hostname",
      "--masquerade-bit",
      "3",
      "--masquerade-all",
      "--localhost-nodeports=false",
    );
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /--or-mark 0x00000008\n/);
    assert.match(r.stdout, /-d 172\.30\.0\.41 --dport 80 -j KUBE-MARK-MASQ\n/);
    assert.match(r.stdout, /--dst-type LOCAL ! -d 127\.0\.0\.0\/8 -j KUBE-NODEPORTS/);
    assert.doesNotMatch(r.stdout, /KUBE-FIREWALL/);
  });

  it("exits 2 on bad flag values and 1 on an unreadable objects file", () => {
    assert.equal(podwire("proxy", "render", "--objects", file, "--cluster-cidr", "nope").status, 2);
    assert.equal(podwire("proxy", "render", "--objects", file, "--ip-family", "ipv5").status, 2);
    assert.equal(podwire("proxy", "render").status, 2);
    assert.equal(podwire("proxy", "render", "--objects", join(dir, "missing.yaml")).status, 1);
  });
});
