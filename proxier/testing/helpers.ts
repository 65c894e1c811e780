/**
 * Helpers for property tests over rules: render a cluster with podwire's renderer (kube-proxy's rules), trace a
 * packet, canonicalise and diff rule sets. Rules may be given as text (any dump format) or as parsed dumps.
 */
import { type RenderOptions, render as renderRules } from "../iptables/render.js";
import { type CanonicalOptions, canonical as canonicalText } from "../rules/canonical.js";
import { type DiffOptions, diffDumps, type RulesDiff } from "../rules/diff.js";
import { withKubeProxyHooks } from "../rules/hooks.js";
import type { Dump } from "../rules/model.js";
import { parseRules } from "../rules/parse.js";
import { lacksHookRules, type Packet, type TraceOptions, type TraceResult, tracePacket } from "../rules/trace.js";
import type { Cluster } from "./arbitraries.js";

export type Rules = string | Dump;

function dumpOf(r: Rules): Dump {
  return typeof r === "string" ? parseRules(r) : r;
}

/** Default pod CIDR used by `render` for local-traffic detection. */
export const DEFAULT_CLUSTER_CIDR = "10.244.0.0/16";

/** The iptables-restore payload podwire (= kube-proxy) writes for the cluster. */
export function render(cluster: Cluster, opts: RenderOptions = {}): string {
  return renderRules(cluster, { clusterCIDRs: [DEFAULT_CLUSTER_CIDR], ...opts }).payload;
}

export interface TraceHelperOptions extends TraceOptions {
  /** Add kube-proxy's hook rules when the rules have none (default true): a bare payload traces like a node. */
  kubeHooks?: boolean;
}

/** Traces a packet; node IPs default to none (pass the cluster's node IPs for NodePorts). */
export function trace(rules: Rules, packet: Packet, opts: TraceHelperOptions = {}): TraceResult {
  let d = dumpOf(rules);
  if ((opts.kubeHooks ?? true) && lacksHookRules(d)) d = withKubeProxyHooks(d);
  return tracePacket(d, packet, opts);
}

export function canonical(rules: Rules, opts: CanonicalOptions = {}): string {
  return canonicalText(dumpOf(rules), opts);
}

export function diff(a: Rules, b: Rules, opts: DiffOptions = {}): RulesDiff {
  return diffDumps(dumpOf(a), dumpOf(b), opts);
}
