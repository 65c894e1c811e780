/** `GET …/pods/{name}/log?container=`: init containers are valid targets; unknown names keep kube-apiserver's 400. */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type Harness, startHarness } from "./harness.js";

describe("pods/log container selection", () => {
  let h: Harness;
  const asked: string[] = [];
  before(async () => {
    h = await startHarness({
      podLogs: async (_pod, container, _q, res) => {
        asked.push(container);
        res.writeHead(200, { "content-type": "text/plain" });
        res.end(`log of ${container}\n`);
      },
    });
    const pod = (name: string, containers: string[], init: string[]) => ({
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name },
      spec: {
        nodeName: "n1",
        containers: containers.map((c) => ({ name: c, image: "busybox" })),
        ...(init.length ? { initContainers: init.map((c) => ({ name: c, image: "busybox" })) } : {}),
      },
    });
    for (const p of [pod("two", ["app", "side"], ["setup"]), pod("one", ["app"], ["setup", "migrate"])]) {
      const r = await h.req("POST", "/api/v1/namespaces/default/pods", p);
      assert.equal(r.status, 201, r.text);
    }
  });
  after(() => h.close());

  const log = (pod: string, container?: string) =>
    h.req(
      "GET",
      `/api/v1/namespaces/default/pods/${pod}/log${container === undefined ? "" : `?container=${container}`}`,
    );

  it("serves an init container's log by name, regular containers as before", async () => {
    for (const [pod, c] of [
      ["two", "setup"],
      ["one", "migrate"],
      ["two", "side"],
    ] as const) {
      const r = await log(pod, c);
      assert.equal(r.status, 200, r.text);
      assert.equal(r.text, `log of ${c}\n`);
      assert.equal(asked.at(-1), c);
    }
    // The one regular container is still the default, never an init container.
    const r = await log("one");
    assert.equal(r.status, 200, r.text);
    assert.equal(asked.at(-1), "app");
  });

  it("an unknown container is a 400 in kube-apiserver's words; without a name the choices include init containers", async () => {
    const before = asked.length;
    const bad = await log("two", "nope");
    assert.equal(bad.status, 400);
    assert.equal(bad.json.kind, "Status");
    assert.equal(bad.json.reason, "BadRequest");
    assert.equal(bad.json.message, "container nope is not valid for pod two");
    const none = await log("two");
    assert.equal(none.status, 400);
    assert.equal(none.json.message, "a container name must be specified for pod two, choose one of: [app side setup]");
    assert.equal(asked.length, before, "the kubelet is not asked for an invalid container");
  });
});
