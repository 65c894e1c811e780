import type { Command } from "commander";

/** `podwire proxy`: service proxy (iptables or userspace mode). Filled in by its product's issue. */
export function registerProxy(program: Command): void {
  program
    .command("proxy")
    .description("service proxy (iptables or userspace mode)")
    .action(() => {
      throw new Error("podwire proxy is not available in this build yet");
    });
}
