/** `podwire status`: the export line, the recorded processes' liveness and the nodes as the apiserver sees them. */
import type { Node } from "../api/core.js";
import { connect } from "../client/index.js";
import { listNetns } from "../netlinux/netns.js";
import { alive } from "./processes.js";
import { readState } from "./state.js";

export async function status(name: string, out: NodeJS.WritableStream = process.stdout): Promise<boolean> {
  const s = readState(name);
  if (!s) {
    const left = listNetns(`${name}-`);
    out.write(
      `sandbox ${name} does not exist${left.length ? ` (leftover namespaces: ${left.join(" ")}; run podwire down --name ${name})` : ""}\n`,
    );
    return false;
  }
  out.write(`export KUBECONFIG=${s.kubeconfig}\n`);
  out.write(
    `sandbox ${s.name}: ${s.phase}, created ${s.createdAt}, proxy mode ${s.proxyMode}, apiserver ${s.apiServer} (host 127.0.0.1:${s.hostPort})\n`,
  );
  let ok = s.phase === "ready";
  for (const p of s.processes) {
    const a = alive(p);
    ok &&= a;
    out.write(`  ${p.role.padEnd(14)} pid ${String(p.pid).padEnd(8)} ${a ? "running" : "NOT RUNNING"}\n`);
  }
  const client = connect({ kubeconfig: s.kubeconfig });
  try {
    const r = await client.list("Node");
    if (!r.ok) {
      out.write(`  nodes: apiserver not reachable: ${r.error.message}\n`);
      return false;
    }
    out.write("NAME      STATUS     INTERNAL-IP    NAMESPACE\n");
    for (const n of r.value.items as Node[]) {
      const ready = n.status?.conditions?.find((c) => c.type === "Ready")?.status === "True";
      ok &&= ready;
      const ip = n.status?.addresses?.find((a) => a.type === "InternalIP")?.address ?? "";
      out.write(
        `${(n.metadata.name ?? "").padEnd(10)}${(ready ? "Ready" : "NotReady").padEnd(11)}${ip.padEnd(15)}${s.name}-${n.metadata.name}\n`,
      );
    }
  } finally {
    client.close();
  }
  return ok;
}
