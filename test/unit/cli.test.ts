import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
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
});
