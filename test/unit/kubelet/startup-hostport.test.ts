import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import type { Pod } from "../../../src/api/core.js";
import { attachment } from "../../../src/kubelet/cni.js";
import { podPortMappings } from "../../../src/kubelet/network.js";
import { buildPodStatus, type ContainerView } from "../../../src/kubelet/podstatus.js";
import { createServer } from "node:net";
import {
  applyOutcome,
  firstProbeDelayMs,
  httpProbe,
  initialProbeState,
  startupVerdict,
  tcpProbe,
} from "../../../src/kubelet/probes.js";
import { runs } from "../../support/runs.js";

describe("startup probe verdict", () => {
  const ok = { ok: true, message: "" };
  const bad = { ok: false, message: "connection refused" };
  it("pending until the first success; failureThreshold consecutive failures fail it", () => {
    const probe = { failureThreshold: 3 };
    let s = initialProbeState("startup");
    assert.equal(startupVerdict(s, probe), "pending", "nothing probed yet");
    s = applyOutcome(applyOutcome(s, bad, probe), bad, probe);
    assert.equal(startupVerdict(s, probe), "pending", "2 of 3 failures");
    assert.equal(startupVerdict(applyOutcome(s, ok, probe), probe), "started", "a success before the threshold");
    assert.equal(startupVerdict(applyOutcome(s, bad, probe), probe), "failed", "the third failure");
    assert.equal(s.lastMessage, "connection refused");
  });
  it("failureThreshold defaults to 3", () => {
    let s = initialProbeState("startup");
    for (let i = 0; i < 2; i++) s = applyOutcome(s, bad, {});
    assert.equal(startupVerdict(s, {}), "pending");
    assert.equal(startupVerdict(applyOutcome(s, bad, {}), {}), "failed");
  });
  it("property: started iff a success comes before failureThreshold failures; failed iff not", () => {
    fc.assert(
      fc.property(fc.array(fc.boolean(), { maxLength: 20 }), fc.integer({ min: 1, max: 6 }), (seq, ft) => {
        const probe = { failureThreshold: ft };
        let s = initialProbeState("startup");
        let v = startupVerdict(s, probe);
        let i = 0;
        // The prober stops at the first decisive verdict, as the worker does.
        for (; i < seq.length && v === "pending"; i++) {
          s = applyOutcome(s, { ok: seq[i] ?? false, message: "" }, probe);
          v = startupVerdict(s, probe);
        }
        const used = seq.slice(0, i);
        const firstOk = used.indexOf(true);
        if (firstOk >= 0) assert.equal(v, "started");
        else if (used.length >= ft) assert.equal(v, "failed");
        else assert.equal(v, "pending");
        if (v === "failed") assert.equal(used.length, ft, "fails exactly at the threshold");
      }),
      { numRuns: runs(2000, 300) },
    );
  });
  it("liveness/readiness after startup: initialDelaySeconds counts from the container's start", () => {
    assert.equal(firstProbeDelayMs({ initialDelaySeconds: 5 }, 0), 5000);
    assert.equal(firstProbeDelayMs({ initialDelaySeconds: 5 }, 3200), 1800);
    assert.equal(firstProbeDelayMs({ initialDelaySeconds: 5 }, 9000), 0);
    assert.equal(firstProbeDelayMs({}, 100), 0);
  });
  it("containerStatuses.started and ready come from the view (not started → not ready → pod not Ready)", () => {
    const now = "2026-01-01T00:00:00Z";
    const c: ContainerView = {
      name: "c",
      image: "x",
      restartCount: 0,
      ready: false,
      started: false,
      state: { kind: "running", startedAt: now },
      willRestart: true,
    };
    const p: Pod = { apiVersion: "v1", kind: "Pod", metadata: { name: "p" }, spec: { containers: [{ name: "c" }] } };
    const st = buildPodStatus(
      p,
      { podIPs: ["10.244.0.5"], hostIP: "198.18.0.2", startTime: now, containers: [c] },
      now,
    );
    assert.equal(st.containerStatuses?.[0]?.started, false);
    assert.equal(st.phase, "Running");
    assert.equal(st.conditions?.find((x) => x.type === "Ready")?.status, "False");
  });
});

describe("hostPort → CNI portMappings", () => {
  const pod = (spec: Partial<Pod["spec"]>): Pod => ({
    apiVersion: "v1",
    kind: "Pod",
    metadata: { namespace: "ns", name: "p", uid: "u" },
    spec: { containers: [], ...spec },
  });
  it("every container port with a hostPort, protocol lower-cased, hostIP kept", () => {
    const p = pod({
      containers: [
        {
          name: "a",
          ports: [
            { containerPort: 8080, hostPort: 30080 },
            { containerPort: 9000 },
            { containerPort: 53, hostPort: 5353, protocol: "UDP", hostIP: "198.18.0.2" },
          ],
        },
        { name: "b", ports: [{ containerPort: 7000, hostPort: 7001, protocol: "SCTP" }] },
      ],
    });
    assert.deepEqual(podPortMappings(p), [
      { hostPort: 30080, containerPort: 8080, protocol: "tcp" },
      { hostPort: 5353, containerPort: 53, protocol: "udp", hostIP: "198.18.0.2" },
      { hostPort: 7001, containerPort: 7000, protocol: "sctp" },
    ]);
  });
  it("hostNetwork pods and pods without hostPorts have none", () => {
    const ports = [{ containerPort: 80, hostPort: 80 }];
    assert.deepEqual(podPortMappings(pod({ hostNetwork: true, containers: [{ name: "a", ports }] })), []);
    assert.deepEqual(podPortMappings(pod({ containers: [{ name: "a", ports: [{ containerPort: 80 }] }] })), []);
  });
  it("the CNI attachment carries them as the portMappings capability only when there are some", () => {
    const ref = { uid: "u", namespace: "ns", name: "p", netnsPath: "/run/netns/x", ifname: "eth0" };
    const m = [{ hostPort: 1, containerPort: 2, protocol: "tcp" }];
    assert.deepEqual(attachment({ ...ref, portMappings: m }).capabilityArgs, { portMappings: m });
    assert.equal(attachment({ ...ref, portMappings: [] }).capabilityArgs, undefined);
    assert.equal(attachment(ref).args?.K8S_POD_NAME, "p");
  });
});

describe("probe failure messages (the kubelet's wording)", () => {
  // 127.0.0.2: test files listen on 127.0.0.1 in parallel, and a port freed there can be handed out again at once.
  const closedPort = () =>
    new Promise<number>((resolve) => {
      const srv = createServer();
      srv.listen(0, "127.0.0.2", () => {
        const a = srv.address();
        srv.close(() => resolve(a && typeof a === "object" ? a.port : 0));
      });
    });
  it("HTTP and TCP to a closed port: connect: connection refused", async () => {
    const port = await closedPort();
    const h = await httpProbe("127.0.0.2", port, "/healthz", 1000);
    assert.equal(h.ok, false);
    assert.equal(
      h.message,
      `Get "http://127.0.0.2:${port}/healthz": dial tcp 127.0.0.2:${port}: connect: connection refused`,
    );
    const t = await tcpProbe("127.0.0.2", port, 1000);
    assert.equal(t.message, `dial tcp 127.0.0.2:${port}: connect: connection refused`);
  });
});
