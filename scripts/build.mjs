// Transpiles every TypeScript source to dist/ (one file per module, ESM) with esbuild, and bundles the CNI
// plugin into a single file so a runtime's exec of it loads one module instead of hundreds (start-up time).
// Type checking is separate (`npm run typecheck`): esbuild strips types, tsc checks them.
import { build } from "esbuild";
import { spawnSync } from "node:child_process";
import { chmodSync, copyFileSync, mkdirSync, readdirSync, statSync } from "node:fs";
import { dirname, join } from "node:path";

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
/** One ESM file for a start-up-sensitive entry point; npm packages stay imports. */
function bundle(entry, outfile) {
  return build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    format: "esm",
    platform: "node",
    target: "node20",
    packages: "external",
    logLevel: "warning",
  });
}

try {
  statSync("cni/plugin/main.ts");
  await bundle("cni/plugin/main.ts", "dist/podwire-cni.mjs");
} catch (e) {
  if (e?.code !== "ENOENT") throw e;
}

// `podwire rules diff OLD NEW` without options (bin/podwire's fast path) loads this one file instead of ~17 modules:
// the command is measured against GNU diff, start-up included.
await bundle("src/cli/commands/rules-diff.ts", "dist/podwire-rules-diff.mjs");

// The CNI plugin executable (bin/podwire-cni links to dist/podwire-cni): a small C client that forwards to the
// overlay agent's socket, so an exec costs a C program's start, not Node's. Static when the toolchain allows it
// (no dynamic loader work per exec); without a C compiler, the POSIX sh version (slower: shell + socat).
/** False when `src` is missing or `out` is newer than it (and at least `minSize` bytes): nothing to compile. */
function needsCompile(src, out, minSize = 0) {
  let srcTime;
  try {
    srcTime = statSync(src).mtimeMs;
  } catch {
    return false;
  }
  try {
    const o = statSync(out);
    if (o.mtimeMs >= srcTime && o.size >= minSize) return false;
  } catch {}
  return true;
}

function buildCniClient() {
  const src = "cni/client/podwire-cni.c";
  const out = "dist/podwire-cni";
  // A file of 4 KiB or less is the sh fallback copied in by a build without a compiler: try again.
  if (!needsCompile(src, out, 4097)) return;
  mkdirSync("dist", { recursive: true });
  const cc = process.env.CC || "cc";
  for (const flags of [["-static"], []]) {
    const r = spawnSync(cc, ["-O2", ...flags, "-o", out, src], { stdio: ["ignore", "ignore", "pipe"] });
    if (r.status === 0) return;
  }
  console.warn(`build: no working C compiler (${cc}); dist/podwire-cni is the slower sh client`);
  copyFileSync("cni/client/podwire-cni.sh", out);
  chmodSync(out, 0o755);
}
buildCniClient();

/**
 * Compiles an optional N-API addon (`src` → `out`) against Node's headers, which must include `headers`. Without a
 * C compiler or the headers the build goes on, warns, and the code that loads the addon uses its fallback.
 */
function buildAddon(src, out, headers, fallback) {
  if (!needsCompile(src, out)) return;
  const includes = [join(process.execPath, "../../include/node"), "/usr/include/node", "/usr/local/include/node"];
  const inc = includes.find((d) => {
    try {
      return headers.every((h) => statSync(join(d, h)).isFile());
    } catch {
      return false;
    }
  });
  const cc = process.env.CC || "cc";
  if (inc) {
    mkdirSync(dirname(out), { recursive: true });
    const r = spawnSync(cc, ["-O2", "-shared", "-fPIC", `-I${inc}`, "-o", out, src], {
      stdio: ["ignore", "ignore", "pipe"],
    });
    if (r.status === 0) return;
    console.warn(
      `build: ${src} did not compile (${cc}): ${String(r.stderr ?? r.error)
        .trim()
        .slice(0, 500)}`,
    );
  } else console.warn(`build: no ${headers.join("/")} found in Node's headers`);
  console.warn(`build: ${fallback}`);
}

// The userspace proxy's native TCP splice engine (proxier/userspace/native/splice.c, an N-API addon on Node's own
// libuv loop; see docs/userspace.md); without it the proxy uses Node's TCP handles (proxier/userspace/tcp.ts).
buildAddon(
  "proxier/userspace/native/splice.c",
  "dist/proxier/userspace/native/podwire_splice.node",
  ["node_api.h", "uv.h"],
  "userspace proxy ships without the native TCP engine (Node's TCP handles are used)",
);
// kube-proxy's chain-name hash in one native call on Node's own OpenSSL (proxier/iptables/native/chainhash.c);
// without it proxier/iptables/hash.ts uses crypto.hash (same names, ~3× the time per name).
buildAddon(
  "proxier/iptables/native/chainhash.c",
  "dist/proxier/iptables/native/podwire_chainhash.node",
  ["node_api.h", "openssl/sha.h"],
  "the iptables renderer hashes chain names with crypto.hash (no native chain-name hash)",
);
// The renderer's per-endpoint lines written natively into its byte sink (proxier/iptables/native/linewriter.c);
// without it proxier/iptables/render.ts builds each line as a string and copies it (same text).
buildAddon(
  "proxier/iptables/native/linewriter.c",
  "dist/proxier/iptables/native/podwire_linewriter.node",
  ["node_api.h"],
  "the iptables renderer builds its per-endpoint lines as strings (no native line writer)",
);
