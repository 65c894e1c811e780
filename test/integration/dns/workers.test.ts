/** `podwire dns serve --workers 2`: both workers share the port; answers over UDP and TCP; clean stop. */
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { specObjects } from "../../unit/dns/fixtures.js";
import { dig, serveDns } from "./support.js";

function children(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

describe("podwire dns serve --workers 2", () => {
  it("serves from two worker processes on one port and stops them all on SIGTERM", async () => {
    const dir = mkdtempSync(join(tmpdir(), "podwire-dns-w-"));
    const file = join(dir, "objects.json");
    writeFileSync(file, JSON.stringify({ apiVersion: "v1", kind: "List", items: specObjects() }));
    const server = await serveDns(["--objects", file, "--upstream", "none", "--workers", "2"]);
    let workers: number[] = [];
    try {
      workers = children(server.proc.pid as number);
      assert.equal(workers.length, 2, "two workers");
      for (let i = 0; i < 6; i++) {
        const r = await dig(server.port, "kubernetes.default.svc.cluster.local", "A", i % 2 ? ["+tcp"] : []);
        assert.deepEqual(
          r.answer.map((a) => a.data),
          ["10.3.0.1"],
        );
      }
    } finally {
      const code = await server.stop();
      rmSync(dir, { recursive: true, force: true });
      assert.equal(code, 0);
      for (const w of workers) assert.ok(!existsSync(`/proc/${w}`), `worker ${w} gone`);
    }
  });
});
