/** An error in how the command was called (bad flag value, missing argument): exit code 2. */
export class UsageError extends Error {
  override name = "UsageError";
}

/** Exit codes shared by every podwire executable (see docs/contracts in shared design). */
export const ExitCode = { ok: 0, failure: 1, usage: 2 } as const;

/**
 * `podwire … | head`: the reader has gone. C tools die of SIGPIPE there; Node ignores that signal, and the write
 * error would surface as an unhandled 'error' event with a stack trace. Leave quietly, with the status a shell
 * reports for a SIGPIPE death.
 */
export function exitQuietlyOnEpipe(): void {
  process.stdout.on("error", (err: NodeJS.ErrnoException) => {
    if (err.code === "EPIPE") process.exit(128 + 13);
    throw err;
  });
}

/** Prints a command's error (`podwire: message`, the stack with PODWIRE_DEBUG) and returns its exit code. */
export function reportError(err: unknown): number {
  process.stderr.write(`podwire: ${err instanceof Error ? err.message : String(err)}\n`);
  if (err instanceof UsageError) return ExitCode.usage;
  if (process.env.PODWIRE_DEBUG && err instanceof Error) process.stderr.write(`${err.stack}\n`);
  return ExitCode.failure;
}
