import { readFileSync } from "node:fs";
import { CommanderError, InvalidArgumentError } from "commander";
import { registerAgent } from "./commands/agent.js";
import { registerDns } from "./commands/dns.js";
import { registerOverlay } from "./commands/overlay.js";
import { registerProxy } from "./commands/proxy.js";
import { registerRules } from "./commands/rules.js";
import { registerServer } from "./commands/server.js";
import { registerSandbox } from "./commands/sandbox.js";
import { ExitCode, UsageError } from "./errors.js";
import { newCommand } from "./program.js";

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL("../../../package.json", import.meta.url), "utf8")) as {
    version: string;
  };
  return pkg.version;
}

/** Builds the whole `podwire` command tree. Exported so tests can drive it without a process. */
export function buildProgram() {
  const program = newCommand("podwire")
    .description("kube-proxy, flannel and CoreDNS for a Linux node, fed by a small Kubernetes-compatible control plane")
    .version(version(), "--version")
    .enablePositionalOptions();
  registerServer(program);
  registerAgent(program);
  registerProxy(program);
  registerRules(program);
  registerDns(program);
  registerOverlay(program);
  registerSandbox(program);
  return program;
}

/** Entry point of bin/podwire: maps usage errors to exit 2 and runtime failures to exit 1. */
export async function main(argv: string[]): Promise<void> {
  const program = buildProgram();
  try {
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
  if (err instanceof UsageError || err instanceof InvalidArgumentError) {
    process.stderr.write(`podwire: ${err.message}\n`);
    return ExitCode.usage;
  }
  const message = err instanceof Error ? err.message : String(err);
  process.stderr.write(`podwire: ${message}\n`);
  if (process.env.PODWIRE_DEBUG && err instanceof Error) process.stderr.write(`${err.stack}\n`);
  return ExitCode.failure;
}
