/**
 * Built-in image `serve-hostname`: answers every HTTP request on 9376 with the pod's name (its UTS hostname),
 * like Kubernetes' serve_hostname test image. `--port N` / `--http-port N` change the port.
 */
import { createServer, type Server } from "node:http";
import { hostname } from "node:os";
import { pathToFileURL } from "node:url";
import { intFlag, parseFlags } from "./args.js";

export async function startServeHostname(port: number, name?: string): Promise<Server> {
  const srv = createServer((_req, res) => {
    res.writeHead(200, { "content-type": "text/plain; charset=utf-8" });
    res.end(name ?? hostname());
  });
  await new Promise<void>((resolve, reject) => {
    srv.once("error", reject);
    srv.listen(port, () => resolve());
  });
  return srv;
}

export async function main(argv: string[]): Promise<void> {
  const flags = parseFlags(argv);
  const port = intFlag(flags, "http-port", intFlag(flags, "port", 9376));
  const srv = await startServeHostname(port);
  process.stdout.write(`serve-hostname: serving on ${port}\n`);
  const stop = () => {
    srv.closeAllConnections();
    srv.close(() => process.exit(0));
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  main(process.argv.slice(2)).catch((e: Error) => {
    process.stderr.write(`serve-hostname: ${e.message}\n`);
    process.exit(1);
  });
}
