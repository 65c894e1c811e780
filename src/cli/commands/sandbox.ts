import type { Command } from "commander";

/** `podwire up|down|status`: the sandbox cluster in network namespaces. Filled in by the sandbox issue. */
export function registerSandbox(program: Command): void {
  for (const [name, desc] of [
    ["up", "start a multi-node sandbox cluster in network namespaces"],
    ["down", "remove a sandbox cluster and everything it made"],
    ["status", "show a sandbox cluster's state"],
  ] as const) {
    program
      .command(name)
      .description(desc)
      .action(() => {
        throw new Error(`podwire ${name} is not available in this build yet`);
      });
  }
}
