import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";

const bin = new URL("../../../bin/podwire", import.meta.url).pathname;
function podwire(...args: string[]) {
  return spawnSync(bin, args, { encoding: "utf8" });
}

describe("podwire CLI", () => {
  it("lists every subcommand in --help", () => {
    const r = podwire("--help");
    assert.equal(r.status, 0);
    for (const c of ["server", "agent", "proxy", "rules", "dns", "overlay", "up", "down", "status"])
      assert.match(r.stdout, new RegExp(`^\\s+${c}\\b`, "m"), `--help lists ${c}`);
  });
  it("prints the package version", () => {
    const r = podwire("--version");
    assert.equal(r.status, 0);
    assert.match(r.stdout.trim(), /^\d+\.\d+\.\d+$/);
  });
  it("exits 2 with a clear message on an unknown flag", () => {
    const r = podwire("proxy", "--bogus");
    assert.equal(r.status, 2);
    assert.match(r.stderr, /unknown option '--bogus'/);
  });
  it("exits 2 on an unknown subcommand", () => {
    const r = podwire("frobnicate");
    assert.equal(r.status, 2);
    assert.match(r.stderr, /unknown command 'frobnicate'/);
  });
  it("leaves quietly when the reader of its output goes away (`| head`): status 141, nothing on stderr", async () => {
    const dir = mkdtempSync(join(tmpdir(), "podwire-epipe-"));
    try {
      const chains = Array.from({ length: 20000 }, (_, i) => `:KUBE-SVC-${i} - [0:0]\n`).join("");
      const rules = Array.from({ length: 20000 }, (_, i) => `-A KUBE-SVC-${i} -j ACCEPT\n`).join("");
      writeFileSync(join(dir, "old"), `*nat\n:PREROUTING ACCEPT [0:0]\n${chains}${rules}COMMIT\n`);
      writeFileSync(join(dir, "new"), "*nat\n:PREROUTING ACCEPT [0:0]\nCOMMIT\n");
      const child = spawn(bin, ["rules", "diff", join(dir, "old"), join(dir, "new")]);
      let stderr = "";
      child.stderr.on("data", (d) => (stderr += d));
      // Read the first chunk, then close our end of the pipe as head(1) does.
      child.stdout.once("data", () => child.stdout.destroy());
      const status = await new Promise<number | null>((r) => child.on("close", (code) => r(code)));
      assert.equal(stderr, "");
      assert.equal(status, 141);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
