import { FakeIptables } from "../../../src/netlinux/iptables.js";
import { ensureJumpRules } from "../../../proxier/iptables/jumps.js";
import { type ProxierInput, type RenderOptions, render } from "../../../proxier/iptables/render.js";
import { testNodeIPs } from "./fixtures.js";
import { canonical, parseRules, tracePacket } from "../../../proxier/rules/index.js";

/** Renders, installs jump rules and restores into a fresh fake; returns the fake and the render result. */
export async function applyToFake(input: ProxierInput, opts: RenderOptions) {
  const ipt = new FakeIptables(opts.ipFamily ?? "IPv4");
  await ensureJumpRules(ipt, true);
  const result = render(input, opts);
  await ipt.restore(result.payload);
  return { ipt, result };
}

export interface FlowCase {
  name: string;
  src: string;
  dst: string;
  dport: number;
  proto?: string;
  output: string;
  masq?: boolean;
}

/** kube-proxy's sortIPTablesRules (proxier_test.go), as proxier/rules implements it: rules printed as written. */
export function sortIPTablesRules(payload: string): string {
  return canonical(parseRules(payload), { mode: "kube-proxy", raw: true });
}

/**
 * kube-proxy's test tracer output for a packet, from proxier/rules' tracer: the DNAT destinations, then a DROP or
 * REJECT verdict, comma-joined; "" when nothing matched. proxier/rules follows the real hooks (INPUT/FORWARD via
 * the jump rules, KUBE-FORWARD too), so forwarded flows also end in KUBE-FORWARD's ACCEPT; kube's tracer never
 * runs KUBE-FORWARD, and no ported case expects ACCEPT, so ACCEPT is left out like there.
 */
export function traceFlow(
  ipt: FakeIptables,
  src: string,
  proto: string,
  dst: string,
  dport: number,
  nodeIPs: string[],
) {
  const dump = parseRules(ipt.saveSync("filter") + ipt.saveSync("nat"));
  const r = tracePacket(dump, { src, dst, dport, proto: proto as "tcp" | "udp" | "sctp" }, { nodeIPs });
  const parts = [...r.targets];
  for (const o of r.outcomes)
    if ((o.verdict === "DROP" || o.verdict === "REJECT") && !parts.includes(o.verdict)) parts.push(o.verdict);
  return { output: parts.join(", "), masq: r.masquerade, matches: r.path };
}

/** kube-proxy's runPacketFlowTests: compares output and masquerade of each flow. */
export function checkFlows(ipt: FakeIptables, cases: FlowCase[], nodeIPs = testNodeIPs): string[] {
  const errors: string[] = [];
  for (const c of cases) {
    const r = traceFlow(ipt, c.src, c.proto ?? "tcp", c.dst, c.dport, nodeIPs);
    if (r.output !== c.output || r.masq !== (c.masq ?? false))
      errors.push(
        `${c.name}: got output=${JSON.stringify(r.output)} masq=${r.masq}, want ${JSON.stringify(c.output)} masq=${c.masq ?? false}\n  ${r.matches.join("\n  ")}`,
      );
  }
  return errors;
}

/** All `-A` lines of a chain in a payload. */
export function chainLines(payload: string, chain: string): string[] {
  return payload.split("\n").filter((l) => l.startsWith(`-A ${chain} `) || l === `-A ${chain}`);
}
