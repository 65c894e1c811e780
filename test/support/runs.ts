/**
 * Case counts for randomised suites. CI runs a size that fits its time budget; `npm run test:full`
 * (PODWIRE_TEST_RUNS=full) runs the counts the issues ask for. PODWIRE_TEST_RUNS=<number> overrides both.
 */
export function runs(full: number, ci: number): number {
  const v = process.env.PODWIRE_TEST_RUNS;
  if (v === "full") return full;
  if (v && /^\d+$/.test(v)) return Number(v);
  return ci;
}
