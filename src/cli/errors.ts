/** An error in how the command was called (bad flag value, missing argument): exit code 2. */
export class UsageError extends Error {
  override name = "UsageError";
}

/** Exit codes shared by every podwire executable (see docs/contracts in shared design). */
export const ExitCode = { ok: 0, failure: 1, usage: 2 } as const;
