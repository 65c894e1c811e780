import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, afterEach, describe, it } from "node:test";
import assert from "node:assert/strict";
import { SqliteStore } from "../../../src/storage/sqlite.js";
import type { Store } from "../../../src/storage/types.js";
import { storageSuite } from "./storage-suite.js";

const dir = mkdtempSync(join(tmpdir(), "pw-sqlite-"));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const open: Store[] = [];
afterEach(async () => {
  for (const s of open.splice(0)) await s.close();
});

describe("sqlite storage", () => {
  storageSuite(
    async () => {
      const s = new SqliteStore(join(dir, `db-${n++}.sqlite`));
      open.push(s);
      return s;
    },
    () => "/registry/test/",
  );

  it("keeps state and revisions across reopen", async () => {
    const path = join(dir, "reopen.sqlite");
    const a = new SqliteStore(path);
    const r = await a.txn([{ op: "create", key: "/registry/x/a", value: "1" }]);
    assert.ok(r.ok);
    await a.close();
    const b = new SqliteStore(path);
    open.push(b);
    assert.equal((await b.get("/registry/x/a"))?.modRevision, r.revision);
    const r2 = await b.txn([{ op: "create", key: "/registry/x/b", value: "2" }]);
    assert.ok(r2.ok && r2.revision > r.revision);
  });
});
