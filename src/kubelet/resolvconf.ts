/**
 * A pod's /etc/resolv.conf as the kubelet writes it (pkg/kubelet/network/dns): ClusterFirst →
 * `nameserver <cluster DNS>`, `search <ns>.svc.<zone> svc.<zone> <zone> [host search…]`, `options ndots:5`;
 * Default → the host's file; None → dnsConfig only; dnsConfig is merged on top in every case.
 */
import type { Pod } from "../api/core.js";

export interface DnsSettings {
  clusterDNS: string[];
  clusterDomain: string;
  /** The node's own resolv.conf content (for dnsPolicy Default and the host search list). */
  hostResolvConf: string;
}

export interface ResolvConf {
  nameservers: string[];
  searches: string[];
  options: string[];
}

export function parseResolvConf(text: string): ResolvConf {
  const r: ResolvConf = { nameservers: [], searches: [], options: [] };
  for (const raw of text.split("\n")) {
    const line = raw.replace(/[#;].*$/, "").trim();
    const [key, ...rest] = line.split(/\s+/);
    if (key === "nameserver" && rest[0]) r.nameservers.push(rest[0]);
    else if (key === "search" || key === "domain") r.searches = rest;
    else if (key === "options") r.options.push(...rest);
  }
  return r;
}

function mergeOptions(base: string[], extra: { name: string; value?: string }[]): string[] {
  const m = new Map<string, string>();
  for (const o of base) m.set(o.split(":")[0] ?? o, o);
  for (const o of extra) m.set(o.name, o.value !== undefined ? `${o.name}:${o.value}` : o.name);
  return [...m.values()];
}

export function podResolvConf(pod: Pod, s: DnsSettings): ResolvConf {
  const policy = pod.spec.dnsPolicy ?? "ClusterFirst";
  const host = parseResolvConf(s.hostResolvConf);
  let r: ResolvConf;
  const clusterFirst = (policy === "ClusterFirst" && !pod.spec.hostNetwork) || policy === "ClusterFirstWithHostNet";
  if (policy === "None") r = { nameservers: [], searches: [], options: [] };
  else if (clusterFirst && s.clusterDNS.length > 0) {
    const ns = pod.metadata.namespace ?? "default";
    const z = s.clusterDomain;
    r = {
      nameservers: [...s.clusterDNS],
      searches: [`${ns}.svc.${z}`, `svc.${z}`, z, ...host.searches.filter((x) => x !== ".")],
      options: ["ndots:5"],
    };
  } else r = host;
  const dc = pod.spec.dnsConfig;
  if (dc) {
    r = {
      nameservers: [...r.nameservers, ...(dc.nameservers ?? [])],
      searches: [...r.searches, ...(dc.searches ?? [])],
      options: mergeOptions(r.options, dc.options ?? []),
    };
  }
  // glibc limits: 3 nameservers, 32 search domains.
  r.nameservers = [...new Set(r.nameservers)].slice(0, 3);
  r.searches = [...new Set(r.searches)].slice(0, 32);
  return r;
}

export function formatResolvConf(r: ResolvConf): string {
  const lines = r.nameservers.map((n) => `nameserver ${n}`);
  if (r.searches.length) lines.push(`search ${r.searches.join(" ")}`);
  if (r.options.length) lines.push(`options ${r.options.join(" ")}`);
  return `${lines.join("\n")}\n`;
}

/** The pod's /etc/hosts (kubelet-managed): localhost lines plus the pod's own IP → hostname. */
export function podHostsFile(hostname: string, podIPs: string[], fqdn?: string): string {
  const lines = [
    "# Kubernetes-managed hosts file (podwire kubelet).",
    "127.0.0.1\tlocalhost",
    "::1\tlocalhost ip6-localhost ip6-loopback",
    "fe00::0\tip6-localnet",
    "fe00::0\tip6-mcastprefix",
    "fe00::1\tip6-allnodes",
    "fe00::2\tip6-allrouters",
  ];
  for (const ip of podIPs) lines.push(fqdn ? `${ip}\t${fqdn}\t${hostname}` : `${ip}\t${hostname}`);
  return `${lines.join("\n")}\n`;
}
