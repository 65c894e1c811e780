/**
 * Built-in image `pause`: sleeps until SIGTERM/SIGINT. The kubelet also uses it as each pod's sandbox process: it
 * holds the pod's UTS and mount namespaces (see src/kubelet/sandbox.ts) so the pod's containers can join them.
 */
import { pathToFileURL } from "node:url";

export function main(): void {
  const timer = setInterval(() => {}, 1 << 30);
  const stop = () => {
    clearInterval(timer);
    process.exit(0);
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) main();
