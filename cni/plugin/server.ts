/**
 * The plugin served by a long-running process (the overlay agent) over a unix socket, so a CNI exec costs a shell
 * and a socat instead of a Node start-up (~20x a Go plugin's start; see docs/cni.md). bin/podwire-cni forwards
 * to it when the network config names `agentSocket` and the socket exists; otherwise it runs the bundled plugin.
 *
 * Wire protocol (one request per connection):
 *   request  = `CNI_COMMAND=ADD\nCNI_CONTAINERID=…\n…\n--\n` + <stdin config>, then the client half-closes
 *   response = `<exit code>\n` + <the plugin's stdout>
 * The socket is created 0600: only root may ask for network changes.
 */
import { chmodSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { type Handlers, type Reply, runSkel } from "./skel.js";

export interface ParsedRequest {
  env: Record<string, string>;
  stdin: string;
}

/** Splits the header (CNI_* lines up to `--`) from the config. */
export function parseRequest(text: string): ParsedRequest {
  const env: Record<string, string> = {};
  let rest = text;
  for (;;) {
    const nl = rest.indexOf("\n");
    const line = nl < 0 ? rest : rest.slice(0, nl);
    rest = nl < 0 ? "" : rest.slice(nl + 1);
    if (line === "--" || nl < 0) break;
    const i = line.indexOf("=");
    if (i > 0 && line.startsWith("CNI_")) {
      const v = line.slice(i + 1);
      if (v !== "") env[line.slice(0, i)] = v;
    }
  }
  return { env, stdin: rest };
}

export function formatReply(r: Reply): string {
  return `${r.code}\n${r.stdout}`;
}

/**
 * Orders requests the way a runtime is supposed to but cannot always guarantee: requests for one container run one
 * after another (a runtime that killed a slow ADD and then sends DEL must not race the ADD still running here), and
 * GC waits for every request in flight (the spec forbids GC concurrent with ADD/DEL).
 */
export class RequestLanes {
  private readonly lanes = new Map<string, Promise<unknown>>();
  private readonly inflight = new Set<Promise<unknown>>();

  run<T>(env: Record<string, string>, fn: () => Promise<T>): Promise<T> {
    const cmd = env.CNI_COMMAND ?? "";
    let p: Promise<T>;
    if (cmd === "GC") {
      p = Promise.allSettled([...this.inflight]).then(fn);
    } else if (env.CNI_CONTAINERID) {
      const key = env.CNI_CONTAINERID;
      const prev = this.lanes.get(key) ?? Promise.resolve();
      p = prev.then(fn, fn);
      const tail = p.catch(() => undefined);
      this.lanes.set(key, tail);
      void tail.then(() => {
        if (this.lanes.get(key) === tail) this.lanes.delete(key);
      });
    } else {
      p = fn();
    }
    this.inflight.add(p);
    void p.catch(() => undefined).finally(() => this.inflight.delete(p));
    return p;
  }
}

export function startCniServer(
  socketPath: string,
  handlers: Handlers,
  onError?: (e: unknown) => void,
): Promise<Server> {
  rmSync(socketPath, { force: true });
  const lanes = new RequestLanes();
  // allowHalfOpen: the client half-closes after its request and still reads the reply.
  const server = createServer({ allowHalfOpen: true }, (conn) => {
    const chunks: Buffer[] = [];
    conn.on("data", (b: Buffer) => chunks.push(b));
    conn.on("error", (e) => onError?.(e));
    conn.on("end", () => {
      const req = parseRequest(Buffer.concat(chunks).toString("utf8"));
      lanes
        .run(req.env, () => runSkel(req.env, req.stdin, handlers))
        .then((reply) => conn.end(formatReply(reply)))
        .catch((e: unknown) => {
          onError?.(e);
          conn.destroy();
        });
    });
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(socketPath, () => {
      chmodSync(socketPath, 0o600);
      server.off("error", reject);
      resolve(server);
    });
  });
}
