/** Turns presentation records (dns/records.ts) into wire records, through dns2's encoders. */
import { RRType, type ZoneRecord } from "../records.js";
import { encodeName, encodeRdata } from "./dns2.js";
import type { WireRR } from "./message.js";

const CLASS_IN = 1;

function rdataOf(r: ZoneRecord): Buffer {
  const d = r.data;
  switch (d.type) {
    case "A":
    case "AAAA":
      return encodeRdata(d.type, { address: d.address });
    case "CNAME":
    case "PTR":
      return encodeRdata(d.type, { domain: d.target });
    case "NS":
      return encodeRdata("NS", { ns: d.target });
    case "SRV":
      return encodeRdata("SRV", { priority: d.priority, weight: d.weight, port: d.port, target: d.target });
    case "TXT":
      return encodeRdata("TXT", { data: d.text });
    case "SOA":
      return encodeRdata("SOA", {
        primary: d.mname,
        admin: d.rname,
        serial: d.serial,
        refresh: d.refresh,
        retry: d.retry,
        expiration: d.expire,
        minimum: d.minimum,
      });
  }
}

export function toWire(r: ZoneRecord): WireRR {
  return { owner: encodeName(r.name), type: RRType[r.data.type], class: CLASS_IN, ttl: r.ttl, rdata: rdataOf(r) };
}
