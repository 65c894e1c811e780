/** DNS record values as the zone produces them (presentation data; the wire layer encodes them). */

/** RR type codes used by the zone and the server (RFC 1035, 3596, 2782, 6891). */
export const RRType = {
  A: 1,
  NS: 2,
  CNAME: 5,
  SOA: 6,
  PTR: 12,
  MX: 15,
  TXT: 16,
  AAAA: 28,
  SRV: 33,
  OPT: 41,
  IXFR: 251,
  AXFR: 252,
  ANY: 255,
} as const;

export const RCode = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;
export type RCodeName = keyof typeof RCode;

export type RecordData =
  | { type: "A" | "AAAA"; address: string }
  | { type: "CNAME" | "PTR" | "NS"; target: string }
  | { type: "SRV"; priority: number; weight: number; port: number; target: string }
  | { type: "TXT"; text: string[] }
  | {
      type: "SOA";
      mname: string;
      rname: string;
      serial: number;
      refresh: number;
      retry: number;
      expire: number;
      minimum: number;
    };

/** One resource record; `name` is a fully qualified name without the trailing dot. */
export interface ZoneRecord {
  name: string;
  ttl: number;
  data: RecordData;
}

/** The zone's answer to one question. */
export interface ZoneAnswer {
  rcode: RCodeName;
  answers: ZoneRecord[];
  authority: ZoneRecord[];
  additional: ZoneRecord[];
  /** Set when the answer ends in a CNAME to a name outside our zones: the server may resolve it upstream. */
  chase?: string;
}
