/**
 * The pure iptables renderer: kube-proxy's `syncProxyRules` body (pkg/proxy/iptables/proxier.go) as a function.
 *
 * Input  (`ProxierInput`): plain Kubernetes objects — `services: Service[]`, `endpointSlices: EndpointSlice[]`
 *        (discovery.k8s.io/v1) — and `node: { name, ips, labels? }` (the node this proxier runs on; `ips` may
 *        mix families, the first of the proxier's family is "the" node IP).
 * Options (`RenderOptions`): IP family, cluster CIDRs (local-traffic detection), masquerade bit/mark,
 *        `masqueradeAll`, `localhostNodePorts`, `nodePortAddresses`, `randomFully`, nfacct counters present,
 *        `existingNatChains` (kernel's nat chains, for stale-chain deletion), large-cluster threshold.
 * Output (`RenderResult`):
 *   - `payload`: the full-sync `iptables-restore --noflush` text, `*filter … COMMIT\n*nat … COMMIT\n`, in kube-proxy's
 *     emission order (services are visited sorted by port name, so the text is deterministic);
 *   - `filter` / `nat`: per table, the chains written (in order) and each chain's `-A` lines, for partial syncs
 *     (see partial.ts) and semantic diffs;
 *   - `staleChains`: nat chains the payload deletes (`-X`); `serviceChains`: per `ns/name`, the nat chains it owns;
 *   - `servicePorts` / `endpoints`: the model the rules came from; `stats`: counts for metrics.
 * No I/O, no clock, no randomness: same input → same bytes.
 *
 * @example
 *   const r = render({ services, endpointSlices, node: { name: "n1", ips: ["192.168.0.2"] } },
 *                    { clusterCIDRs: ["10.244.0.0/16"] });
 *   await iptables.restore(r.payload);
 */
import type { EndpointSlice, Service } from "../../src/api/index.js";
import { isServiceChainName } from "./hash.js";
import { type Family, type ParsedIP, cidrContains, parseCIDR, parseIP } from "./ip.js";
import {
  type EndpointInfo,
  type ServicePortInfo,
  categorizeEndpoints,
  endpointsFromSlices,
  externallyAccessible,
  portKey,
  servicePortsFromServices,
  usesClusterEndpoints,
  usesLocalEndpoints,
} from "./model.js";

export type { Family } from "./ip.js";
export type { EndpointInfo, ServicePortInfo } from "./model.js";

export interface NodeInfo {
  name: string;
  /** The node's addresses (InternalIP/ExternalIP or --node-ip); other families are ignored. */
  ips: string[];
  labels?: Record<string, string>;
}

export interface ProxierInput {
  services: Service[];
  endpointSlices: EndpointSlice[];
  node: NodeInfo;
}

export interface RenderOptions {
  /** Default IPv4. One family per proxier (ip6tables for IPv6). */
  ipFamily?: Family;
  /** Cluster (pod) CIDRs; the first of the proxier's family drives local-traffic detection. None → no detector. */
  clusterCIDRs?: string[];
  /** Default 14 → mark `0x00004000`. */
  masqueradeBit?: number;
  /** Overrides the mark text entirely (kube-proxy's unit tests use "0x4000"). */
  masqueradeMark?: string;
  masqueradeAll?: boolean;
  /** Default true; only effective for IPv4 and when nodePortAddresses include 127.0.0.1. */
  localhostNodePorts?: boolean;
  /** --nodeport-addresses CIDRs (or "primary"); empty = all local addresses. */
  nodePortAddresses?: string[];
  /** Addresses of the node's interfaces, for --nodeport-addresses; default node.ips plus loopback. */
  localAddresses?: string[];
  /** Append --random-fully to MASQUERADE (when the iptables binary supports it). */
  randomFully?: boolean;
  /** nfacct counters that exist (kube-proxy emits `-m nfacct` only then). */
  nfacct?: { ctStateInvalidDropped?: boolean; localhostNodePortsAccepted?: boolean };
  /** nf_conntrack_tcp_be_liberal is set: no INVALID drop rule. */
  conntrackTCPLiberal?: boolean;
  /** nat chains that exist in the kernel now; our service chains among them that are not active get deleted. */
  existingNatChains?: Iterable<string>;
  /** Default 1000 endpoints. */
  largeClusterEndpointsThreshold?: number;
}

/** One table's chains (in the order their `:CHAIN` lines are written) and each chain's `-A` lines. */
export interface TableRules {
  chains: string[];
  rules: Map<string, string[]>;
}

export interface RenderStats {
  servicePorts: number;
  endpoints: number;
  filterRules: number;
  natRules: number;
  natChains: number;
  largeClusterMode: boolean;
  noLocalEndpointsInternal: number;
  noLocalEndpointsExternal: number;
}

export interface RenderResult {
  payload: string;
  filter: TableRules;
  nat: TableRules;
  staleChains: string[];
  /** `ns/name` → nat chains (SVC/SVL/EXT/FW/SEP) written for that Service. */
  serviceChains: Map<string, string[]>;
  activeNatChains: Set<string>;
  servicePorts: ServicePortInfo[];
  /** portKey → endpoints (all, before categorisation). */
  endpoints: Map<string, EndpointInfo[]>;
  stats: RenderStats;
  /** The mark value used (`0x00004000`). */
  masqueradeMark: string;
}

export const Chains = {
  services: "KUBE-SERVICES",
  externalServices: "KUBE-EXTERNAL-SERVICES",
  nodePorts: "KUBE-NODEPORTS",
  postrouting: "KUBE-POSTROUTING",
  markMasq: "KUBE-MARK-MASQ",
  forward: "KUBE-FORWARD",
  proxyFirewall: "KUBE-PROXY-FIREWALL",
  kubeletFirewall: "KUBE-FIREWALL",
  canary: "KUBE-PROXY-CANARY",
} as const;

export const NfacctCounters = {
  ctStateInvalidDropped: "ct_state_invalid_dropped_pkts",
  localhostNodePortsAccepted: "localhost_nps_accepted_pkts",
} as const;

/** Go's `%#08x` of 1<<bit: "0x" + 8 zero-padded hex digits. */
export function masqueradeMarkFor(bit: number): string {
  return `0x${(2 ** bit).toString(16).padStart(8, "0")}`;
}

const probabilityCache: string[] = [];
/** kube-proxy's computeProbability: `%0.10f` of 1/n. */
export function computeProbability(n: number): string {
  const cached = probabilityCache[n];
  if (cached) return cached;
  // Go rounds ties to even; JS toFixed rounds them up. 1/n is an exact 11-digit tie only for n = 2048.
  const s = n === 2048 ? "0.0004882812" : (1 / n).toFixed(10);
  if (n < 100_000) probabilityCache[n] = s;
  return s;
}

/** Accumulates lines like kube-proxy's LineBuffers, and per-chain rule lists on the side. */
/** One write of a service port's rendering, recorded for replay: [table (0 filter, 1 nat), chain?, chain, line]. */
type Op = [0 | 1, boolean, string, string];

class TableWriter {
  /** When set, every chain/rule write is also recorded here (per-service-port fragment cache). */
  rec: Op[] | null = null;
  constructor(private readonly id: 0 | 1) {}
  readonly chainLines: string[] = [];
  readonly ruleLines: string[] = [];
  readonly chains: string[] = [];
  readonly rules = new Map<string, string[]>();
  ruleCount = 0;
  chain(name: string): void {
    this.rec?.push([this.id, true, name, ""]);
    this.chainLines.push(`:${name} - [0:0]`);
    this.chains.push(name);
    if (!this.rules.has(name)) this.rules.set(name, []);
  }
  /** Writes `-A chain args…`. */
  rule(chain: string, ...args: string[]): void {
    const line = args.length ? `-A ${chain} ${args.join(" ")}` : `-A ${chain}`;
    this.push(chain, line);
  }
  /** Appends a complete rule line to a chain. */
  push(chain: string, line: string): void {
    this.rec?.push([this.id, false, chain, line]);
    this.ruleLines.push(line);
    let list = this.rules.get(chain);
    if (!list) this.rules.set(chain, (list = []));
    list.push(line);
    this.ruleCount++;
  }
  /** Writes `-A chain rest` from a preformatted argument string (the hot path: no temporary arrays). */
  line(chain: string, rest: string): void {
    this.push(chain, `-A ${chain} ${rest}`);
  }
  raw(line: string): void {
    this.ruleLines.push(line);
  }
}

/** Renders the full iptables state kube-proxy would write for this input. */
export function render(input: ProxierInput, opts: RenderOptions = {}): RenderResult {
  const family: Family = opts.ipFamily ?? "IPv4";
  const isIPv6 = family === "IPv6";
  const mark = opts.masqueradeMark ?? masqueradeMarkFor(opts.masqueradeBit ?? 14);
  const nfacct = opts.nfacct ?? {};

  const nodeIPs = input.node.ips.map((s) => parseIP(s)).filter((p): p is ParsedIP => p !== null && p.family === family);
  const nodeIP = nodeIPs[0] ?? null;

  // Local traffic detector (NewDetectLocalByCIDR); absent → not implemented.
  const clusterCIDR = (opts.clusterCIDRs ?? []).map((c) => parseCIDR(c)).find((c) => c && c.family === family);
  const ifLocal = clusterCIDR ? ["-s", clusterCIDR.text] : null;
  const ifNotLocal = clusterCIDR ? ["!", "-s", clusterCIDR.text] : null;

  // --nodeport-addresses (proxyutil.NodePortAddresses).
  const npa = nodePortAddresses(opts.nodePortAddresses ?? [], family, nodeIP?.text ?? null);
  const localhostNodePorts = (opts.localhostNodePorts ?? true) && npa.containsIPv4Loopback && !isIPv6;

  const svcPorts = [...servicePortsFromServices(input.services, family).values()].sort((a, b) =>
    a.name < b.name ? -1 : a.name > b.name ? 1 : a.protocol < b.protocol ? -1 : a.protocol > b.protocol ? 1 : 0,
  );
  const endpointsMap = endpointsFromSlices(input.endpointSlices, family, input.node.name);

  const filter = new TableWriter(0);
  const nat = new TableWriter(1);
  for (const c of [Chains.services, Chains.externalServices, Chains.forward, Chains.nodePorts, Chains.proxyFirewall])
    filter.chain(c);
  for (const c of [Chains.services, Chains.nodePorts, Chains.postrouting, Chains.markMasq]) nat.chain(c);

  nat.rule(Chains.postrouting, "-m", "mark", "!", "--mark", `${mark}/${mark}`, "-j", "RETURN");
  nat.rule(Chains.postrouting, "-j", "MARK", "--xor-mark", mark);
  const masq = ["-m", "comment", "--comment", `"kubernetes service traffic requiring SNAT"`, "-j", "MASQUERADE"];
  if (opts.randomFully) masq.push("--random-fully");
  nat.rule(Chains.postrouting, ...masq);
  nat.rule(Chains.markMasq, "-j", "MARK", "--or-mark", mark);

  if (!isIPv6 && localhostNodePorts) {
    filter.chain(Chains.kubeletFirewall);
    filter.rule(
      Chains.kubeletFirewall,
      ...["-m", "comment", "--comment", `"block incoming localnet connections"`],
      ...["-d", "127.0.0.0/8", "!", "-s", "127.0.0.0/8"],
      ...["-m", "conntrack", "!", "--ctstate", "RELATED,ESTABLISHED,DNAT", "-j", "DROP"],
    );
  }

  const activeNatChains = new Set<string>();
  const serviceChains = new Map<string, string[]>();
  let totalEndpoints = 0;
  for (const sp of svcPorts) totalEndpoints += endpointsMap.get(portKey(sp.name, sp.protocol))?.length ?? 0;
  const largeClusterMode = totalEndpoints > (opts.largeClusterEndpointsThreshold ?? 1000);

  let noLocalInternal = 0;
  let noLocalExternal = 0;

  // Everything besides the service port and its endpoints that shapes a service port's rules.
  const sig = [
    family,
    mark,
    opts.masqueradeAll ? 1 : 0,
    clusterCIDR?.text ?? "",
    localhostNodePorts ? 1 : 0,
    nfacct.localhostNodePortsAccepted ? 1 : 0,
    nodeIP?.text ?? "",
    largeClusterMode ? 1 : 0,
  ].join("|");

  for (const sp of svcPorts) {
    const hit = fragmentCache.get(sp);
    const epsNow = endpointsMap.get(portKey(sp.name, sp.protocol)) ?? [];
    if (hit && hit.sig === sig && sameRefs(hit.endpoints, epsNow)) {
      const owned: string[] = [];
      for (const [t, isChain, chain, line] of hit.ops) {
        const w = t === 0 ? filter : nat;
        if (isChain) {
          w.chain(chain);
          if (t === 1) {
            activeNatChains.add(chain);
            owned.push(chain);
          }
        } else w.push(chain, line);
      }
      noLocalInternal += hit.noLocalInternal;
      noLocalExternal += hit.noLocalExternal;
      if (owned.length) {
        const list = serviceChains.get(sp.serviceKey);
        if (list) list.push(...owned);
        else serviceChains.set(sp.serviceKey, owned);
      }
      continue;
    }
    const ops: Op[] = [];
    filter.rec = nat.rec = ops;
    const noLocalBefore = [noLocalInternal, noLocalExternal] as const;
    const p = sp.protocol;
    const S = sp.name;
    const port = String(sp.port);
    const allEndpoints = endpointsMap.get(portKey(sp.name, sp.protocol)) ?? [];
    const { clusterEndpoints, localEndpoints, allReachableEndpoints, hasAnyEndpoints } = categorizeEndpoints(
      allEndpoints,
      sp,
    );
    const hasEndpoints = hasAnyEndpoints;
    const owned: string[] = [];
    const ownChain = (c: string) => {
      nat.chain(c);
      activeNatChains.add(c);
      owned.push(c);
    };

    const clusterPolicyChain = sp.clusterChain;
    const usesClusterPolicyChain = clusterEndpoints.length > 0 && usesClusterEndpoints(sp);
    const localPolicyChain = sp.localChain;
    const usesLocalPolicyChain = localEndpoints.length > 0 && usesLocalEndpoints(sp);

    let internalPolicyChain = clusterPolicyChain;
    let hasInternalEndpoints = hasEndpoints;
    if (sp.internalPolicyLocal) {
      internalPolicyChain = localPolicyChain;
      if (localEndpoints.length === 0) hasInternalEndpoints = false;
    }
    let externalPolicyChain = clusterPolicyChain;
    let hasExternalEndpoints = hasEndpoints;
    if (sp.externalPolicyLocal) {
      externalPolicyChain = localPolicyChain;
      if (localEndpoints.length === 0) hasExternalEndpoints = false;
    }
    const externalTrafficChain = sp.externalChain;
    const usesExternalTrafficChain = hasEndpoints && externallyAccessible(sp);
    const fwChain = sp.firewallChain;
    const usesFWChain = hasEndpoints && sp.loadBalancerVIPs.length > 0 && sp.loadBalancerSourceRanges.length > 0;
    const loadBalancerTrafficChain = usesFWChain ? fwChain : externalTrafficChain;

    let internalFilterTarget = "";
    let internalFilterComment = "";
    let externalFilterTarget = "";
    let externalFilterComment = "";
    if (!hasEndpoints) {
      internalFilterTarget = externalFilterTarget = "REJECT";
      internalFilterComment = externalFilterComment = `"${S} has no endpoints"`;
    } else {
      if (!hasInternalEndpoints) {
        internalFilterTarget = "DROP";
        internalFilterComment = `"${S} has no local endpoints"`;
        noLocalInternal++;
      }
      if (!hasExternalEndpoints) {
        externalFilterTarget = "DROP";
        externalFilterComment = `"${S} has no local endpoints"`;
        noLocalExternal++;
      }
    }

    // ClusterIP capture.
    if (hasInternalEndpoints) {
      nat.line(
        Chains.services,
        `-m comment --comment "${S} cluster IP" -m ${p} -p ${p} -d ${sp.clusterIP} --dport ${port} -j ${internalPolicyChain}`,
      );
    } else {
      filter.rule(
        Chains.services,
        ...["-m", "comment", "--comment", internalFilterComment, "-m", p, "-p", p],
        ...["-d", sp.clusterIP, "--dport", port, "-j", internalFilterTarget],
      );
    }

    // externalIPs.
    for (const extIP of sp.externalIPs) {
      if (hasEndpoints) {
        nat.rule(
          Chains.services,
          ...["-m", "comment", "--comment", `"${S} external IP"`, "-m", p, "-p", p],
          ...["-d", extIP, "--dport", port, "-j", externalTrafficChain],
        );
      }
      if (!hasExternalEndpoints) {
        filter.rule(
          Chains.externalServices,
          ...["-m", "comment", "--comment", externalFilterComment, "-m", p, "-p", p],
          ...["-d", extIP, "--dport", port, "-j", externalFilterTarget],
        );
      }
    }

    // LoadBalancer ingress.
    for (const lbip of sp.loadBalancerVIPs) {
      if (hasEndpoints) {
        nat.rule(
          Chains.services,
          ...["-m", "comment", "--comment", `"${S} loadbalancer IP"`, "-m", p, "-p", p],
          ...["-d", lbip, "--dport", port, "-j", loadBalancerTrafficChain],
        );
      }
      if (usesFWChain) {
        filter.rule(
          Chains.proxyFirewall,
          ...["-m", "comment", "--comment", `"${S} traffic not accepted by ${fwChain}"`, "-m", p, "-p", p],
          ...["-d", lbip, "--dport", port, "-j", "DROP"],
        );
      }
    }
    if (!hasExternalEndpoints) {
      for (const lbip of sp.loadBalancerVIPs) {
        filter.rule(
          Chains.externalServices,
          ...["-m", "comment", "--comment", externalFilterComment, "-m", p, "-p", p],
          ...["-d", lbip, "--dport", port, "-j", externalFilterTarget],
        );
      }
    }

    // NodePort.
    if (sp.nodePort !== 0) {
      const np = String(sp.nodePort);
      if (hasEndpoints) {
        if (localhostNodePorts && !isIPv6 && nfacct.localhostNodePortsAccepted) {
          nat.rule(
            Chains.nodePorts,
            ...["-m", "comment", "--comment", S, "-m", p, "-p", p, "-d", "127.0.0.0/8", "--dport", np],
            ...["-m", "nfacct", "--nfacct-name", NfacctCounters.localhostNodePortsAccepted, "-j", externalTrafficChain],
          );
        }
        nat.rule(
          Chains.nodePorts,
          "-m",
          "comment",
          "--comment",
          S,
          "-m",
          p,
          "-p",
          p,
          "--dport",
          np,
          "-j",
          externalTrafficChain,
        );
      }
      if (!hasExternalEndpoints) {
        filter.rule(
          Chains.externalServices,
          ...["-m", "comment", "--comment", externalFilterComment, "-m", "addrtype", "--dst-type", "LOCAL"],
          ...["-m", p, "-p", p, "--dport", np, "-j", externalFilterTarget],
        );
      }
    }

    // HealthCheckNodePort.
    if (sp.healthCheckNodePort !== 0) {
      filter.rule(
        Chains.nodePorts,
        ...["-m", "comment", "--comment", `"${S} health check node port"`, "-m", "tcp", "-p", "tcp"],
        ...["--dport", String(sp.healthCheckNodePort), "-j", "ACCEPT"],
      );
    }

    // Internal traffic: masquerade off-cluster sources.
    if (hasInternalEndpoints) {
      const args = [
        "-m",
        "comment",
        "--comment",
        `"${S} cluster IP"`,
        "-m",
        p,
        "-p",
        p,
        "-d",
        sp.clusterIP,
        "--dport",
        port,
      ];
      if (opts.masqueradeAll) nat.rule(internalPolicyChain, ...args, "-j", Chains.markMasq);
      else if (ifNotLocal) nat.rule(internalPolicyChain, ...args, ...ifNotLocal, "-j", Chains.markMasq);
    }

    // External traffic chain.
    if (usesExternalTrafficChain) {
      ownChain(externalTrafficChain);
      if (!sp.externalPolicyLocal) {
        nat.rule(
          externalTrafficChain,
          ...[
            "-m",
            "comment",
            "--comment",
            `"masquerade traffic for ${S} external destinations"`,
            "-j",
            Chains.markMasq,
          ],
        );
      } else {
        if (ifLocal) {
          nat.rule(
            externalTrafficChain,
            ...["-m", "comment", "--comment", `"pod traffic for ${S} external destinations"`, ...ifLocal],
            ...["-j", clusterPolicyChain],
          );
        }
        nat.rule(
          externalTrafficChain,
          ...["-m", "comment", "--comment", `"masquerade LOCAL traffic for ${S} external destinations"`],
          ...["-m", "addrtype", "--src-type", "LOCAL", "-j", Chains.markMasq],
        );
        nat.rule(
          externalTrafficChain,
          ...["-m", "comment", "--comment", `"route LOCAL traffic for ${S} external destinations"`],
          ...["-m", "addrtype", "--src-type", "LOCAL", "-j", clusterPolicyChain],
        );
      }
      if (hasExternalEndpoints) nat.rule(externalTrafficChain, "-j", externalPolicyChain);
    }

    // Firewall chain (loadBalancerSourceRanges).
    if (usesFWChain) {
      ownChain(fwChain);
      const args = ["-m", "comment", "--comment", `"${S} loadbalancer IP"`];
      let allowFromNode = false;
      for (const cidr of sp.loadBalancerSourceRanges) {
        nat.rule(fwChain, ...args, "-s", cidr, "-j", externalTrafficChain);
        const c = parseCIDR(cidr);
        if (c && nodeIP && cidrContains(c, nodeIP)) allowFromNode = true;
      }
      if (allowFromNode) {
        for (const lbip of sp.loadBalancerVIPs) nat.rule(fwChain, ...args, "-s", lbip, "-j", externalTrafficChain);
      }
      nat.rule(fwChain, "-m", "comment", "--comment", `"other traffic to ${S} will be dropped by KUBE-PROXY-FIREWALL"`);
    }

    if (usesClusterPolicyChain) {
      ownChain(clusterPolicyChain);
      writeServiceToEndpointRules(nat, sp, clusterPolicyChain, clusterEndpoints, largeClusterMode);
    }
    if (usesLocalPolicyChain) {
      ownChain(localPolicyChain);
      writeServiceToEndpointRules(nat, sp, localPolicyChain, localEndpoints, largeClusterMode);
    }

    const sepComment = largeClusterMode ? "" : `-m comment --comment ${S} `;
    const affinitySet = sp.sessionAffinityClientIP;
    for (const ep of allReachableEndpoints) {
      ownChain(ep.chain);
      nat.line(ep.chain, `${sepComment}-s ${ep.ip} -j KUBE-MARK-MASQ`);
      const recent = affinitySet ? `-m recent --name ${ep.chain} --set ` : "";
      nat.line(ep.chain, `${sepComment}${recent}-m ${p} -p ${p} -j DNAT --to-destination ${ep.endpoint}`);
    }

    if (owned.length) {
      const list = serviceChains.get(sp.serviceKey);
      if (list) list.push(...owned);
      else serviceChains.set(sp.serviceKey, owned);
    }
    filter.rec = nat.rec = null;
    fragmentCache.set(sp, {
      sig,
      endpoints: epsNow,
      ops,
      noLocalInternal: noLocalInternal - noLocalBefore[0],
      noLocalExternal: noLocalExternal - noLocalBefore[1],
    });
  }

  // Stale chain deletion.
  const staleChains: string[] = [];
  if (opts.existingNatChains) {
    for (const c of opts.existingNatChains) {
      if (!activeNatChains.has(c) && isServiceChainName(c)) staleChains.push(c);
    }
    staleChains.sort();
    for (const c of staleChains) {
      nat.chainLines.push(`:${c} - [0:0]`);
      nat.raw(`-X ${c}`);
    }
  }

  // The jump to KUBE-NODEPORTS must be the last rule of nat KUBE-SERVICES.
  const lastComment = `"kubernetes service nodeports; NOTE: this must be the last rule in this chain"`;
  if (npa.matchAll) {
    const dest = ["-m", "addrtype", "--dst-type", "LOCAL"];
    if (isIPv6) dest.push("!", "-d", "::1/128");
    else if (!localhostNodePorts) dest.push("!", "-d", "127.0.0.0/8");
    nat.rule(Chains.services, "-m", "comment", "--comment", lastComment, ...dest, "-j", Chains.nodePorts);
  } else {
    const local = (opts.localAddresses ?? [...input.node.ips, isIPv6 ? "::1" : "127.0.0.1"])
      .map((s) => parseIP(s))
      .filter((a): a is ParsedIP => a !== null && a.family === family);
    const matched = new Set<string>();
    for (const a of local) if (npa.cidrs.some((c) => cidrContains(c, a))) matched.add(a.text);
    for (const ip of [...matched].sort()) {
      const isLoopback = isIPv6 ? ip === "::1" : ip.startsWith("127.");
      if (isLoopback && (isIPv6 || !localhostNodePorts)) continue;
      nat.rule(Chains.services, "-m", "comment", "--comment", lastComment, "-d", ip, "-j", Chains.nodePorts);
    }
  }

  if (!opts.conntrackTCPLiberal) {
    const r = ["-m", "conntrack", "--ctstate", "INVALID"];
    if (nfacct.ctStateInvalidDropped) r.push("-m", "nfacct", "--nfacct-name", NfacctCounters.ctStateInvalidDropped);
    r.push("-j", "DROP");
    filter.rule(Chains.forward, ...r);
  }
  filter.rule(
    Chains.forward,
    ...["-m", "comment", "--comment", `"kubernetes forwarding rules"`],
    ...["-m", "mark", "--mark", `${mark}/${mark}`, "-j", "ACCEPT"],
  );
  filter.rule(
    Chains.forward,
    ...["-m", "comment", "--comment", `"kubernetes forwarding conntrack rule"`],
    ...["-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-j", "ACCEPT"],
  );

  // Built on first use: a partial sync never needs the whole text.
  let payload: string | undefined;
  return {
    get payload() {
      payload ??=
        "*filter\n" +
        joinLines(filter.chainLines) +
        joinLines(filter.ruleLines) +
        "COMMIT\n*nat\n" +
        joinLines(nat.chainLines) +
        joinLines(nat.ruleLines) +
        "COMMIT\n";
      return payload;
    },
    filter: { chains: filter.chains, rules: filter.rules },
    nat: { chains: nat.chains, rules: nat.rules },
    staleChains,
    serviceChains,
    activeNatChains,
    servicePorts: svcPorts,
    endpoints: endpointsMap,
    stats: {
      servicePorts: svcPorts.length,
      endpoints: totalEndpoints,
      filterRules: filter.ruleCount,
      natRules: nat.ruleCount,
      natChains: nat.chains.length,
      largeClusterMode,
      noLocalEndpointsInternal: noLocalInternal,
      noLocalEndpointsExternal: noLocalExternal,
    },
    masqueradeMark: mark,
  };
}

/**
 * Per service port (memoised per Service object, see model.ts): the writes its rendering made, replayed when
 * neither the port, its endpoints (memoised per EndpointSlice object) nor the global options changed. Keeps a
 * partial sync's render proportional to what changed plus one pass of string pushes.
 */
const fragmentCache = new WeakMap<
  ServicePortInfo,
  { sig: string; endpoints: EndpointInfo[]; ops: Op[]; noLocalInternal: number; noLocalExternal: number }
>();

function sameRefs<T>(a: T[], b: T[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function joinLines(lines: string[]): string {
  return lines.length ? `${lines.join("\n")}\n` : "";
}

function writeServiceToEndpointRules(
  nat: TableWriter,
  sp: ServicePortInfo,
  chain: string,
  endpoints: EndpointInfo[],
  largeClusterMode: boolean,
): void {
  const comment = (ep: EndpointInfo) =>
    largeClusterMode ? "" : `-m comment --comment "${sp.name} -> ${ep.endpoint}" `;
  if (sp.sessionAffinityClientIP) {
    for (const ep of endpoints) {
      nat.line(
        chain,
        `${comment(ep)}-m recent --name ${ep.chain} --rcheck --seconds ${sp.stickyMaxAgeSeconds} --reap -j ${ep.chain}`,
      );
    }
  }
  const n = endpoints.length;
  for (let i = 0; i < n; i++) {
    const ep = endpoints[i]!;
    const stat = i < n - 1 ? `-m statistic --mode random --probability ${computeProbability(n - i)} ` : "";
    nat.line(chain, `${comment(ep)}${stat}-j ${ep.chain}`);
  }
}

interface NodePortAddresses {
  matchAll: boolean;
  cidrs: NonNullable<ReturnType<typeof parseCIDR>>[];
  containsIPv4Loopback: boolean;
}

/** proxyutil.NewNodePortAddresses: family-filtered CIDRs, "primary" = the node IP, none = match all. */
function nodePortAddresses(strings: string[], family: Family, primaryIP: string | null): NodePortAddresses {
  let cidrStrings: string[] = [];
  for (const s of strings) {
    if (s === "primary") {
      if (primaryIP) cidrStrings.push(family === "IPv4" ? `${primaryIP}/32` : `${primaryIP}/128`);
      continue;
    }
    const c = parseCIDR(s);
    if (c && c.family === family) cidrStrings.push(s);
  }
  if (cidrStrings.length === 0) cidrStrings = [family === "IPv4" ? "0.0.0.0/0" : "::/0"];
  const out: NodePortAddresses = { matchAll: false, cidrs: [], containsIPv4Loopback: false };
  const loopStart = parseIP("127.0.0.0")!;
  const loopNet = parseCIDR("127.0.0.0/8")!;
  for (const s of cidrStrings) {
    const c = parseCIDR(s)!;
    const networkIP = parseIP(c.text.split("/")[0]!)!;
    if (c.family === "IPv4" && (cidrContains(loopNet, networkIP) || cidrContains(c, loopStart)))
      out.containsIPv4Loopback = true;
    if (c.prefix === 0) {
      out.cidrs = [c];
      out.matchAll = true;
      break;
    }
    out.cidrs.push(c);
  }
  return out;
}
