/**
 * Test peer process, started inside a namespace with spawnIn/runIn:
 *   node peer.js server NAME TCPPORT UDPPORT   — answers every TCP connection and UDP datagram with NAME
 *   node peer.js tcp HOST PORT COUNT           — COUNT connections; prints a JSON array of replies ("ERR:<code>" on failure)
 *   node peer.js udp HOST PORT COUNT [SPORT]   — COUNT datagrams (from SPORT if given); prints replies likewise
 */
import { createSocket } from "node:dgram";
import { connect, createServer } from "node:net";

const [mode, a, b, c, d] = process.argv.slice(2);

function tcpOnce(host: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    const s = connect({ host, port });
    let buf = "";
    const timer = setTimeout(() => {
      s.destroy();
      resolve("ERR:TIMEOUT");
    }, 2000);
    s.on("data", (x) => (buf += x.toString()));
    s.on("end", () => {
      clearTimeout(timer);
      resolve(buf.trim());
    });
    s.on("error", (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve(`ERR:${e.code}`);
    });
  });
}

function udpOnce(host: string, port: number, sport?: number): Promise<string> {
  return new Promise((resolve) => {
    const s = createSocket(host.includes(":") ? "udp6" : "udp4");
    const timer = setTimeout(() => {
      s.close();
      resolve("ERR:TIMEOUT");
    }, 1000);
    s.on("message", (m) => {
      clearTimeout(timer);
      s.close();
      resolve(m.toString().trim());
    });
    s.on("error", (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      s.close();
      resolve(`ERR:${e.code}`);
    });
    s.bind(sport ?? 0, () => s.send("ping", port, host));
  });
}

async function main() {
  if (mode === "server") {
    const name = a!;
    createServer((sock) => {
      sock.on("error", () => {});
      sock.end(`${name}\n`);
    }).listen(Number(b), "0.0.0.0");
    const u = createSocket("udp4");
    u.on("message", (_m, rinfo) => u.send(`${name}\n`, rinfo.port, rinfo.address));
    u.bind(Number(c), "0.0.0.0");
    process.stdout.write("ready\n");
    return;
  }
  const out: string[] = [];
  for (let i = 0; i < Number(c); i++) {
    out.push(mode === "tcp" ? await tcpOnce(a!, Number(b)) : await udpOnce(a!, Number(b), d ? Number(d) : undefined));
  }
  process.stdout.write(`${JSON.stringify(out)}\n`);
}
void main();
