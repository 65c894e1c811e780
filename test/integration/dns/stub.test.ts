/** `--stub-domain`: names under the suffix go to that server (here a loopback upstream); nothing else is forwarded. */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { specObjects } from "../../unit/dns/fixtures.js";
import { dig, serveDns, startUpstream } from "./support.js";

describe("podwire dns serve --stub-domain", () => {
  it("forwards only the stub domain when no default upstream is set", async () => {
    const dir = mkdtempSync(join(tmpdir(), "podwire-dns-stub-"));
    const file = join(dir, "objects.json");
    writeFileSync(file, JSON.stringify({ apiVersion: "v1", kind: "List", items: specObjects() }));
    const upstream = await startUpstream();
    const server = await serveDns([
      "--objects",
      file,
      "--upstream",
      "none",
      "--stub-domain",
      `example.test=127.0.0.1:${upstream.port}`,
    ]);
    try {
      const stub = await dig(server.port, "db.example.test", "A");
      assert.equal(stub.status, "NOERROR");
      assert.deepEqual(
        stub.answer.map((a) => a.data),
        ["192.0.2.53"],
      );
      const other = await dig(server.port, "www.example.com", "A");
      assert.equal(other.status, "REFUSED");
      assert.equal(upstream.queries(), 1);
    } finally {
      await server.stop();
      await upstream.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
