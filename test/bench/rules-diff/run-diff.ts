/** What `podwire rules diff OLD NEW` does, without the CLI's start-up (which loads every subcommand's modules). */
import { readFileSync } from "node:fs";
import { diffDumps, formatDiff } from "../../../proxier/rules/diff.js";
import { parseRules } from "../../../proxier/rules/parse.js";

const [a, b] = process.argv.slice(2);
const d = diffDumps(
  parseRules(readFileSync(a!, "utf8"), { source: a!, lazy: true }),
  parseRules(readFileSync(b!, "utf8"), { source: b!, lazy: true }),
);
process.stdout.write(formatDiff(d));
process.exitCode = d.equal ? 0 : 1;
