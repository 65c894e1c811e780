/**
 * The net.Socket implementation of a TCP portal listener — the fallback when Node's handle bindings are not
 * reachable (see rawtcp.ts; `PODWIRE_USERSPACE_TCP=net` forces it, for comparisons). Same behaviour as tcp.ts,
 * at about twice the CPU per connection.
 *
 * One TCP portal listener: accepts redirected connections, dials a backend chosen by the load balancer and
 * splices the two sockets. Dialing follows kube-proxy's tryConnect: up to 4 attempts with timeouts 250 ms,
 * 500 ms, 1 s, 2 s, each to the next endpoint, with affinity ignored after a failed dial. Half-close is
 * forwarded (a FIN from one side ends the write side of the other); when either socket closes or errors,
 * both are destroyed. pipe() gives back-pressure: a slow reader pauses the fast writer.
 */
import net from "node:net";
import type { RoundRobinBalancer } from "./loadbalancer.js";
import type { PortMetricChildren, UserspaceMetrics } from "./metrics.js";
import { splitHostPort } from "./model.js";
import { DEFAULT_DIAL_TIMEOUTS_MS, LISTEN_BACKLOG, type ProxyPortIdentity, clientIPOf } from "./tcpcommon.js";

/**
 * Copies src to dst with back-pressure (pause src while dst's buffer is full) and forwards the FIN; what pipe()
 * does, with fewer listeners per connection (it matters at tens of thousands of new connections a second).
 */
function forward(src: net.Socket, dst: net.Socket): void {
  src.on("data", (chunk: Buffer) => {
    if (!dst.write(chunk)) src.pause();
  });
  dst.on("drain", () => src.resume());
  src.once("end", () => dst.end());
}

export class NetTcpProxySocket {
  readonly protocol = "tcp" as const;
  /** The listening server (its handle is shared with worker processes). */
  readonly server: net.Server;
  private readonly conns = new Set<net.Socket>();
  private readonly m: PortMetricChildren;
  port = 0;

  constructor(
    readonly id: ProxyPortIdentity,
    private readonly lb: RoundRobinBalancer,
    metrics: UserspaceMetrics,
    private readonly dialTimeoutsMs: readonly number[] = DEFAULT_DIAL_TIMEOUTS_MS,
  ) {
    this.m = metrics.portChildren(id.name, "tcp");
    this.server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true }, (c) => this.onConnection(c));
  }

  /** Binds host:port (port 0 = kernel's choice) and resolves with the bound port. */
  listen(host: string, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      const onErr = (e: Error) => reject(e);
      this.server.once("error", onErr);
      this.server.listen({ host, port, backlog: LISTEN_BACKLOG, exclusive: true }, () => {
        this.server.removeListener("error", onErr);
        this.server.on("error", () => {}); // accept errors (EMFILE) must not kill the process
        this.port = (this.server.address() as net.AddressInfo).port;
        resolve(this.port);
      });
    });
  }

  /** Accepts on a listening handle another process bound (a worker sharing the primary's socket). */
  listenOn(handle: unknown): Promise<void> {
    return new Promise((resolve, reject) => {
      if (!(handle instanceof net.Server)) return reject(new Error("not a net.Server"));
      this.server.once("error", reject);
      // listen(handle) calls listen(2) again: pass the backlog, or Node's default 511 replaces the primary's.
      this.server.listen(handle, LISTEN_BACKLOG, () => {
        this.server.removeListener("error", reject);
        this.server.on("error", () => {});
        resolve();
      });
    });
  }

  /** What worker processes get to accept on (sent over IPC). */
  shareable(): net.Server {
    return this.server;
  }

  /** Not supported here: a net.Server cannot stop accepting and keep its socket (both processes accept). */
  handOff(_spare: unknown): boolean {
    return false;
  }

  acceptHere(): void {}

  /** Stops accepting. Established connections are left alone (endpoint or service changes never cut them). */
  close(): Promise<void> {
    // server.close()'s callback waits for every connection to end; the listening socket itself is closed at once,
    // and a sync must not wait for long-lived connections of a removed service.
    if (this.server.listening) this.server.close();
    return Promise.resolve();
  }

  /** Destroys every proxied connection (process shutdown). */
  destroyConnections(): void {
    for (const c of this.conns) c.destroy();
  }

  get connectionCount(): number {
    return this.conns.size;
  }

  private onConnection(client: net.Socket): void {
    this.m.accepted.inc();
    this.m.active.inc();
    this.conns.add(client);
    client.setNoDelay(true);
    // remoteAddress costs a getpeername(2); only affinity needs it.
    const clientIP = this.lb.usesAffinity(this.id.key) ? clientIPOf(client.remoteAddress) : null;
    let backend: net.Socket | null = null;
    let clientClosed = false;
    client.on("error", () => {}); // the 'close' handler below does the work
    client.once("close", (hadError) => {
      clientClosed = true;
      this.conns.delete(client);
      this.m.active.dec();
      if (client.bytesRead) this.m.bytesIn.inc(client.bytesRead);
      if (client.bytesWritten) this.m.bytesOut.inc(client.bytesWritten);
      // A clean close means both directions finished and the backend already got our FIN; an abortive one
      // (reset, error, destroy) cuts the backend too. Either way nothing stays half-open forever.
      if (hadError || !backend?.readableEnded) backend?.destroy();
    });

    let attempt = 0;
    let resetAffinity = false;
    const dial = () => {
      if (clientClosed) return;
      const ep = attempt < this.dialTimeoutsMs.length ? this.lb.next(this.id.key, clientIP, resetAffinity) : null;
      if (!ep) {
        this.m.noEp.inc();
        client.destroy();
        return;
      }
      const { host, port } = splitHostPort(ep);
      const timeout = this.dialTimeoutsMs[attempt++]!;
      const b = net.connect({ host, port, allowHalfOpen: true, noDelay: true });
      backend = b;
      const timer = setTimeout(() => b.destroy(new Error(`dial ${ep}: timeout after ${timeout} ms`)), timeout);
      const onDialError = () => {
        clearTimeout(timer);
        b.destroy();
        this.m.dialFail.inc();
        resetAffinity = true; // do not send the client back to the endpoint that just failed
        backend = null;
        dial();
      };
      b.once("error", onDialError);
      b.once("connect", () => {
        clearTimeout(timer);
        b.removeListener("error", onDialError);
        if (clientClosed) {
          b.destroy();
          return;
        }
        b.on("error", () => {});
        b.once("close", (hadError) => {
          if (hadError || !client.readableEnded) client.destroy();
        });
        forward(client, b);
        forward(b, client);
        client.resume(); // accepted paused (pauseOnConnect): nothing is read before a backend is there
      });
    };
    dial();
  }
}
