/**
 * Helper process for the kernel-differential test, started inside a network namespace.
 *   server PORT…  — answers TCP and UDP on each port with "<local ip>:<local port> <remote ip>" (who answered, whom
 *                  it saw: the remote address tells whether the packet was masqueraded).
 *   client        — reads JSON lines {id, proto, dst, dport, timeoutMs} on stdin, sends one probe each and prints
 *                  {id, reply} (reply null when nothing answered in time).
 */
import { createSocket } from "node:dgram";
import { connect, createServer } from "node:net";
import { createInterface } from "node:readline";

const [mode, ...rest] = process.argv.slice(2);

function strip(a: string | undefined): string {
  return (a ?? "").replace(/^::ffff:/, "");
}

if (mode === "server") {
  let pending = rest.length * 2;
  const ready = () => {
    if (--pending === 0) process.stdout.write("ready\n");
  };
  for (const p of rest.map(Number)) {
    createServer((s) => {
      s.end(`${strip(s.localAddress)}:${s.localPort} ${strip(s.remoteAddress)}`);
      s.on("error", () => {});
    }).listen(p, "0.0.0.0", ready);
    const u = createSocket("udp4");
    u.on("message", (_m, r) => {
      // reply from the address the packet was sent to (it is the only address here, but be explicit)
      const a = u.address();
      const local = process.env.PROBE_IP ?? a.address;
      u.send(`${local}:${a.port} ${r.address}`, r.port, r.address);
    });
    u.bind(p, "0.0.0.0", ready);
  }
} else if (mode === "client") {
  const rl = createInterface({ input: process.stdin });
  rl.on("line", (line) => {
    const q = JSON.parse(line) as { id: number; proto: string; dst: string; dport: number; timeoutMs: number };
    let done = false;
    const finish = (reply: string | null) => {
      if (done) return;
      done = true;
      process.stdout.write(`${JSON.stringify({ id: q.id, reply })}\n`);
    };
    if (q.proto === "udp") {
      const s = createSocket("udp4");
      const t = setTimeout(() => {
        s.close();
        finish(null);
      }, q.timeoutMs);
      s.on("message", (m) => {
        clearTimeout(t);
        s.close();
        finish(m.toString());
      });
      s.on("error", () => {
        clearTimeout(t);
        s.close();
        finish(null);
      });
      s.send("probe", q.dport, q.dst);
    } else {
      const s = connect({ host: q.dst, port: q.dport });
      let buf = "";
      const t = setTimeout(() => {
        s.destroy();
        finish(null);
      }, q.timeoutMs);
      s.on("data", (d) => {
        buf += d.toString();
      });
      s.on("end", () => {
        clearTimeout(t);
        finish(buf || null);
      });
      s.on("error", () => {
        clearTimeout(t);
        finish(null);
      });
    }
  });
}
