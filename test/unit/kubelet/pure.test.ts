import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import type { Pod } from "../../../src/api/core.js";
import { RestartBackoff, shouldRestart } from "../../../src/kubelet/backoff.js";
import { buildPodStatus, type ContainerView, podPhase } from "../../../src/kubelet/podstatus.js";
import { applyOutcome, initialProbeState } from "../../../src/kubelet/probes.js";
import { formatResolvConf, podResolvConf } from "../../../src/kubelet/resolvconf.js";
import { runs } from "../../support/runs.js";

const host = "nameserver 192.0.2.53\nsearch corp.example\noptions edns0\n";
function pod(extra: Partial<Pod["spec"]> = {}, ns = "team"): Pod {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { namespace: ns, name: "p" },
    spec: { containers: [{ name: "c" }], ...extra },
  };
}

describe("per-pod resolv.conf", () => {
  const s = { clusterDNS: ["10.96.0.10"], clusterDomain: "cluster.local", hostResolvConf: host };
  it("ClusterFirst: cluster DNS, namespace search path, ndots:5", () => {
    assert.equal(
      formatResolvConf(podResolvConf(pod(), s)),
      "nameserver 10.96.0.10\nsearch team.svc.cluster.local svc.cluster.local cluster.local corp.example\noptions ndots:5\n",
    );
  });
  it("Default: the node's file", () => {
    assert.equal(
      formatResolvConf(podResolvConf(pod({ dnsPolicy: "Default" }), s)),
      "nameserver 192.0.2.53\nsearch corp.example\noptions edns0\n",
    );
  });
  it("None + dnsConfig: only what the pod says", () => {
    const r = podResolvConf(
      pod({ dnsPolicy: "None", dnsConfig: { nameservers: ["1.2.3.4"], options: [{ name: "ndots", value: "2" }] } }),
      s,
    );
    assert.equal(formatResolvConf(r), "nameserver 1.2.3.4\noptions ndots:2\n");
  });
});

describe("restart back-off", () => {
  it("doubles from the initial delay up to the cap, resets after a long run", () => {
    const b = new RestartBackoff({ initialMs: 10, maxMs: 50, resetAfterMs: 1000 });
    assert.deepEqual([b.next(0), b.next(0), b.next(0), b.next(0), b.next(0)], [10, 20, 40, 50, 50]);
    assert.equal(b.next(5000), 10);
  });
  it("restartPolicy decides restarts", () => {
    assert.equal(shouldRestart("Always", 0), true);
    assert.equal(shouldRestart("OnFailure", 0), false);
    assert.equal(shouldRestart("OnFailure", 1), true);
    assert.equal(shouldRestart("Never", 1), false);
  });
});

describe("probe thresholds", () => {
  it("readiness needs successThreshold successes; failureThreshold failures flip it back", () => {
    const probe = { successThreshold: 2, failureThreshold: 3 };
    let s = initialProbeState("readiness");
    const ok = { ok: true, message: "" };
    const bad = { ok: false, message: "x" };
    s = applyOutcome(s, ok, probe);
    assert.equal(s.result, false);
    s = applyOutcome(s, ok, probe);
    assert.equal(s.result, true);
    s = applyOutcome(applyOutcome(s, bad, probe), bad, probe);
    assert.equal(s.result, true, "two failures < threshold 3");
    s = applyOutcome(s, bad, probe);
    assert.equal(s.result, false);
  });
  it("property: the verdict after a run equals the threshold rule applied to the streak", () => {
    fc.assert(
      fc.property(
        fc.array(fc.boolean(), { maxLength: 30 }),
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 1, max: 4 }),
        (seq, st, ft) => {
          let s = initialProbeState("readiness");
          let expected = false;
          let succ = 0;
          let fail = 0;
          for (const ok of seq) {
            s = applyOutcome(s, { ok, message: "" }, { successThreshold: st, failureThreshold: ft });
            if (ok) {
              succ++;
              fail = 0;
              if (succ >= st) expected = true;
            } else {
              fail++;
              succ = 0;
              if (fail >= ft) expected = false;
            }
          }
          assert.equal(s.result, expected);
        },
      ),
      { numRuns: runs(2000, 200) },
    );
  });
});

describe("pod phase and status", () => {
  const now = "2026-01-01T00:00:00Z";
  const running: ContainerView = {
    name: "c",
    image: "netexec",
    restartCount: 0,
    ready: true,
    started: true,
    state: { kind: "running", startedAt: now },
    willRestart: true,
  };
  const exited = (code: number, willRestart: boolean): ContainerView => ({
    ...running,
    ready: false,
    state: { kind: "terminated", exitCode: code, reason: code === 0 ? "Completed" : "Error", finishedAt: now },
    willRestart,
  });
  const view = (cs: ContainerView[]) => ({
    podIPs: ["10.244.1.2"],
    hostIP: "198.18.0.2",
    startTime: now,
    containers: cs,
  });
  it("running container → Running, Ready, podIP set", () => {
    const st = buildPodStatus(pod(), view([running]), now);
    assert.equal(st.phase, "Running");
    assert.equal(st.podIP, "10.244.1.2");
    assert.equal(st.conditions?.find((c) => c.type === "Ready")?.status, "True");
  });
  it("unready container → Ready False naming it", () => {
    const st = buildPodStatus(pod(), view([{ ...running, ready: false }]), now);
    const r = st.conditions?.find((c) => c.type === "Ready");
    assert.equal(r?.status, "False");
    assert.match(r?.message ?? "", /\[c\]/);
  });
  it("Never: exit 0 → Succeeded, exit 1 → Failed; Always keeps Running", () => {
    assert.equal(podPhase(pod({ restartPolicy: "Never" }), view([exited(0, false)])), "Succeeded");
    assert.equal(podPhase(pod({ restartPolicy: "Never" }), view([exited(1, false)])), "Failed");
    assert.equal(podPhase(pod({ restartPolicy: "Always" }), view([exited(1, true)])), "Running");
  });
  it("init containers: Pending until all completed, Initialized False naming them; Never + failure → Failed", () => {
    const waitingApp: ContainerView = {
      ...running,
      ready: false,
      state: { kind: "waiting", reason: "PodInitializing" },
    };
    const initRunning = { ...running, name: "i1", ready: false };
    const initNext: ContainerView = { ...waitingApp, name: "i2" };
    const v1 = { ...view([waitingApp]), initContainers: [initRunning, initNext] };
    const st = buildPodStatus(pod(), v1, now);
    assert.equal(st.phase, "Pending");
    const init = st.conditions?.find((c) => c.type === "Initialized");
    assert.equal(init?.status, "False");
    assert.equal(init?.reason, "ContainersNotInitialized");
    assert.equal(init?.message, "containers with incomplete status: [i1 i2]");
    assert.equal(st.initContainerStatuses?.length, 2);
    const done = { ...exited(0, false), name: "i1" };
    const v2 = { ...view([running]), initContainers: [done, { ...done, name: "i2" }] };
    assert.equal(buildPodStatus(pod(), v2, now).phase, "Running");
    assert.equal(buildPodStatus(pod(), v2, now).conditions?.find((c) => c.type === "Initialized")?.status, "True");
    const failedNever = { ...view([waitingApp]), initContainers: [{ ...exited(3, false), name: "i1" }] };
    assert.equal(podPhase(pod({ restartPolicy: "Never" }), failedNever), "Failed");
    const retrying = { ...view([waitingApp]), initContainers: [{ ...exited(3, true), name: "i1" }] };
    assert.equal(podPhase(pod(), retrying), "Pending", "a failed init container that will be retried");
  });
  it("waiting for first start → Pending", () => {
    assert.equal(
      podPhase(pod(), view([{ ...running, state: { kind: "waiting", reason: "ContainerCreating" } }])),
      "Pending",
    );
  });
});
