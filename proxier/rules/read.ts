/**
 * Reading rule dumps. The lazy parse works on the file's bytes (chain-index.ts); text is made from them only
 * where needed. An all-ASCII dump (every iptables dump in practice) is decoded as Latin-1 — the same text, one
 * copy — rather than UTF-8, which costs as much as a whole diff of two 30 MB dumps.
 */
import { isAscii } from "node:buffer";
import { readFileSync } from "node:fs";

/** The file's bytes; "-" (or 0) reads stdin. */
export function readRulesFile(file: string | 0): Buffer {
  return readFileSync(file === "-" ? 0 : file);
}

/** The text of a dump's bytes (UTF-8). */
export function decodeRules(bytes: Uint8Array): string {
  const b = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return isAscii(b) ? b.toString("latin1") : b.toString("utf8");
}
