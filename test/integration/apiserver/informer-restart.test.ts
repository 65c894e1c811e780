/**
 * @kubernetes/client-node's informer against `podwire server`: it lists, watches, and carries on across an
 * apiserver restart (restarting itself on error as client-node's docs prescribe), missing no change.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import * as k8s from "@kubernetes/client-node";
import { type ServerProcess, startServerProcess } from "../../e2e/kubectl/server-process.js";

let srv: ServerProcess;
before(async () => {
  srv = await startServerProcess(["--controllers", "none"]);
});
after(async () => {
  await srv?.cleanup();
});

async function until(pred: () => boolean, what: string, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("client-node informer", () => {
  it("survives an apiserver restart", async () => {
    const kc = new k8s.KubeConfig();
    kc.loadFromFile(srv.kubeconfig);
    const core = kc.makeApiClient(k8s.CoreV1Api);
    const informer = k8s.makeInformer(kc, "/api/v1/namespaces/default/configmaps", () =>
      core.listNamespacedConfigMap({ namespace: "default" }),
    );
    const seen: string[] = [];
    informer.on("add", (o) => seen.push(`add ${o.metadata?.name}`));
    informer.on("update", (o) => seen.push(`update ${o.metadata?.name}`));
    informer.on("delete", (o) => seen.push(`delete ${o.metadata?.name}`));
    let stopped = false;
    informer.on("error", () => {
      if (!stopped) setTimeout(() => !stopped && informer.start().catch(() => {}), 300);
    });
    await informer.start();
    try {
      await core.createNamespacedConfigMap({
        namespace: "default",
        body: { metadata: { name: "before" }, data: { a: "1" } },
      });
      await until(() => seen.includes("add before"), "add before");
      await srv.restart();
      const core2 = kc.makeApiClient(k8s.CoreV1Api);
      await core2.createNamespacedConfigMap({
        namespace: "default",
        body: { metadata: { name: "after" }, data: { a: "2" } },
      });
      await core2.patchNamespacedConfigMap({
        namespace: "default",
        name: "before",
        body: [{ op: "replace", path: "/data/a", value: "3" }],
      });
      await core2.deleteNamespacedConfigMap({ namespace: "default", name: "after" });
      await until(
        () => seen.includes("delete after") && seen.includes("update before"),
        `events after restart (${seen.join(", ")})`,
      );
      assert.deepEqual(
        informer
          .list("default")
          .map((c) => `${c.metadata?.name}=${c.data?.a}`)
          .sort(),
        ["before=3"],
      );
      assert.equal(seen.filter((s) => s === "add before").length, 1, "no duplicate add after the restart");
    } finally {
      stopped = true;
      await informer.stop();
    }
  });
});
