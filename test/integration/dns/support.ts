/** Integration helpers: run `podwire dns serve`, query it with dig, and a tiny upstream on loopback. */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import dns2 from "dns2";

const bin = fileURLToPath(new URL("../../../../bin/podwire", import.meta.url));

export interface Served {
  proc: ChildProcess;
  port: number;
  stderr: () => string;
  stop(): Promise<number | null>;
}

/** Starts `podwire dns serve` with `args` on a random loopback port; resolves once it listens. */
export async function serveDns(args: string[]): Promise<Served> {
  const proc = spawn(process.execPath, [bin, "dns", "serve", "--listen", "127.0.0.1:0", ...args], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  proc.stderr?.on("data", (d) => {
    err += d;
  });
  const port = await new Promise<number>((resolve, reject) => {
    proc.stdout?.on("data", (d) => {
      out += d;
      const m = /listening on [^ ]+:(\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    proc.once("exit", (code) => reject(new Error(`podwire dns exited ${code}: ${err}`)));
  });
  return {
    proc,
    port,
    stderr: () => err,
    async stop() {
      if (proc.exitCode !== null) return proc.exitCode;
      proc.kill("SIGTERM");
      const timer = setTimeout(() => proc.kill("SIGKILL"), 10_000);
      const [code] = (await once(proc, "exit")) as [number | null];
      clearTimeout(timer);
      return code;
    },
  };
}

export interface DigRecord {
  name: string;
  ttl: number;
  type: string;
  data: string;
}
export interface DigResult {
  status: string;
  flags: string[];
  answer: DigRecord[];
  authority: DigRecord[];
  additional: DigRecord[];
  /** "UDP" or "TCP": how dig got the final reply. */
  raw: string;
}

/** Runs dig against the server. `extra` e.g. ["+notcp"], ["+tcp"], ["+bufsize=1232"]. */
export function dig(port: number, name: string, type: string, extra: string[] = []): Promise<DigResult> {
  const args = ["@127.0.0.1", "-p", String(port), name, type, "+tries=1", "+time=3", "+nocookie", ...extra];
  return new Promise((resolve, reject) => {
    execFile("dig", args, { timeout: 15_000 }, (e, stdout) => {
      if (e && !stdout) return reject(e);
      resolve(parseDig(stdout));
    });
  });
}

function parseDig(out: string): DigResult {
  const status = /status: (\w+)/.exec(out)?.[1] ?? "NONE";
  const flags = (/;; flags: ([^;]*);/.exec(out)?.[1] ?? "").trim().split(/\s+/);
  const section = (title: string): DigRecord[] => {
    const m = new RegExp(`;; ${title} SECTION:\\n([\\s\\S]*?)(?:\\n\\n|$)`).exec(out);
    if (!m?.[1]) return [];
    return m[1]
      .split("\n")
      .filter((l) => l && !l.startsWith(";"))
      .map((l) => {
        const [name, ttl, , type, ...rest] = l.split(/\s+/);
        return { name: name ?? "", ttl: Number(ttl), type: type ?? "", data: rest.join(" ") };
      });
  };
  return {
    status,
    flags,
    answer: section("ANSWER"),
    authority: section("AUTHORITY"),
    additional: section("ADDITIONAL"),
    raw: out,
  };
}

export interface Upstream {
  port: number;
  queries: () => number;
  close(): Promise<void>;
}

/** A small authoritative upstream for `example.test` on loopback (dns2 3.1.1's server). */
export async function startUpstream(): Promise<Upstream> {
  const { Packet } = dns2;
  let count = 0;
  const server = dns2.createServer({
    udp: true,
    handle: (request, send) => {
      count++;
      const response = Packet.createResponseFromRequest(request);
      const q = request.questions[0];
      const name = q?.name ?? "";
      if (/^missing\./i.test(name)) {
        response.header.rcode = 3;
        response.authorities.push({
          name: "example.test",
          type: Packet.TYPE.SOA,
          class: Packet.CLASS.IN,
          ttl: 300,
          primary: "ns.example.test",
          admin: "hostmaster.example.test",
          serial: 1,
          refresh: 3600,
          retry: 600,
          expiration: 86400,
          minimum: 30,
        } as never);
      } else if (q?.type === Packet.TYPE.A) {
        response.answers.push({
          name,
          type: Packet.TYPE.A,
          class: Packet.CLASS.IN,
          ttl: 60,
          address: "192.0.2.53",
        } as never);
      }
      send(response);
    },
  });
  await server.listen({ udp: { port: 0, address: "127.0.0.1" } });
  const addrs = server.addresses() as unknown as { udp: { port: number } };
  return {
    port: addrs.udp.port,
    queries: () => count,
    close: async () => {
      await server.close();
    },
  };
}
