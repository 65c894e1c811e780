/** Tiny flag parser shared by the built-in images: `--name=value` and `--name value`, like Go's flag package. */
export function parseFlags(argv: string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] ?? "";
    if (!a.startsWith("-")) continue;
    const body = a.replace(/^--?/, "");
    const eq = body.indexOf("=");
    if (eq >= 0) out.set(body.slice(0, eq), body.slice(eq + 1));
    else if (i + 1 < argv.length && !(argv[i + 1] ?? "").startsWith("-")) out.set(body, argv[++i] ?? "");
    else out.set(body, "true");
  }
  return out;
}

/** Reads an integer flag, falling back to `def`; throws on junk so a bad pod spec fails loudly. */
export function intFlag(flags: Map<string, string>, name: string, def: number): number {
  const v = flags.get(name);
  if (v === undefined) return def;
  if (!/^\d+$/.test(v)) throw new Error(`invalid value for --${name}: ${v}`);
  return Number(v);
}
