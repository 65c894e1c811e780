// Transpiles every TypeScript source to dist/ (one file per module, ESM) with esbuild, and bundles the CNI
// plugin into a single file so a runtime's exec of it loads one module instead of hundreds (start-up time).
// Type checking is separate (`npm run typecheck`): esbuild strips types, tsc checks them.
import { build } from "esbuild";
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";

const roots = ["src", "proxier", "dns", "cni", "test"];
function walk(dir, out) {
  let names;
  try {
    names = readdirSync(dir);
  } catch {
    return out;
  }
  for (const name of names) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (p.endsWith(".ts") && !p.endsWith(".d.ts")) out.push(p);
  }
  return out;
}
const entryPoints = roots.flatMap((r) => walk(r, []));
await build({
  entryPoints,
  outdir: "dist",
  outbase: ".",
  format: "esm",
  platform: "node",
  target: "node20",
  sourcemap: "linked",
  logLevel: "warning",
});
try {
  statSync("cni/plugin/main.ts");
  await build({
    entryPoints: ["cni/plugin/main.ts"],
    outfile: "dist/podwire-cni.mjs",
    bundle: true,
    format: "esm",
    platform: "node",
    target: "node20",
    packages: "external",
    logLevel: "warning",
  });
} catch (e) {
  if (e?.code !== "ENOENT") throw e;
}
