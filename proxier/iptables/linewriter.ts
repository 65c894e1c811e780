/**
 * The native writer of the renderer's per-endpoint lines (native/linewriter.c, built by `npm run build` next to the
 * chain-name hash): the parts of each line are copied from their strings into the table's byte buffer, one call per
 * port and chain, the port's endpoints packed in one string (a cold 1k-service render: 11.6 MB allocated instead of
 * 15.6, and ~0.84 of the time, docs/proxier.md). The records are split at spaces and newlines: the renderer packs
 * only endpoints of numeric ports (chain names and canonical IPs have neither).
 * Without it (no C compiler at build time, or `PODWIRE_LINEWRITER=js`) the renderer builds each line as a string
 * and copies that; the text is the same.
 */
import { createRequire } from "node:module";

/** A port's endpoints, packed for the writer: `CHAIN IP ENDPOINT\n` per endpoint. */
export interface PackedEndpoints {
  text: string;
  count: number;
  /** The characters of the chain names, and of the endpoints, together. */
  chainChars: number;
  endpointChars: number;
}

export interface NativeLineWriter {
  /** Where the writes go until the next call: a Buffer (kept alive by the writer). */
  target(buffer: Buffer): void;
  /** Per endpoint: `-A CHAIN<masqMid>IP -j KUBE-MARK-MASQ\n-A CHAIN<dnatMid>ENDPOINT\n`, from `at`; the offset after. */
  sepLines(at: number, packed: string, masqMid: string, dnatMid: string): number;
  /**
   * Per endpoint: `<head>ENDPOINT<statMid>JUMP CHAIN\n`, the last `<head>ENDPOINT<lastMid>CHAIN\n` (ENDPOINT only
   * when `withEndpoint`), from `at`; `jumps` has a `JUMP\n` for each endpoint but the last. The offset after.
   */
  svcLines(
    at: number,
    packed: string,
    jumps: string,
    head: string,
    statMid: string,
    lastMid: string,
    withEndpoint: boolean,
  ): number;
}

function load(): NativeLineWriter | null {
  if (process.env.PODWIRE_LINEWRITER === "js") return null;
  const require = createRequire(import.meta.url);
  // Beside this module in dist/proxier/iptables/, or from a bundle at the top of dist/.
  for (const path of ["./native/podwire_linewriter.node", "./proxier/iptables/native/podwire_linewriter.node"]) {
    try {
      const m = require(path) as Partial<NativeLineWriter>;
      if (typeof m.sepLines === "function" && typeof m.svcLines === "function" && typeof m.target === "function")
        return m as NativeLineWriter;
    } catch {
      // not built here, or not loadable
    }
  }
  return null;
}

/** The native writer, when it was built and loads here. */
export const nativeLineWriter: NativeLineWriter | null = load();
let active = nativeLineWriter;

/** The writer renders use: the native one, or null (lines built as strings). */
export function lineWriter(): NativeLineWriter | null {
  return active;
}

/** Renders from now on use the native writer (when there is one) or not: for tests that compare the two. */
export function useNativeLineWriter(on: boolean): void {
  active = on ? nativeLineWriter : null;
}

interface PackableEndpoint {
  chain: string;
  ip: string;
  endpoint: string;
}

/** Two lists packed last: a port packs its cluster (or local) list, and its endpoint chains' list is mostly that one. */
const memo: { list: readonly PackableEndpoint[] | null; packed: PackedEndpoints | null }[] = [
  { list: null, packed: null },
  { list: null, packed: null },
];
let memoNext = 0;

/**
 * `list` packed for the writer: one string (a concatenation, flattened once by the writer's read) instead of an
 * N-API call per part. Lists are never changed after they are made (model.ts), so packing is memoised by identity.
 */
export function packEndpoints(list: readonly PackableEndpoint[]): PackedEndpoints {
  for (const m of memo) if (m.list === list) return m.packed!;
  let text = "";
  let chainChars = 0;
  let endpointChars = 0;
  for (const ep of list) {
    text += `${ep.chain} ${ep.ip} ${ep.endpoint}\n`;
    chainChars += ep.chain.length;
    endpointChars += ep.endpoint.length;
  }
  const packed = { text, count: list.length, chainChars, endpointChars };
  const m = memo[memoNext]!;
  memoNext ^= 1;
  m.list = list;
  m.packed = packed;
  return packed;
}
