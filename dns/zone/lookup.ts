/**
 * Answers one question from the zone view, with CoreDNS `kubernetes` plugin semantics (parse.go, handler.go,
 * reverse.go): the name grammar `[_port._proto.|endpoint.]service.namespace.(svc|pod).zone`, NXDOMAIN when the
 * name does not exist, NODATA when it exists without the asked type, the zone SOA in every negative answer,
 * SERVFAIL before the first sync. Reverse names that match nothing fall through to the next handler (like
 * kubeadm's `fallthrough in-addr.arpa ip6.arpa`).
 */
import { familyOf, ipFromDashed, ipFromReverseLabels } from "./ip.js";
import { type RecordData, RRType, type ZoneAnswer, type ZoneRecord } from "../records.js";
import {
  endpointHost,
  endpointsNamed,
  hasPodIp,
  reverseNames,
  type ServiceEntry,
  type ZoneOptions,
  type ZoneView,
} from "./view.js";

/** Result for names outside every zone we serve: let the next handler (forwarding) answer. */
export const PASS = "pass" as const;
export type LookupResult = ZoneAnswer | typeof PASS;

const DNS_VERSION = "1.1.0";
const DNS_VERSION_TTL = 28800;
/** SRV priority and weight: the spec leaves them open; these are the values in its examples. */
const SRV_PRIORITY = 10;
const SRV_WEIGHT = 100;
const MAX_CNAME_CHAIN = 8;

function soa(zone: string, opts: ZoneOptions, serial: number): ZoneRecord {
  return {
    name: zone,
    ttl: Math.min(opts.ttl, 300),
    data: {
      type: "SOA",
      mname: `ns.dns.${zone}`,
      rname: `hostmaster.${zone}`,
      serial,
      refresh: 7200,
      retry: 1800,
      expire: 86400,
      minimum: opts.ttl,
    },
  };
}

function answer(rcode: ZoneAnswer["rcode"], answers: ZoneRecord[] = [], additional: ZoneRecord[] = []): ZoneAnswer {
  return { rcode, answers, authority: [], additional };
}

function negative(rcode: "NXDOMAIN" | "NOERROR", zone: string, view: ZoneView): ZoneAnswer {
  return { rcode, answers: [], authority: [soa(zone, view.options, view.serial)], additional: [] };
}

const wants = (qtype: number, t: number) => qtype === t || qtype === RRType.ANY;

function addressRecords(name: string, ips: readonly string[], qtype: number, ttl: number): ZoneRecord[] {
  const out: ZoneRecord[] = [];
  for (const ip of ips) {
    const fam = familyOf(ip);
    if ((fam === 4 && wants(qtype, RRType.A)) || (fam === 6 && wants(qtype, RRType.AAAA)))
      out.push({ name, ttl, data: { type: fam === 4 ? "A" : "AAAA", address: ip } });
  }
  return out;
}

function srv(name: string, ttl: number, port: number, target: string): ZoneRecord {
  const data: RecordData = { type: "SRV", priority: SRV_PRIORITY, weight: SRV_WEIGHT, port, target };
  return { name, ttl, data };
}

function endsWith(labels: readonly string[], suffix: readonly string[]): boolean {
  if (labels.length < suffix.length) return false;
  const off = labels.length - suffix.length;
  for (let i = 0; i < suffix.length; i++) if (labels[off + i] !== suffix[i]) return false;
  return true;
}

/**
 * Answers `labels` (the lower-case query name split into labels, no root label) for `qtype`.
 * `view` undefined means the watched objects have not synced yet.
 */
export function lookup(
  view: ZoneView | undefined,
  opts: ZoneOptions,
  labels: readonly string[],
  qtype: number,
): LookupResult {
  const zoneLabels = opts.zone.split(".");
  const qname = labels.join(".");
  if (endsWith(labels, zoneLabels)) {
    if (!view) return answer("SERVFAIL");
    if (qtype === RRType.AXFR || qtype === RRType.IXFR) return answer("REFUSED");
    return lookupCluster(view, labels.slice(0, labels.length - zoneLabels.length), qname, qtype, 0);
  }
  const isV4 = endsWith(labels, ["in-addr", "arpa"]);
  if (isV4 || endsWith(labels, ["ip6", "arpa"])) {
    const ip = ipFromReverseLabels(labels);
    if (!ip) return PASS;
    if (!view) return answer("SERVFAIL");
    const targets = reverseNames(view, ip);
    if (!targets) return PASS;
    if (!wants(qtype, RRType.PTR)) return negative("NOERROR", isV4 ? "in-addr.arpa" : "ip6.arpa", view);
    return answer(
      "NOERROR",
      targets.map((t) => ({ name: qname, ttl: view.options.ttl, data: { type: "PTR", target: t } })),
    );
  }
  return PASS;
}

function lookupCluster(view: ZoneView, rel: string[], qname: string, qtype: number, depth: number): ZoneAnswer {
  const opts = view.options;
  const zone = opts.zone;
  const ttl = opts.ttl;
  const nodata = () => negative("NOERROR", zone, view);
  const nxdomain = () => negative("NXDOMAIN", zone, view);
  if (rel.length === 0) {
    const out: ZoneRecord[] = [];
    if (wants(qtype, RRType.SOA)) out.push(soa(zone, opts, view.serial));
    if (wants(qtype, RRType.NS)) out.push({ name: zone, ttl, data: { type: "NS", target: `ns.dns.${zone}` } });
    return out.length ? answer("NOERROR", out) : nodata();
  }
  if (rel.length === 1 && rel[0] === "dns-version") {
    if (!wants(qtype, RRType.TXT)) return nodata();
    return answer("NOERROR", [{ name: qname, ttl: DNS_VERSION_TTL, data: { type: "TXT", text: [DNS_VERSION] } }]);
  }
  const kind = rel[rel.length - 1];
  if (kind !== "svc" && kind !== "pod") return nxdomain();
  // Remaining labels, from the zone outwards: namespace, service|pod, endpoint|proto, port.
  const parts = rel.slice(0, -1).reverse();
  if (parts.length === 0) return nodata();
  const ns = parts[0] as string;
  if (!view.namespaces.has(ns)) return nxdomain();
  if (parts.length === 1) return nodata();

  if (kind === "pod") {
    if (parts.length > 2 || opts.pods === "disabled") return nxdomain();
    const ip = ipFromDashed(parts[1] as string);
    if (!ip) return nxdomain();
    if (opts.pods === "verified" && !hasPodIp(view, ns, ip)) return nxdomain();
    const recs = addressRecords(qname, [ip], qtype, ttl);
    return recs.length ? answer("NOERROR", recs) : nodata();
  }

  const svc = view.services.get(`${parts[1]}.${ns}`);
  if (!svc || parts.length > 4) return nxdomain();
  const svcName = `${svc.name}.${svc.namespace}.svc.${zone}`;

  if (parts.length === 2) return serviceRecords(view, svc, svcName, qname, qtype, depth);

  if (svc.kind === "externalName") return nxdomain();
  if (parts.length === 3) {
    const eps = endpointsNamed(svc, parts[2] as string);
    if (eps.length === 0) return nxdomain();
    const recs = addressRecords(
      qname,
      eps.map((e) => e.ip),
      qtype,
      ttl,
    );
    return recs.length ? answer("NOERROR", recs) : nodata();
  }
  // _port._proto.service.namespace.svc.zone
  const proto = parts[2] as string;
  const port = parts[3] as string;
  if (!proto.startsWith("_") || !port.startsWith("_")) return nxdomain();
  const want = { name: port.slice(1), proto: proto.slice(1) };
  const match = (p: { name: string; proto: string }) => p.name !== "" && p.name === want.name && p.proto === want.proto;
  const records: ZoneRecord[] = [];
  const glue: ZoneRecord[] = [];
  if (svc.kind === "clusterIP") {
    for (const p of svc.ports) if (match(p)) records.push(srv(qname, ttl, p.port, svcName));
    if (records.length) glue.push(...addressRecords(svcName, svc.ips, RRType.ANY, ttl));
  } else {
    for (const e of svc.endpoints) {
      const target = `${endpointHost(e)}.${svcName}`;
      let used = false;
      for (const p of e.ports) {
        if (!match(p)) continue;
        records.push(srv(qname, ttl, p.port, target));
        used = true;
      }
      if (used) glue.push(...addressRecords(target, [e.ip], RRType.ANY, ttl));
    }
  }
  if (records.length === 0) return nxdomain();
  if (!wants(qtype, RRType.SRV)) return nodata();
  return answer("NOERROR", dedupe(records), glue);
}

function serviceRecords(
  view: ZoneView,
  svc: ServiceEntry,
  svcName: string,
  qname: string,
  qtype: number,
  depth: number,
): ZoneAnswer {
  const ttl = view.options.ttl;
  const zone = view.options.zone;
  if (svc.kind === "externalName") {
    if (!svc.externalName) return negative("NXDOMAIN", zone, view);
    const cname: ZoneRecord = { name: qname, ttl, data: { type: "CNAME", target: svc.externalName } };
    if (qtype === RRType.CNAME) return answer("NOERROR", [cname]);
    const target = svc.externalName.toLowerCase();
    const zoneLabels = zone.split(".");
    const tLabels = target.split(".");
    if (endsWith(tLabels, zoneLabels)) {
      if (depth >= MAX_CNAME_CHAIN) return answer("NOERROR", [cname]);
      const inner = lookupCluster(view, tLabels.slice(0, tLabels.length - zoneLabels.length), target, qtype, depth + 1);
      return { ...inner, answers: [cname, ...inner.answers] };
    }
    return { rcode: "NOERROR", answers: [cname], authority: [], additional: [], chase: svc.externalName };
  }
  if (svc.kind === "headless" && svc.endpoints.length === 0) return negative("NXDOMAIN", zone, view);
  if (qtype === RRType.SRV) {
    const records: ZoneRecord[] = [];
    const glue: ZoneRecord[] = [];
    if (svc.kind === "clusterIP") {
      for (const p of svc.ports) records.push(srv(qname, ttl, p.port, svcName));
      if (records.length) glue.push(...addressRecords(svcName, svc.ips, RRType.ANY, ttl));
    } else {
      for (const e of svc.endpoints) {
        const target = `${endpointHost(e)}.${svcName}`;
        for (const p of e.ports) records.push(srv(qname, ttl, p.port, target));
        if (e.ports.length) glue.push(...addressRecords(target, [e.ip], RRType.ANY, ttl));
      }
    }
    return records.length ? answer("NOERROR", dedupe(records), glue) : negative("NOERROR", zone, view);
  }
  const ips = svc.kind === "clusterIP" ? svc.ips : svc.endpoints.map((e) => e.ip);
  const recs = addressRecords(qname, ips, qtype, ttl);
  return recs.length ? answer("NOERROR", recs) : negative("NOERROR", zone, view);
}

function dedupe(records: ZoneRecord[]): ZoneRecord[] {
  const seen = new Set<string>();
  return records.filter((r) => {
    const k = JSON.stringify(r.data);
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}
