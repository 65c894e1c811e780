import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { ensureJumpRules as ensureIptablesModeJumps } from "../../../proxier/iptables/jumps.js";
import { renderFromObjects } from "../../../proxier/iptables/offline.js";
import { cleanupIptablesModeRules } from "../../../proxier/userspace/modeswitch.js";
import { renderUserspaceRules } from "../../../proxier/userspace/rules.js";
import { cleanupUserspaceRules, ensureJumpRules } from "../../../proxier/userspace/runner.js";
import { inputFromObjects } from "../../../proxier/userspace/model.js";
import { IptablesRunner } from "../../../src/netlinux/iptables.js";
import { NetnsScope } from "../../support/netns.js";
import { NODE_IP, iptablesSave, objectsFor } from "./support.js";

describe("mode switch: each mode removes the other's rules (real iptables, in a namespace)", () => {
  const scope = new NetnsScope("um");
  let ns: string;
  let ipt: IptablesRunner;
  const objects = objectsFor([
    {
      name: "web",
      clusterIP: "10.96.0.10",
      port: 80,
      targetPort: 8080,
      nodePort: 30080,
      endpoints: ["10.244.1.2", "10.244.2.2"],
    },
    { name: "dns", clusterIP: "10.96.0.11", port: 53, targetPort: 53, protocol: "UDP", endpoints: ["10.244.1.2"] },
  ]);

  before(async () => {
    ns = await scope.add("node");
    ipt = new IptablesRunner({ backend: "nft", netns: ns });
    // Something that is not ours and must survive.
    await ipt.ensureRule("append", "filter", "INPUT", ["-p", "tcp", "--dport", "22", "-j", "ACCEPT"]);
  });
  after(() => scope.cleanup());

  it("userspace start removes the iptables mode's chains and jumps, keeping foreign rules", async () => {
    const r = renderFromObjects(objects, { nodeName: "n1", clusterCIDRs: ["10.244.0.0/16"] });
    await ipt.restore(r.payload);
    await ensureIptablesModeJumps(ipt, true);
    const before = await iptablesSave(ns);
    assert.match(before, /-A PREROUTING .*-j KUBE-SERVICES/);
    assert.match(before, /:KUBE-SVC-/);
    const removed = await cleanupIptablesModeRules(ipt);
    assert.ok(removed > 5);
    const afterSave = await iptablesSave(ns);
    assert.doesNotMatch(afterSave, /KUBE-(SERVICES|NODEPORTS|SVC|SEP|EXT|POSTROUTING|MARK-MASQ|FORWARD|PROXY)/);
    assert.match(afterSave, /-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT/);
    assert.equal(await cleanupIptablesModeRules(ipt), 0, "idempotent");
  });

  it("cleanupUserspaceRules (for the iptables mode to call) removes the five chains and their jumps", async () => {
    const input = inputFromObjects(objects, "n1");
    await ipt.restore(
      renderUserspaceRules(input, {
        proxyPorts: new Map([
          ["default/web:p/tcp", 40001],
          ["default/dns:p/udp", 40002],
        ]),
      }),
    );
    await ensureJumpRules(ipt);
    const mid = await iptablesSave(ns);
    assert.match(mid, /-j REDIRECT --to-ports 40001/);
    assert.match(mid, new RegExp(`DNAT --to-destination ${NODE_IP.replace(/\./g, "\\.")}:40002`));
    await cleanupUserspaceRules(ipt);
    const end = await iptablesSave(ns);
    assert.doesNotMatch(end, /KUBE-(PORTALS|NODEPORT)/);
    // Only kubelet's KUBE-FIREWALL (written by the iptables mode above, kept on purpose) may remain.
    assert.deepEqual([...new Set(end.match(/KUBE-[A-Z-]+/g) ?? [])], ["KUBE-FIREWALL"]);
    assert.match(end, /--dport 22 -j ACCEPT/);
  });
});
