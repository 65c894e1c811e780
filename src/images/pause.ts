/**
 * Built-in image `pause`: sleeps until SIGTERM/SIGINT. (The pod sandbox's own namespace holder is `sleep infinity`,
 * see src/kubelet/runtime.ts: a Node process per pod just to hold namespaces would cost ~40 MB and ~60 ms.)
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
