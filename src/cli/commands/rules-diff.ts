/**
 * `podwire rules diff`: the command's work, apart from its commander registration (rules.ts), so that
 * `podwire rules diff OLD NEW` without options can run from bin/podwire without loading commander and the CLI
 * tree (mainDiff below): the command is measured against GNU diff, start-up included.
 */
import { fileURLToPath } from "node:url";
import type { Dump } from "../../../proxier/rules/model.js";
import { exitQuietlyOnEpipe, reportError, UsageError } from "../errors.js";

// The library's modules are imported when needed: the tracer, the namespace helpers and child_process only by
// the paths that use them.

export async function readRules(file: string, table?: string, lazy = false): Promise<Dump> {
  const [{ parseRules }, { readRulesFile }] = await Promise.all([
    import("../../../proxier/rules/parse.js"),
    import("../../../proxier/rules/read.js"),
  ]);
  return parseRules(readRulesFile(file), { source: file, lazy, ...(table ? { table } : {}) });
}

/** The kernel's rules now (`iptables-save`, optionally of one table / inside a named network namespace). */
async function liveRules(table: string | undefined, netns: string | undefined, legacy: boolean): Promise<Dump> {
  const { runIn } = await import("../../netlinux/netns.js");
  const { parseRules } = await import("../../../proxier/rules/parse.js");
  const bin = legacy ? "iptables-legacy-save" : "iptables-save";
  const r = await runIn(netns ?? null, bin, table ? ["-t", table] : []);
  return parseRules(r.stdout, { source: `${bin}${netns ? ` (netns ${netns})` : ""}`, lazy: true });
}

/** What `podwire proxy render` would write now (run as a child so this command stays independent of its flags). */
async function renderedRules(objects: string[], extra: string[]): Promise<Dump> {
  const { run } = await import("../../netlinux/exec.js");
  const { parseRules } = await import("../../../proxier/rules/parse.js");
  // this module runs from dist/src/cli/commands/ or bundled as dist/podwire-rules-diff.mjs (bin/podwire's fast path)
  const up = import.meta.url.endsWith("/podwire-rules-diff.mjs") ? "../" : "../../../../";
  const bin = fileURLToPath(new URL(`${up}bin/podwire`, import.meta.url));
  const args = ["proxy", "render", ...objects.flatMap((o) => ["--objects", o]), ...extra];
  const r = await run(process.execPath, [bin, ...args]);
  return parseRules(r.stdout, { source: "podwire proxy render", lazy: true });
}

export interface DiffFlags {
  table?: string;
  format: string;
  live?: boolean;
  netns?: string;
  legacy?: boolean;
  objects: string[];
  renderArg: string[];
  verbose?: boolean;
  color?: boolean;
}

export async function diffCommand(files: string[], o: DiffFlags): Promise<void> {
  if (o.format !== "text" && o.format !== "json")
    throw new UsageError(`--format must be text or json, got ${o.format}`);
  let a: Dump;
  let b: Dump;
  try {
    if (o.live) {
      if (o.objects.length) {
        if (files.length) throw new UsageError("with --live and --objects, give no files");
        a = await liveRules(o.table, o.netns, !!o.legacy);
        b = await renderedRules(o.objects, o.renderArg);
      } else {
        if (files.length !== 1) throw new UsageError("with --live, give one FILE (or --objects …)");
        a = await liveRules(o.table, o.netns, !!o.legacy);
        b = await readRules(files[0]!, o.table, true);
      }
    } else {
      if (files.length !== 2) throw new UsageError("usage: podwire rules diff OLD NEW");
      a = await readRules(files[0]!, o.table, true);
      b = await readRules(files[1]!, o.table, true);
    }
  } catch (e) {
    // like diff(1): trouble reading or parsing the inputs is exit 2
    if (e instanceof UsageError) throw e;
    throw new UsageError(e instanceof Error ? e.message : String(e));
  }
  const { diffDumps, formatDiff } = await import("../../../proxier/rules/diff.js");
  let d: ReturnType<typeof diffDumps>;
  try {
    d = diffDumps(a, b, { ...(o.table ? { table: o.table } : {}), verbose: !!o.verbose });
  } catch (e) {
    // lazily parsed rules report syntax errors when first compared
    throw new UsageError(e instanceof Error ? e.message : String(e));
  }
  if (o.format === "json") process.stdout.write(`${JSON.stringify(d, null, 2)}\n`);
  else process.stdout.write(formatDiff(d, { color: o.color ?? process.stdout.isTTY === true }));
  process.exitCode = d.equal ? 0 : 1;
}

/**
 * `podwire rules diff OLD NEW` with no options, called by bin/podwire directly: what src/cli/main.ts does around a
 * command (quiet exit 141 when the reader of stdout goes away, usage errors → 2, failures → 1), without commander.
 */
export async function mainDiff(files: string[]): Promise<void> {
  exitQuietlyOnEpipe();
  try {
    await diffCommand(files, { format: "text", objects: [], renderArg: [] });
  } catch (err) {
    process.exitCode = reportError(err);
  }
}
