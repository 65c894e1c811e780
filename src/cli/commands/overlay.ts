import type { Command } from "commander";

/** `podwire overlay`: flannel-style VXLAN overlay agent. Filled in by its product's issue. */
export function registerOverlay(program: Command): void {
  program
    .command("overlay")
    .description("flannel-style VXLAN overlay agent")
    .action(() => {
      throw new Error("podwire overlay is not available in this build yet");
    });
}
