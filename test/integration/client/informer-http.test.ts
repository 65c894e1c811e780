import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { ConfigMap } from "../../../src/api/index.js";
import { ApiInformer, RestClient } from "../../../src/client/index.js";
import { serveFake } from "./http-fake.js";

const cm = (name: string): ConfigMap => ({
  apiVersion: "v1",
  kind: "ConfigMap",
  metadata: { name, namespace: "default" },
});

async function until(cond: () => boolean, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe("ApiInformer over HTTP", () => {
  it("lists, watches with bookmarks from the list RV, relists after an ERROR 410 and after a dropped connection", async () => {
    const srv = await serveFake();
    const client = new RestClient({ server: srv.url, namespace: "default" });
    const inf = new ApiInformer<ConfigMap>(client, "ConfigMap", { backoffInitialMs: 10 });
    try {
      srv.fake.seed(cm("a"));
      await inf.synced;
      await until(() => srv.fake.watcherCount() === 1, "watch open");
      const watch = srv.requests.find((r) => r.query.get("watch") === "true")!;
      assert.equal(watch.query.get("allowWatchBookmarks"), "true");
      const t = Number(watch.query.get("timeoutSeconds"));
      assert.ok(t >= 300 && t <= 600);
      const listRV = srv.requests.find((r) => r.query.get("limit") === "500");
      assert.ok(listRV, "lists are paged");
      await client.create(cm("b"));
      await until(() => inf.list().length === 2, "b via watch");

      srv.fake.expireWatches(); // ERROR 410 inside a 200 stream
      await until(() => inf.stats.lists === 2, "relist after 410");
      await until(() => srv.fake.watcherCount() === 1, "watch reopened");
      // A change while the connection is down is picked up by the relist after the drop.
      let hold = true;
      srv.hook = (req, res) => {
        if (hold && req.query.get("watch") !== "true" && req.method === "GET") {
          res.writeHead(503, { "Content-Type": "application/json" });
          res.end(
            '{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","reason":"ServiceUnavailable","code":503}',
          );
          return true;
        }
        return false;
      };
      srv.dropWatches();
      srv.fake.seed(cm("c"));
      await until(() => inf.stats.errors >= 1, "list failure seen");
      hold = false;
      await until(() => inf.get("default", "c") !== undefined, "c after reconnect");
      assert.deepEqual(
        inf
          .list()
          .map((o) => o.metadata.name)
          .sort(),
        ["a", "b", "c"],
      );
    } finally {
      inf.stop();
      client.close();
      await srv.close();
    }
  });

  it("relists when the watch itself answers HTTP 410", async () => {
    const srv = await serveFake();
    const client = new RestClient({ server: srv.url, namespace: "default" });
    let gone = 1;
    srv.hook = (req, res) => {
      if (req.query.get("watch") === "true" && gone-- > 0) {
        res.writeHead(410, { "Content-Type": "application/json" });
        res.end('{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","reason":"Expired","code":410}');
        return true;
      }
      return false;
    };
    const inf = new ApiInformer<ConfigMap>(client, "ConfigMap", { backoffInitialMs: 10 });
    try {
      await until(() => inf.stats.lists === 2 && srv.fake.watcherCount() === 1, "relist then watch");
      assert.equal(inf.stats.errors, 0, "410 is routine, not an error");
    } finally {
      inf.stop();
      client.close();
      await srv.close();
    }
  });
});
