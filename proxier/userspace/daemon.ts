/**
 * Runs the userspace proxier from `--objects` files: loads them, applies them, and re-applies whenever a file
 * changes (polled, so editors' rename-over-write is seen too). Optionally serves /metrics. The CLI and the
 * namespace tests both start the proxy through this.
 */
import { watchFile, unwatchFile } from "node:fs";
import http from "node:http";
import type { KubeObject } from "../../src/api/meta.js";
import { loadObjectsFiles } from "../../src/objects/load.js";
import { inputFromObjects } from "./model.js";
import {
  type UserspaceLogger,
  type UserspaceProxier,
  type UserspaceProxierOptions,
  startUserspaceProxier,
} from "./proxier.js";
import { raiseNofile } from "./rlimit.js";
import { type UserspaceIptables, execRunner } from "./runner.js";

export interface UserspaceDaemonOptions extends Omit<UserspaceProxierOptions, "input" | "runner"> {
  objectsFiles: string[];
  nodeName?: string;
  nodeIPs?: string[];
  runner?: UserspaceIptables;
  /** host:port for the Prometheus endpoint (`/metrics`); absent = none. */
  metricsAddress?: string;
  watchIntervalMs?: number;
  /** Called after every successful sync with the proxy ports. */
  onSynced?: (proxier: UserspaceProxier, generation: number) => void;
  log?: UserspaceLogger;
  /** Loader override (tests). */
  load?: (files: string[]) => KubeObject[];
}

export interface UserspaceDaemon {
  proxier: UserspaceProxier;
  stop(opts?: { cleanup?: boolean }): Promise<void>;
}

export async function startUserspaceDaemon(opts: UserspaceDaemonOptions): Promise<UserspaceDaemon> {
  const nofile = await raiseNofile();
  opts.log?.info("open-files limit", { nofile });
  const load = opts.load ?? loadObjectsFiles;
  const read = () => inputFromObjects(load(opts.objectsFiles), opts.nodeName, opts.nodeIPs);
  const proxier = await startUserspaceProxier({
    ...opts,
    runner: opts.runner ?? (await execRunner(null)),
    input: read(),
  });
  let generation = 1;
  opts.onSynced?.(proxier, generation);

  let pending: NodeJS.Timeout | null = null;
  const reload = () => {
    if (pending) clearTimeout(pending);
    pending = setTimeout(() => {
      pending = null;
      let input: ReturnType<typeof read>;
      try {
        input = read();
      } catch (err) {
        opts.log?.warn("objects file unreadable; keeping the previous state", { error: (err as Error).message });
        return;
      }
      proxier
        .update(input)
        .then(() => opts.onSynced?.(proxier, ++generation))
        .catch((err) => opts.log?.warn("sync failed", { error: (err as Error).message }));
    }, 20);
  };
  const interval = opts.watchIntervalMs ?? 200;
  for (const f of opts.objectsFiles) watchFile(f, { interval, persistent: true }, reload);

  let server: http.Server | null = null;
  if (opts.metricsAddress) {
    const i = opts.metricsAddress.lastIndexOf(":");
    const host = opts.metricsAddress.slice(0, i) || "127.0.0.1";
    const port = Number(opts.metricsAddress.slice(i + 1));
    server = http.createServer(async (req, res) => {
      if (req.url === "/metrics") {
        res.setHeader("content-type", proxier.metrics.registry.contentType);
        res.end(await proxier.metrics.registry.metrics());
      } else if (req.url === "/healthz") res.end("ok");
      else {
        res.statusCode = 404;
        res.end();
      }
    });
    await new Promise<void>((resolve, reject) => {
      server!.once("error", reject);
      server!.listen(port, host, () => resolve());
    });
  }

  return {
    proxier,
    async stop(stopOpts) {
      for (const f of opts.objectsFiles) unwatchFile(f);
      if (pending) clearTimeout(pending);
      server?.close();
      await proxier.stop(stopOpts);
    },
  };
}
