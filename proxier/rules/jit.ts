/**
 * One V8 setting for the few long loops of a big diff (the scan of a 400k-line dump), set only while they run.
 *
 * Such a loop runs once per process, so it starts in the interpreter and is compiled while it runs (on-stack
 * replacement). By default V8 compiles it on a background thread and the loop keeps interpreting meanwhile: on a
 * busy machine the compile waits for a core and the interpreter runs ~2× longer; on an idle one both threads'
 * CPU counts. Compiling on the loop's own thread (`--no-concurrent-osr`) costs the compile once and then runs
 * compiled code: measured on the benchmark's dump, the scan's CPU went from ~140–150 ms to ~90–95 ms. The flag is
 * restored afterwards, so nothing else in the process (a server embedding the library) is affected; only OSR
 * compiles requested during the call run synchronously, and only this call runs then.
 */
import { setFlagsFromString } from "node:v8";

let depth = 0;

/** Runs f with on-stack-replacement compiles on the calling thread (see the module comment). */
export function withSyncOsr<T>(f: () => T): T {
  if (depth++ === 0) setFlagsFromString("--no-concurrent-osr");
  try {
    return f();
  } finally {
    if (--depth === 0) setFlagsFromString("--concurrent-osr");
  }
}
