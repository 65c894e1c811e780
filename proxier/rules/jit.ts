/**
 * V8 settings for the few long loops of a big diff, set only while they run and restored afterwards, so nothing
 * else in the process (a server embedding the library) is affected. A flag the process was started with (node
 * options) is left alone.
 *
 * These loops run once per process, so they start in the interpreter and V8 compiles them while they run
 * (on-stack replacement, OSR). Two ways that costs more than it should:
 * - By default the compile runs on a background thread and the loop keeps interpreting meanwhile: on a busy
 *   machine the compile waits for a core and the interpreter runs ~2× longer; on an idle one both threads' CPU
 *   counts. The 400k-line scan is worth compiling, on its own thread (`withSyncOsr`): its CPU went from ~140–150
 *   ms to ~90–95 ms on the benchmark's dump.
 * - A loop that does little per iteration (a pass over 110k declarations to pick 20) costs a few milliseconds
 *   interpreted but tens of milliseconds of compiler time, and more when the compiled loop meets a branch it had
 *   no feedback for and is compiled again (4–16 compiles of one function per diff were seen). Those run without
 *   the optimising compiler (`withoutOptimizing`); V8's baseline compiler still applies.
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

/** Runs f without V8's optimising compiler (for loops that run once and do little per iteration). */
export const withoutOptimizing = scoped("turbofan");
