/** The client layer's informer survives an apiserver restart: it reconnects, relists and keeps following. */
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { describe, it } from "node:test";
import type { ConfigMap } from "../../../src/api/index.js";
import { ApiInformer, loadKubeconfig, RestClient } from "../../../src/client/index.js";
import { type RunningServer, startServer } from "./server.js";

async function until(f: () => boolean, what: string, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!f()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const cm = (name: string): ConfigMap => ({
  apiVersion: "v1",
  kind: "ConfigMap",
  metadata: { name, namespace: "default" },
  data: { k: name },
});

describe("informer across an apiserver restart", () => {
  it("sees objects written before, during and after the restart; deletions while down arrive as deletes", async () => {
    let srv: RunningServer | undefined = await startServer(["--controllers", "none"]);
    const client = new RestClient(loadKubeconfig(srv.kubeconfig));
    const inf = new ApiInformer<ConfigMap>(client, "ConfigMap", {
      namespace: "default",
      backoffInitialMs: 50,
      backoffMaxMs: 500,
    });
    const deleted: string[] = [];
    const dataDir = srv.dir;
    inf.addHandler({ onDelete: (o) => deleted.push(o.metadata.name!) });
    try {
      assert.ok((await client.create(cm("before"))).ok);
      assert.ok((await client.create(cm("doomed"))).ok);
      await until(() => inf.list().length === 2, "2 objects");
      const { dir, port } = srv;
      await srv.stop({ keepDir: true });
      srv = undefined;
      // While the server is down the informer fails and backs off (errors, no crash).
      await until(() => inf.stats.errors > 0, "an error while down");
      srv = await startServer(["--controllers", "none"], { dir, port });
      assert.ok((await srv.client.delete("ConfigMap", "default", "doomed")).ok);
      assert.ok((await srv.client.create(cm("after"))).ok);
      await until(() => inf.get("default", "after") !== undefined && !inf.get("default", "doomed"), "after restart");
      assert.deepEqual(
        inf
          .list()
          .map((o) => o.metadata.name)
          .sort(),
        ["after", "before"],
      );
      assert.deepEqual(deleted, ["doomed"]);
      assert.ok((await srv.client.create(cm("later"))).ok);
      await until(() => inf.get("default", "later") !== undefined, "watch resumed");
    } finally {
      inf.stop();
      client.close();
      await srv?.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
