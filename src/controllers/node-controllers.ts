/** The node lifecycle and node IPAM controllers (I/O around nodelifecycle.ts and ipam.ts). */
import type { Node, Pod } from "../api/index.js";
import { isNotFound } from "../client/index.js";
import type { ControllerContext, RunningController } from "./context.js";
import { type IpamConfig, planPodCIDRs } from "./ipam.js";
import { decideNode, podNotReadyStatus, shouldEvict } from "./nodelifecycle.js";
import { isPodReady } from "./pods.js";
import { type ReconcileResult, runReconcileLoop } from "./runner.js";

export function startNodeLifecycleController(
  ctx: ControllerContext,
  opts: { gracePeriodMs: number; monitorPeriodMs: number; evictionSeconds: number },
): RunningController {
  const nodes = ctx.source.informer<Node>("Node");
  const pods = ctx.source.informer<Pod>("Pod");

  const reconcile = async (name: string): Promise<ReconcileResult> => {
    const node = nodes.get(undefined, name);
    if (!node) return undefined;
    const now = ctx.now();
    const d = decideNode(node, now, opts.gracePeriodMs);
    let retry = false;
    let cur = node;
    if (d.conditions) {
      ctx.log.info?.({ node: name }, "node stopped posting status: marking it Unknown");
      const r = await ctx.client.updateStatus({ ...cur, status: { ...cur.status, conditions: d.conditions } });
      if (r.ok) ctx.events.record(node, "Normal", "NodeNotReady", `Node ${name} status is now: NodeNotReady`);
      if (r.ok) cur = r.value;
      else if (!isNotFound(r.error)) return { retry: true };
    }
    if (d.taints) {
      const r = await ctx.client.patch("Node", undefined, name, { spec: { taints: d.taints } }, "merge");
      if (!r.ok && !isNotFound(r.error)) retry = true;
    }
    if (d.notReady) {
      for (const p of pods.list()) {
        if (p.spec.nodeName !== name) continue;
        if (opts.evictionSeconds >= 0 && shouldEvict(p, cur, now, opts.evictionSeconds)) {
          const r = await ctx.client.delete("Pod", p.metadata.namespace, p.metadata.name ?? "");
          if (r.ok)
            ctx.events.record(
              p,
              "Normal",
              "TaintManagerEviction",
              `Marking for deletion Pod ${p.metadata.namespace}/${p.metadata.name}`,
            );
          else if (!isNotFound(r.error)) retry = true;
          continue;
        }
        const status = podNotReadyStatus(p, now);
        if (!status) continue;
        const r = await ctx.client.updateStatus({ ...p, status });
        if (!r.ok && !isNotFound(r.error)) retry = true;
      }
    }
    return retry ? { retry: true } : undefined;
  };

  const loop = runReconcileLoop("nodelifecycle", reconcile, { workers: 1, log: ctx.log });
  const enqueue = (n: Node) => loop.queue.add(n.metadata.name ?? "");
  const unsubs = [
    nodes.addHandler({ onAdd: enqueue, onUpdate: (_o, n) => enqueue(n) }),
    // A pod that turns Ready on a node already known NotReady must be flipped back.
    pods.addHandler({
      onUpdate: (_o, p) => {
        if (!p.spec.nodeName || !isPodReady(p)) return;
        const n = nodes.get(undefined, p.spec.nodeName);
        if (n?.status?.conditions?.find((c) => c.type === "Ready")?.status !== "True") loop.queue.add(p.spec.nodeName);
      },
    }),
  ];
  // Heartbeats missing is the absence of events: only a timer notices it.
  const monitor = setInterval(() => nodes.list().forEach(enqueue), opts.monitorPeriodMs);
  return {
    name: "nodelifecycle",
    stop: async () => {
      clearInterval(monitor);
      for (const u of unsubs) u();
      await loop.stop();
    },
  };
}

export function startNodeIpamController(ctx: ControllerContext, cfg: IpamConfig): RunningController {
  const nodes = ctx.source.informer<Node>("Node");
  // CIDRs we assigned, kept until the cache shows them, so a lagging cache cannot cause a double assignment.
  const inFlight = new Map<string, string[]>();

  const reconcile = async (): Promise<ReconcileResult> => {
    const all = nodes.list();
    for (const [name, cidrs] of inFlight) {
      const n = all.find((x) => x.metadata.name === name);
      if (!n || n.spec?.podCIDR === cidrs[0]) inFlight.delete(name);
    }
    const pending = all.filter((n) => !inFlight.has(n.metadata.name ?? ""));
    const plan = planPodCIDRs(cfg, pending, [...inFlight.values()].flat());
    for (const name of plan.exhausted)
      ctx.log.warn({ node: name }, "no pod CIDR available for node (cluster CIDR exhausted)");
    let retry = false;
    for (const [name, cidrs] of plan.assign) {
      inFlight.set(name, cidrs);
      const r = await ctx.client.patch(
        "Node",
        undefined,
        name,
        { spec: { podCIDR: cidrs[0], podCIDRs: cidrs } },
        "merge",
      );
      if (r.ok)
        ctx.events.record(r.value, "Normal", "CIDRAssignmentSucceeded", `Node ${name} got podCIDRs ${cidrs.join(",")}`);
      if (!r.ok) {
        inFlight.delete(name);
        if (!isNotFound(r.error)) retry = true;
      }
    }
    return retry ? { retry: true } : undefined;
  };

  // One key: allocation looks at all nodes at once, and one worker keeps it free of races.
  const loop = runReconcileLoop("nodeipam", reconcile, { workers: 1, log: ctx.log });
  const unsubs = [
    nodes.addHandler({
      onAdd: () => loop.queue.add("all"),
      onUpdate: (_o, n) => {
        if (!n.spec?.podCIDR) loop.queue.add("all");
      },
    }),
  ];
  return {
    name: "nodeipam",
    stop: async () => {
      for (const u of unsubs) u();
      await loop.stop();
    },
  };
}
