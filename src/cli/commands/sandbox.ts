import type { Command } from "commander";
import { down } from "../../sandbox/down.js";
import { status } from "../../sandbox/status.js";
import { SandboxExistsError, up } from "../../sandbox/up.js";
import { UsageError } from "../errors.js";
import { intArg } from "../program.js";

/** `podwire up|down|status`: the sandbox cluster in network namespaces. */
export function registerSandbox(program: Command): void {
  program
    .command("up")
    .description("start a multi-node sandbox cluster in network namespaces")
    .option("--nodes <n>", "number of nodes", intArg(1, 50), 3)
    .option("--name <name>", "sandbox name (namespaces are <name>-node1…)", "pw")
    .option("--proxy-mode <mode>", "iptables | userspace", "iptables")
    .option("--backend <b>", "pod routing between nodes: vxlan (overlay agent) | host-gw (static routes)", "vxlan")
    .option("--timeout <seconds>", "give up after this long", intArg(10, 3600), 300)
    .action(async (f: { nodes: number; name: string; proxyMode: string; backend: string; timeout: number }) => {
      // The host kubeconfig verifies the apiserver by its IP SAN (tls-server-name); Node warns about IP SNI.
      process.noDeprecation = true;
      if (f.proxyMode !== "iptables" && f.proxyMode !== "userspace")
        throw new UsageError(`--proxy-mode must be iptables or userspace, got ${f.proxyMode}`);
      if (f.backend !== "host-gw" && f.backend !== "vxlan")
        throw new UsageError(`--backend must be host-gw or vxlan, got ${f.backend}`);
      try {
        await up({
          name: f.name,
          nodes: f.nodes,
          proxyMode: f.proxyMode,
          backend: f.backend,
          timeoutMs: f.timeout * 1000,
        });
      } catch (e) {
        if (e instanceof SandboxExistsError) throw e;
        process.stderr.write(
          `podwire up failed; logs in /var/lib/podwire/sandbox/${f.name}/logs; clean up with: podwire down --name ${f.name}\n`,
        );
        throw e;
      }
    });
  program
    .command("down")
    .description("remove a sandbox cluster and everything it made")
    .option("--name <name>", "sandbox name", "pw")
    .action(async (f: { name: string }) => {
      const r = await down(f.name);
      process.stdout.write(
        `sandbox ${f.name} removed: ${r.stopped.length} processes stopped, ${r.namespaces.length} namespaces deleted${r.removedDir ? ", state removed" : ""}\n`,
      );
    });
  program
    .command("status")
    .description("show a sandbox cluster's state")
    .option("--name <name>", "sandbox name", "pw")
    .action(async (f: { name: string }) => {
      if (!(await status(f.name))) process.exitCode = 1;
    });
}
