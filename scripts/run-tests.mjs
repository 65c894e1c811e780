// Runs the node:test suites of the named test/ folders from dist/ (build first).
// Usage: node scripts/run-tests.mjs unit property integration [-- extra node --test flags]
// PODWIRE_TEST_FILTER=substring limits the files; PODWIRE_TEST_RUNS=full switches randomised suites to their
// full case counts (see test/support/runs.ts).
import { spawnSync } from "node:child_process";
import { readdirSync, statSync, existsSync } from "node:fs";
import { join } from "node:path";

const suites = process.argv.slice(2);
const filter = process.env.PODWIRE_TEST_FILTER ?? "";
function walk(dir, out) {
  if (!existsSync(dir)) return out;
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (p.endsWith(".test.js") && p.includes(filter)) out.push(p);
  }
  return out;
}
const files = suites.flatMap((s) => walk(join("dist", "test", s), []));
if (files.length === 0) {
  console.error(`no test files under dist/test/{${suites.join(",")}}`);
  process.exit(1);
}
// Integration and e2e suites share the kernel's xtables lock and the CPU; run files one at a time there.
const serial = suites.some((s) => s === "integration" || s === "e2e");
// A test file that leaves a child process or socket behind must not hang CI: each file's process exits once its
// tests are done (--test-force-exit), and a test that never ends fails after 30 minutes (no test comes close).
const args = [
  "--test",
  "--test-reporter=spec",
  `--test-concurrency=${serial ? 1 : 2}`,
  "--test-force-exit",
  "--test-timeout=1800000",
  ...files,
];
const r = spawnSync(process.execPath, args, { stdio: "inherit" });
process.exit(r.status ?? 1);
