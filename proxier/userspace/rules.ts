/**
 * Portal rules of the userspace mode as ONE iptables-restore payload (kube-proxy wrote them with one
 * `iptables` process per rule, which is what made it slow and lock-hungry, kubernetes/kubernetes#13270).
 *
 * Chains (nat): KUBE-PORTALS-CONTAINER (from PREROUTING), KUBE-PORTALS-HOST (from OUTPUT),
 * KUBE-NODEPORT-CONTAINER (PREROUTING, dst LOCAL), KUBE-NODEPORT-HOST (OUTPUT, dst LOCAL); (filter):
 * KUBE-NODEPORT-NON-LOCAL (from INPUT). Rule forms follow kube-proxy's iptables{Container,Host}PortalArgs:
 * container portals REDIRECT to the proxy port when the proxy listens on 0.0.0.0 (DNAT to 127.0.0.1 drops
 * packets; DNAT to eth0's IP breaks the reply NAT), else DNAT to listenIP:port; host portals always DNAT to
 * hostIP:port because REDIRECT of locally generated traffic answers from the wrong address.
 * The jumps from the built-in chains are not part of the payload (a --noflush restore would duplicate them);
 * `jumpRules()` lists them for the applier to ensure once.
 */
import { type ServicePortInfo, type UserspaceInput, nodeIPsOf, servicePorts } from "./model.js";

export const CHAIN_PORTALS_CONTAINER = "KUBE-PORTALS-CONTAINER";
export const CHAIN_PORTALS_HOST = "KUBE-PORTALS-HOST";
export const CHAIN_NODEPORT_CONTAINER = "KUBE-NODEPORT-CONTAINER";
export const CHAIN_NODEPORT_HOST = "KUBE-NODEPORT-HOST";
export const CHAIN_NODEPORT_NON_LOCAL = "KUBE-NODEPORT-NON-LOCAL";

export const NAT_CHAINS = [CHAIN_PORTALS_CONTAINER, CHAIN_PORTALS_HOST, CHAIN_NODEPORT_CONTAINER, CHAIN_NODEPORT_HOST];
export const FILTER_CHAINS = [CHAIN_NODEPORT_NON_LOCAL];

export interface UserspaceRenderOptions {
  /** Proxy port of each service port, by ServicePortInfo.key. Ports missing here get no rules. */
  proxyPorts: ReadonlyMap<string, number>;
  /** Address the proxy listens on (default 0.0.0.0 → REDIRECT for container portals). */
  listenIP?: string;
  /** DNAT target of host portals when listening on 0.0.0.0 (default: the first node IP). */
  hostIP?: string;
  /** Add `-m physdev ! --physdev-is-in` to external-IP container portals, as kube-proxy did (default true). */
  physdev?: boolean;
}

/** A jump from a built-in chain: table, the chain, whether it goes first (-I) or last (-A), the rule args. */
export interface JumpRule {
  table: "nat" | "filter";
  chain: string;
  position: "first" | "last";
  args: string[];
}

/** kube-proxy's iptablesInit, in that order (ClusterIP portals first, NodePorts last). */
export function jumpRules(): JumpRule[] {
  const portals = "handle ClusterIPs; NOTE: this must be before the NodePort rules";
  const nodePorts = "handle service NodePorts; NOTE: this must be the last rule in the chain";
  return [
    {
      table: "nat",
      chain: "PREROUTING",
      position: "first",
      args: ["-m", "comment", "--comment", portals, "-j", CHAIN_PORTALS_CONTAINER],
    },
    {
      table: "nat",
      chain: "OUTPUT",
      position: "first",
      args: ["-m", "comment", "--comment", portals, "-j", CHAIN_PORTALS_HOST],
    },
    {
      table: "nat",
      chain: "PREROUTING",
      position: "last",
      args: [
        "-m",
        "addrtype",
        "--dst-type",
        "LOCAL",
        "-m",
        "comment",
        "--comment",
        nodePorts,
        "-j",
        CHAIN_NODEPORT_CONTAINER,
      ],
    },
    {
      table: "nat",
      chain: "OUTPUT",
      position: "last",
      args: [
        "-m",
        "addrtype",
        "--dst-type",
        "LOCAL",
        "-m",
        "comment",
        "--comment",
        nodePorts,
        "-j",
        CHAIN_NODEPORT_HOST,
      ],
    },
    {
      table: "filter",
      chain: "INPUT",
      position: "first",
      args: [
        "-m",
        "comment",
        "--comment",
        "Ensure that non-local NodePort traffic can flow",
        "-j",
        CHAIN_NODEPORT_NON_LOCAL,
      ],
    },
  ];
}

/** Quotes a restore-file word when it needs it (comments with spaces). */
export function quoteArg(a: string): string {
  return /^[A-Za-z0-9_./:,=+@%!-]+$/.test(a) ? a : `"${a.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;
}

function commonArgs(
  sp: ServicePortInfo,
  destIP: string | null,
  destPort: number,
  physdev: boolean,
  dstLocal: boolean,
): string[] {
  const a = ["-m", "comment", "--comment", sp.name, "-p", sp.protocol, "-m", sp.protocol, "--dport", String(destPort)];
  if (destIP) a.push("-d", `${destIP}/32`);
  if (physdev) a.push("-m", "physdev", "!", "--physdev-is-in");
  if (dstLocal) a.push("-m", "addrtype", "--dst-type", "LOCAL");
  return a;
}

function isAny(ip: string): boolean {
  return ip === "0.0.0.0" || ip === "::" || ip === "";
}

/** Renders the full restore payload (nat + filter) for the given service ports and proxy ports. */
export function renderPortalRules(
  ports: readonly ServicePortInfo[],
  opts: UserspaceRenderOptions & { hostIP?: string },
): string {
  const listenIP = opts.listenIP ?? "0.0.0.0";
  const physdevOK = opts.physdev ?? true;
  const container: string[][] = [];
  const host: string[][] = [];
  const npContainer: string[][] = [];
  const npHost: string[][] = [];
  const npNonLocal: string[][] = [];
  const hostTarget = isAny(listenIP) ? opts.hostIP : listenIP;

  const containerJump = (proxyPort: number): string[] =>
    isAny(listenIP)
      ? ["-j", "REDIRECT", "--to-ports", String(proxyPort)]
      : ["-j", "DNAT", "--to-destination", `${listenIP}:${proxyPort}`];
  const hostJump = (proxyPort: number): string[] | null =>
    hostTarget ? ["-j", "DNAT", "--to-destination", `${hostTarget}:${proxyPort}`] : null;

  for (const sp of ports) {
    const proxyPort = opts.proxyPorts.get(sp.key);
    if (!proxyPort) continue;
    const hj = hostJump(proxyPort);
    // ClusterIP portal.
    container.push([...commonArgs(sp, sp.clusterIP, sp.port, false, false), ...containerJump(proxyPort)]);
    if (hj) host.push([...commonArgs(sp, sp.clusterIP, sp.port, false, false), ...hj]);
    // External IPs: traffic arriving from outside (not bridged), traffic from containers to a local external
    // IP, and traffic from the host itself to a local external IP.
    for (const ip of sp.externalIPs) {
      container.push([...commonArgs(sp, ip, sp.port, physdevOK, false), ...containerJump(proxyPort)]);
      container.push([...commonArgs(sp, ip, sp.port, false, true), ...containerJump(proxyPort)]);
      if (hj) host.push([...commonArgs(sp, ip, sp.port, false, true), ...hj]);
    }
    // LoadBalancer ingress IPs are ordinary portals.
    for (const ip of sp.loadBalancerIPs) {
      container.push([...commonArgs(sp, ip, sp.port, false, false), ...containerJump(proxyPort)]);
      if (hj) host.push([...commonArgs(sp, ip, sp.port, false, false), ...hj]);
    }
    if (sp.nodePort) {
      npContainer.push([...commonArgs(sp, null, sp.nodePort, false, false), ...containerJump(proxyPort)]);
      if (hj) npHost.push([...commonArgs(sp, null, sp.nodePort, false, false), ...hj]);
      npNonLocal.push([
        ...commonArgs(sp, null, proxyPort, false, false),
        "-m",
        "state",
        "--state",
        "NEW",
        "-j",
        "ACCEPT",
      ]);
    }
  }

  const lines: string[] = ["*nat"];
  for (const c of NAT_CHAINS) lines.push(`:${c} - [0:0]`);
  const emit = (chain: string, rules: string[][]) => {
    for (const r of rules) lines.push(`-A ${chain} ${r.map(quoteArg).join(" ")}`);
  };
  emit(CHAIN_PORTALS_CONTAINER, container);
  emit(CHAIN_PORTALS_HOST, host);
  emit(CHAIN_NODEPORT_CONTAINER, npContainer);
  emit(CHAIN_NODEPORT_HOST, npHost);
  lines.push("COMMIT", "*filter");
  for (const c of FILTER_CHAINS) lines.push(`:${c} - [0:0]`);
  emit(CHAIN_NODEPORT_NON_LOCAL, npNonLocal);
  lines.push("COMMIT", "");
  return lines.join("\n");
}

/**
 * The restore payload for a cluster state: the pure entry point (`podwire proxy render --proxy-mode userspace`).
 * Host portals DNAT to opts.hostIP, else to the first node IP; without either they are left out.
 */
export function renderUserspaceRules(input: UserspaceInput, opts: UserspaceRenderOptions): string {
  return renderPortalRules(servicePorts(input), { ...opts, hostIP: opts.hostIP ?? nodeIPsOf(input)[0] });
}

/** Payload that empties and deletes every userspace chain (used after the jumps are gone). */
export function renderCleanupPayload(): string {
  const lines = ["*nat"];
  for (const c of NAT_CHAINS) lines.push(`:${c} - [0:0]`);
  for (const c of NAT_CHAINS) lines.push(`-X ${c}`);
  lines.push("COMMIT", "*filter");
  for (const c of FILTER_CHAINS) lines.push(`:${c} - [0:0]`);
  for (const c of FILTER_CHAINS) lines.push(`-X ${c}`);
  lines.push("COMMIT", "");
  return lines.join("\n");
}

/** Number of `-A` rules per table in a payload (for the sync_proxy_rules_iptables_total metric). */
export function countRules(payload: string): Record<string, number> {
  const out: Record<string, number> = {};
  let table = "";
  for (const l of payload.split("\n")) {
    if (l.startsWith("*")) table = l.slice(1);
    else if (l.startsWith("-A ")) out[table] = (out[table] ?? 0) + 1;
  }
  return out;
}
