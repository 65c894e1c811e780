import type { Command } from "commander";

/** `podwire agent`: run the node agent: kubelet + proxier + overlay (+ DNS). Filled in by its product's issue. */
export function registerAgent(program: Command): void {
  program
    .command("agent")
    .description("run the node agent: kubelet + proxier + overlay (+ DNS)")
    .action(() => {
      throw new Error("podwire agent is not available in this build yet");
    });
}
