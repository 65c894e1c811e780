/**
 * podwire-cni entry (bundled by scripts/build.mjs into dist/podwire-cni.mjs, run by bin/podwire-cni).
 * Reads CNI_* env + stdin, runs the skeleton with the bridge handlers, prints the result or error JSON on stdout
 * (logs only on stderr) and exits 0 / 1. Keep imports lean: every import costs start-up time on each exec.
 */
import { bridgeHandlers } from "./bridge.js";
import { runSkel } from "./skel.js";

function readStdin(): Promise<string> {
  return new Promise((resolve) => {
    if (process.stdin.isTTY) return resolve("");
    const chunks: Buffer[] = [];
    process.stdin.on("data", (b: Buffer) => chunks.push(b));
    process.stdin.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    process.stdin.on("error", () => resolve(""));
  });
}

const stdin = process.env.CNI_COMMAND === "VERSION" && process.stdin.isTTY ? "" : await readStdin();
const reply = await runSkel(process.env, stdin, bridgeHandlers);
process.stdout.write(reply.stdout, () => process.exit(reply.code));
