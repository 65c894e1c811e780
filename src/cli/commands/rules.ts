import type { Command } from "commander";

/** `podwire rules`: parse, diff and trace iptables rule dumps. Filled in by its product's issue. */
export function registerRules(program: Command): void {
  program
    .command("rules")
    .description("parse, diff and trace iptables rule dumps")
    .action(() => {
      throw new Error("podwire rules is not available in this build yet");
    });
}
