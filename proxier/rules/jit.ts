/**
 * A V8 setting for the long loops of a big diff, set only while they run and restored afterwards, so nothing else
 * in the process (a server embedding the library) is affected. A flag the process was started with (node options)
 * is left alone.
 *
 * These loops run once per process, so they start in the interpreter and V8 compiles them while they run
 * (on-stack replacement, OSR). By default the compile runs on a background thread and the loop keeps interpreting
 * meanwhile: on a busy machine the compile waits for a core and the interpreter runs ~2× longer; on an idle one
 * both threads' CPU counts. With `withSyncOsr` the loop's own thread compiles it and then runs compiled code: the
 * 400k-line scan's CPU went from ~140–150 ms to ~90–95 ms on the benchmark's dump.
 *
 * (Running the short passes over all declarations without the optimising compiler was tried: cheaper in compiler
 * time, dearer overall; what helped there was a loop with no branch the interpreter had not taken, in a function of
 * its own — see plain-scan.ts.)
 */
import { setFlagsFromString } from "node:v8";

/** Whether the process was started with this V8 flag (either way): then it is not ours to change. */
function fixedByUser(flag: string): boolean {
  const opts = `${process.execArgv.join(" ")} ${process.env.NODE_OPTIONS ?? ""}`.replaceAll("_", "-");
  return opts.includes(`--${flag}`) || opts.includes(`--no-${flag}`);
}

function scoped(flag: string): <T>(f: () => T) => T {
  let depth = 0;
  const fixed = fixedByUser(flag);
  return <T>(f: () => T): T => {
    if (fixed) return f();
    if (depth++ === 0) setFlagsFromString(`--no-${flag}`);
    try {
      return f();
    } finally {
      if (--depth === 0) setFlagsFromString(`--${flag}`);
    }
  };
}

/** Runs f with on-stack-replacement compiles on the calling thread. */
export const withSyncOsr = scoped("concurrent-osr");
