/** What both TCP portal implementations (tcp.ts on Node's handles, nettcp.ts on net.Socket) share. */
export const DEFAULT_DIAL_TIMEOUTS_MS = [250, 500, 1000, 2000];

/** listen(2) backlog of portal sockets (also re-applied by workers: a second listen(2) would reset it). */
export const LISTEN_BACKLOG = 4096;

export interface ProxyPortIdentity {
  key: string;
  name: string;
}

/** Strips the IPv4-mapped prefix Node reports on dual-stack sockets. */
export function clientIPOf(addr: string | undefined): string | null {
  if (!addr) return null;
  return addr.startsWith("::ffff:") ? addr.slice(7) : addr;
}
