import { FakeIptables } from "../../../src/netlinux/iptables.js";
import { ensureJumpRules } from "../../../proxier/iptables/jumps.js";
import { type ProxierInput, type RenderOptions, render } from "../../../proxier/iptables/render.js";
import { testNodeIPs } from "./fixtures.js";
import { tracePacket } from "./tracer.js";

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

/** kube-proxy's runPacketFlowTests: compares output and masquerade of each flow. */
export function checkFlows(ipt: FakeIptables, cases: FlowCase[], nodeIPs = testNodeIPs): string[] {
  const errors: string[] = [];
  for (const c of cases) {
    const r = tracePacket(ipt, c.src, c.proto ?? "tcp", c.dst, c.dport, nodeIPs);
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
