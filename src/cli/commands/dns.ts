import type { Command } from "commander";

/** `podwire dns`: cluster DNS server. Filled in by its product's issue. */
export function registerDns(program: Command): void {
  program
    .command("dns")
    .description("cluster DNS server")
    .action(() => {
      throw new Error("podwire dns is not available in this build yet");
    });
}
