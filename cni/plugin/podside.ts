/**
 * Pod-side configuration (interface up, addresses, routes inside CNI_NETNS) for the long-running plugin server.
 * Node cannot setns(2), so each ADD used to spawn `nsenter --net=… ip -batch` — a fork of the whole agent and two
 * execs, the largest share of an ADD on a loaded machine. Instead the server keeps one small helper process
 * (`dist/podwire-cni --netns-helper`, cni/client/podwire-cni.c) that enters the pod's netns per request and talks
 * rtnetlink there. Without the compiled helper (no C compiler at build time) or when it fails to start, callers
 * fall back to `ip -batch`.
 *
 * Protocol (one line each way, answered in order): `<netns>\t<ifname>\t<addr/len>[,…]\t<dst>[ <gw>][,…]` →
 * `0` or `<errno> <what>: <message>`.
 */
import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { closeSync, openSync, readSync } from "node:fs";
import { fileURLToPath } from "node:url";

export interface PodSetup {
  netns: string;
  ifname: string;
  addresses: string[];
  routes: { dst: string; gw?: string }[];
}

export class PodSideError extends Error {
  override name = "PodSideError";
  constructor(
    readonly errno: number,
    message: string,
  ) {
    super(message);
  }
}

/** The compiled client next to the dist tree (dist/podwire-cni), if it is an ELF binary (not the sh fallback). */
export function findHelperBinary(): string | undefined {
  for (const rel of ["../../podwire-cni", "./podwire-cni"]) {
    const p = fileURLToPath(new URL(rel, import.meta.url));
    try {
      const fd = openSync(p, "r");
      try {
        const b = Buffer.alloc(4);
        readSync(fd, b, 0, 4, 0);
        if (b.toString("latin1") === "\x7fELF") return p;
      } finally {
        closeSync(fd);
      }
    } catch {}
  }
  return undefined;
}

/** Encodes one request; undefined when a field cannot travel in the line protocol (caller falls back). */
export function encodeRequest(s: PodSetup): string | undefined {
  const fields = [
    s.netns,
    s.ifname,
    s.addresses.join(","),
    s.routes.map((r) => (r.gw ? `${r.dst} ${r.gw}` : r.dst)).join(","),
  ];
  if (fields.some((f) => /[\t\n\r]/.test(f)) || s.addresses.some((a) => a.includes(","))) return undefined;
  return `${fields.join("\t")}\n`;
}

export class PodSideHelper {
  private child: ChildProcessWithoutNullStreams | undefined;
  private pending: { resolve: () => void; reject: (e: Error) => void }[] = [];
  private buf = "";

  constructor(private readonly binary: string) {}

  private start(): ChildProcessWithoutNullStreams {
    const child = spawn(this.binary, ["--netns-helper"], { stdio: ["pipe", "pipe", "pipe"] });
    child.stdout.setEncoding("utf8");
    child.stdout.on("data", (d: string) => {
      this.buf += d;
      for (let nl = this.buf.indexOf("\n"); nl >= 0; nl = this.buf.indexOf("\n")) {
        const line = this.buf.slice(0, nl);
        this.buf = this.buf.slice(nl + 1);
        const p = this.pending.shift();
        if (!p) continue;
        const sp = line.indexOf(" ");
        const errno = Number(sp < 0 ? line : line.slice(0, sp));
        if (errno === 0) p.resolve();
        else p.reject(new PodSideError(errno, sp < 0 ? `pod setup failed (${line})` : line.slice(sp + 1)));
      }
      this.idle();
    });
    const fail = (why: string) => {
      if (this.child !== child) return;
      this.child = undefined;
      this.buf = "";
      for (const p of this.pending.splice(0)) p.reject(new Error(`netns helper ${why}`));
    };
    child.on("error", (e) => fail(`failed: ${e.message}`));
    child.on("exit", (code, sig) => fail(`exited (${code ?? sig})`));
    child.stdin.on("error", () => {});
    child.stderr.resume();
    return child;
  }

  /** Keeps the helper from holding the event loop open while no request waits on it. */
  private idle(): void {
    if (this.pending.length > 0 || !this.child) return;
    this.child.unref();
    (this.child.stdout as unknown as { unref(): void }).unref();
    (this.child.stderr as unknown as { unref(): void }).unref();
    (this.child.stdin as unknown as { unref(): void }).unref();
  }

  setup(s: PodSetup, line: string = encodeRequest(s) ?? ""): Promise<void> {
    if (!line) return Promise.reject(new Error("request not expressible in the helper protocol"));
    this.child ??= this.start();
    const child = this.child;
    child.ref();
    (child.stdout as unknown as { ref(): void }).ref();
    return new Promise((resolve, reject) => {
      this.pending.push({ resolve, reject });
      child.stdin.write(line);
    });
  }

  close(): void {
    const c = this.child;
    this.child = undefined;
    for (const p of this.pending.splice(0)) p.reject(new Error("netns helper closed"));
    c?.stdin.end();
  }
}
