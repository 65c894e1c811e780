/**
 * The native writer of the renderer's per-endpoint lines (native/linewriter.c, built by `npm run build` next to the
 * chain-name hash): the parts of each line are copied from their strings into the table's byte buffer, one call per
 * port and chain, with no line string in between (a cold 1k-service render allocates ~9 MB instead of ~16 MB).
 * Without it (no C compiler at build time, or `PODWIRE_LINEWRITER=js`) the renderer builds each line as a string
 * and copies that; the text is the same.
 */
import { createRequire } from "node:module";

export interface NativeLineWriter {
  /** Where the writes go until the next call: a Buffer (kept alive by the writer). */
  target(buffer: Buffer): void;
  /**
   * For i < n: `-A chains[i]<masqMid>ips[i] -j KUBE-MARK-MASQ\n-A chains[i]<dnatMid>endpoints[i]\n`, from `at`;
   * the offset after the lines.
   */
  sepLines(
    at: number,
    n: number,
    chains: readonly string[],
    ips: readonly string[],
    endpoints: readonly string[],
    masqMid: string,
    dnatMid: string,
  ): number;
  /**
   * For i < n: `<head>endpoints[i]<statMid>jumps[i]chains[i]\n`, the last `<head>endpoints[i]<lastMid>chains[i]\n`
   * (no endpoint text when `endpoints` is null), from `at`; the offset after the lines.
   */
  svcLines(
    at: number,
    n: number,
    endpoints: readonly string[] | null,
    jumps: readonly string[],
    chains: readonly string[],
    head: string,
    statMid: string,
    lastMid: string,
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
