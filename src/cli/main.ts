import { readFileSync } from "node:fs";
import { type Command, CommanderError, InvalidArgumentError } from "commander";
import { ExitCode, exitQuietlyOnEpipe, reportError, UsageError } from "./errors.js";
import { newCommand } from "./program.js";

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL("../../../package.json", import.meta.url), "utf8")) as {
    version: string;
  };
  return pkg.version;
}

type Register = (program: Command) => void;

/**
 * Each subcommand's module, loaded on demand: a command's module pulls in its whole product (the apiserver,
 * the DNS server, …), so `podwire rules diff` must not pay for loading the others. Order = order in --help.
 */
const COMMANDS: [names: string[], load: () => Promise<Register>][] = [
  [["server"], async () => (await import("./commands/server.js")).registerServer],
  [["agent"], async () => (await import("./commands/agent.js")).registerAgent],
  [["proxy"], async () => (await import("./commands/proxy.js")).registerProxy],
  [["rules"], async () => (await import("./commands/rules.js")).registerRules],
  [["dns"], async () => (await import("./commands/dns.js")).registerDns],
  [["overlay"], async () => (await import("./commands/overlay.js")).registerOverlay],
  [["up", "down", "status"], async () => (await import("./commands/sandbox.js")).registerSandbox],
];

/**
 * Builds the `podwire` command tree. With `only` (a subcommand name) just that command's module is
 * loaded; otherwise (help, unknown commands) all of them, so help and errors list every command.
 */
export async function buildProgram(only?: string): Promise<Command> {
  const program = newCommand("podwire")
    .description("kube-proxy, flannel and CoreDNS for a Linux node, fed by a small Kubernetes-compatible control plane")
    .version(version(), "--version")
    .enablePositionalOptions();
  const wanted = COMMANDS.filter(([names]) => only !== undefined && names.includes(only));
  for (const [, load] of wanted.length > 0 ? wanted : COMMANDS) (await load())(program);
  return program;
}

/** Entry point of bin/podwire: maps usage errors to exit 2 and runtime failures to exit 1. */
export async function main(argv: string[]): Promise<void> {
  exitQuietlyOnEpipe();
  try {
    const program = await buildProgram(argv[2]);
    await program.parseAsync(argv);
  } catch (err) {
    process.exitCode = exitCodeFor(err);
  }
}

function exitCodeFor(err: unknown): number {
  if (err instanceof CommanderError) {
    // help and version are "errors" only in commander's control flow.
    if (err.code === "commander.helpDisplayed" || err.code === "commander.version" || err.code === "commander.help")
      return ExitCode.ok;
    return ExitCode.usage; // commander already printed its message
  }
  // commander's InvalidArgumentError (a bad flag value from an argParser) is a usage error too
  return reportError(err instanceof InvalidArgumentError ? new UsageError(err.message) : err);
}
