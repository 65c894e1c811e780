import { Command, CommanderError, Option } from "commander";
import { UsageError } from "./errors.js";

/**
 * Makes a commander Command that reports usage errors by throwing (so main can exit 2)
 * instead of calling process.exit itself. Subcommands created from it inherit the behaviour.
 */
export function newCommand(name: string): Command {
  return new Command(name).exitOverride().showHelpAfterError("(run with --help for usage)");
}

/** Parses an integer flag value, rejecting junk with a UsageError. */
export function intArg(min: number, max: number) {
  return (value: string): number => {
    if (!/^-?\d+$/.test(value)) throw new UsageError(`invalid number: ${value}`);
    const n = Number(value);
    if (n < min || n > max) throw new UsageError(`value ${n} out of range ${min}-${max}`);
    return n;
  };
}

/** Collects a repeatable flag (`--objects a --objects b`) into an array. */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** Collects a flag that is repeatable and also comma-separated (`--node-ip a,b --node-ip c`). */
export function collectCsv(value: string, previous: string[] = []): string[] {
  return [
    ...previous,
    ...value
      .split(",")
      .map((s) => s.trim())
      .filter(Boolean),
  ];
}

/** Parses `true|false` for flags written like kube-proxy's `--flag=true`. */
export function boolArg(value: string): boolean {
  if (value === "true") return true;
  if (value === "false") return false;
  throw new UsageError(`expected true or false, got ${value}`);
}

export { Command, CommanderError, Option };
