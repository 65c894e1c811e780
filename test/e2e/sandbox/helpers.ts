/** Helpers for the sandbox e2e: run podwire/kubectl, reach pods through netexec from inside node namespaces. */
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { run } from "../../../src/netlinux/exec.js";
import { runIn } from "../../../src/netlinux/netns.js";

export const podwire = fileURLToPath(new URL("../../../../bin/podwire", import.meta.url));

export function sh(
  file: string,
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
  timeoutMs = 60_000,
): { code: number; out: string; err: string } {
  const r = spawnSync(file, args, { env, encoding: "utf8", timeout: timeoutMs });
  return { code: r.status ?? -1, out: r.stdout ?? "", err: r.stderr ?? "" };
}

export class Kubectl {
  constructor(readonly kubeconfig: string) {}
  run(...args: string[]): string {
    const r = sh("kubectl", args, { ...process.env, KUBECONFIG: this.kubeconfig });
    if (r.code !== 0) throw new Error(`kubectl ${args.join(" ")} exited ${r.code}: ${r.err.trim()}`);
    return r.out;
  }
  apply(yaml: string): void {
    const r = spawnSync("kubectl", ["apply", "-f", "-"], {
      input: yaml,
      env: { ...process.env, KUBECONFIG: this.kubeconfig },
      encoding: "utf8",
    });
    if (r.status !== 0) throw new Error(`kubectl apply: ${r.stderr}`);
  }
  json<T = unknown>(...args: string[]): T {
    return JSON.parse(this.run(...args, "-o", "json")) as T;
  }
}

export async function until<T>(
  what: string,
  fn: () => T | undefined | false | Promise<T | undefined | false>,
  ms = 60_000,
): Promise<T> {
  const end = Date.now() + ms;
  let last = "";
  while (Date.now() < end) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = (e as Error).message;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`timed out after ${ms / 1000}s waiting for ${what}${last ? ` (last error: ${last})` : ""}`);
}

/** HTTP GET from inside a namespace (curl), body or throws. */
export async function curlIn(ns: string, url: string, timeoutS = 5): Promise<string> {
  const r = await runIn(ns, "curl", ["-sS", "-m", String(timeoutS), url], {
    check: false,
    timeoutMs: (timeoutS + 2) * 1000,
  });
  if (r.code !== 0) throw new Error(`curl ${url} in ${ns}: ${r.stderr.trim()}`);
  return r.stdout;
}

/** netexec /dial from a pod (reached through its node's namespace): the responses of `tries` fresh connections. */
export async function dialFrom(
  nodeNs: string,
  podIP: string,
  host: string,
  port: number,
  tries: number,
  protocol = "http",
  request = "hostname",
): Promise<string[]> {
  const q = new URLSearchParams({ host, port: String(port), request, protocol, tries: String(tries) });
  const body = await curlIn(nodeNs, `http://${podIP}:8080/dial?${q}`, 30);
  const o = JSON.parse(body) as { responses?: string[]; errors?: string[] };
  return o.responses ?? [];
}

/** Runs a shell command inside a netexec pod (its /shell endpoint). */
export async function shellIn(nodeNs: string, podIP: string, cmd: string): Promise<string> {
  const body = await curlIn(nodeNs, `http://${podIP}:8080/shell?${new URLSearchParams({ cmd })}`, 15);
  return (JSON.parse(body) as { output: string }).output;
}

export async function iptablesSave(ns: string): Promise<string> {
  return (await runIn(ns, "iptables-save", ["-t", "nat"], { check: false })).stdout;
}

/** Endpoint IPs the iptables proxier programmed for a service (`ns/name`, any port): KUBE-SEP DNAT targets. */
export function sepTargets(save: string, svc: string): string[] {
  const out = new Set<string>();
  for (const line of save.split("\n")) {
    if (!line.startsWith("-A KUBE-SEP-") || !line.includes("DNAT")) continue;
    if (
      !line.includes(`--comment "${svc}"`) &&
      !line.includes(`--comment "${svc}:`) &&
      !line.includes(`--comment ${svc} `)
    )
      continue;
    const m = /--to-destination (\d+\.\d+\.\d+\.\d+):\d+/.exec(line);
    if (m?.[1]) out.add(m[1]);
  }
  return [...out].sort();
}

export { run };
