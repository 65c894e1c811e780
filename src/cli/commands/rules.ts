import { fileURLToPath } from "node:url";
import type { Command } from "commander";
import type { CanonicalMode } from "../../../proxier/rules/canonical.js";
import type { Dump } from "../../../proxier/rules/model.js";
import type { Proto } from "../../../proxier/rules/trace.js";
import { UsageError } from "../errors.js";
import { collect, collectCsv, intArg, Option } from "../program.js";

// Modules are loaded by the subcommand that needs them: `rules diff` of two big dumps is measured against GNU diff,
// start-up included, and need not load the tracer, the namespace helpers or child_process.

async function readRules(file: string, table?: string, lazy = false): Promise<Dump> {
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
  const bin = fileURLToPath(new URL("../../../../bin/podwire", import.meta.url));
  const args = ["proxy", "render", ...objects.flatMap((o) => ["--objects", o]), ...extra];
  const r = await run(process.execPath, [bin, ...args]);
  return parseRules(r.stdout, { source: "podwire proxy render", lazy: true });
}

interface DiffFlags {
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

async function diffCommand(files: string[], o: DiffFlags): Promise<void> {
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

interface TraceFlags {
  rules: string;
  src: string;
  dst: string;
  dport: number;
  sport?: number;
  proto: string;
  nodeIp: string[];
  output?: boolean;
  json?: boolean;
  table?: string;
  kubeHooks?: boolean;
}

async function traceCommand(o: TraceFlags): Promise<void> {
  if (!["tcp", "udp", "sctp"].includes(o.proto))
    throw new UsageError(`--proto must be tcp, udp or sctp, got ${o.proto}`);
  const { formatTrace, tracePacket } = await import("../../../proxier/rules/trace.js");
  const { withKubeProxyHooks } = await import("../../../proxier/rules/hooks.js");
  let dump = await readRules(o.rules, o.table);
  if (o.kubeHooks) dump = withKubeProxyHooks(dump);
  const pkt = {
    src: o.src,
    dst: o.dst,
    dport: o.dport,
    proto: o.proto as Proto,
    ...(o.sport !== undefined ? { sport: o.sport } : {}),
  };
  const opts = { nodeIPs: o.nodeIp, output: !!o.output };
  const r = tracePacket(dump, pkt, opts);
  if (o.json) {
    process.stdout.write(
      `${JSON.stringify({ targets: r.targets, verdict: r.verdict, masquerade: r.masquerade, path: r.path })}\n`,
    );
    for (const n of r.notes) process.stderr.write(`note: ${n}\n`);
  } else process.stdout.write(formatTrace(pkt, r, opts));
}

/** `podwire rules`: parse, canonicalise, diff and trace iptables rule dumps. */
export function registerRules(program: Command): void {
  const rules = program.command("rules").description("parse, canonicalise, diff and trace iptables rule dumps");
  rules
    .command("diff")
    .description(
      "semantic diff of two rule dumps (iptables-save, -S output or restore payloads); exit 0 equal, 1 different, 2 error",
    )
    .argument("[files...]", "OLD NEW (or one FILE with --live)")
    .option("--table <table>", "compare only this table (also the table of headerless -S input)")
    .option("--format <format>", "text or json", "text")
    .option("--live", "compare the kernel's current rules (iptables-save) with FILE or with --objects rendering")
    .option("--netns <name>", "with --live: read the rules of this network namespace")
    .option("--legacy", "with --live: use iptables-legacy-save")
    .option(
      "--objects <file>",
      "with --live: compare with what `podwire proxy render --objects …` writes now",
      collect,
      [],
    )
    .option("--render-arg <arg>", "extra argument passed to `podwire proxy render` (repeatable)", collect, [])
    .option("--verbose", "also list rule changes that endpoint/service changes already explain")
    .addOption(new Option("--color", "force colour"))
    .addOption(new Option("--no-color", "no colour"))
    .action(async (files: string[], o: DiffFlags) => diffCommand(files, o));
  rules
    .command("trace")
    .description("trace the first packet of a new connection through a rule dump")
    .requiredOption("--rules <file>", "iptables-save output, restore payload or -S output ('-' = stdin)")
    .requiredOption("--src <ip>", "source address")
    .requiredOption("--dst <ip>", "destination address")
    .requiredOption("--dport <n>", "destination port", intArg(0, 65535))
    .option("--sport <n>", "source port", intArg(0, 65535))
    .option("--proto <proto>", "tcp, udp or sctp", "tcp")
    .option("--node-ip <ip>", "the node's own address (repeatable, comma-separated)", collectCsv, [])
    .option("--output", "the packet is locally generated (nat OUTPUT instead of PREROUTING)")
    .option("--json", "print {targets, verdict, masquerade, path}")
    .option("--table <table>", "table of headerless -S input")
    .option("--kube-hooks", "add kube-proxy's jump rules (PREROUTING → KUBE-SERVICES …) when tracing a bare payload")
    .action(async (o: TraceFlags) => traceCommand(o));
  rules
    .command("canonical")
    .description("print a rule dump in canonical form")
    .argument("<file>", "rule dump ('-' = stdin)")
    .option("--table <table>", "only this table (also the table of headerless -S input)")
    .option("--mode <mode>", "sorted or kube-proxy", "sorted")
    .option("--raw", "keep rules as written (not normalised)")
    .action(async (file: string, o: { table?: string; mode: string; raw?: boolean }) => {
      if (o.mode !== "sorted" && o.mode !== "kube-proxy") throw new UsageError(`--mode must be sorted or kube-proxy`);
      const { canonical } = await import("../../../proxier/rules/canonical.js");
      let d: Dump;
      try {
        d = await readRules(file, o.table);
      } catch (e) {
        throw new UsageError(e instanceof Error ? e.message : String(e));
      }
      process.stdout.write(
        canonical(d, { mode: o.mode as CanonicalMode, raw: !!o.raw, ...(o.table ? { table: o.table } : {}) }),
      );
    });
}
