import type { Command } from "commander";
import type { CanonicalMode } from "../../../proxier/rules/canonical.js";
import type { Dump } from "../../../proxier/rules/model.js";
import type { Proto } from "../../../proxier/rules/trace.js";
import { UsageError } from "../errors.js";
import { collect, collectCsv, intArg, Option } from "../program.js";
import { type DiffFlags, diffCommand, readRules } from "./rules-diff.js";

// Modules are loaded by the subcommand that needs them: `rules diff` of two big dumps is measured against GNU diff,
// start-up included, and need not load the tracer, the namespace helpers or child_process.

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
