import type { Command } from "commander";

/** `podwire server`: bundled control plane: apiserver, controllers, scheduler. Filled in by its product's issue. */
export function registerServer(program: Command): void {
  program
    .command("server")
    .description("bundled control plane: apiserver, controllers, scheduler")
    .action(() => {
      throw new Error("podwire server is not available in this build yet");
    });
}
