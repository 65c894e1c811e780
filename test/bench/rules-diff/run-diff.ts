/** What `podwire rules diff OLD NEW` does, without the CLI's start-up (which loads every subcommand's modules). */
import { diffDumps, formatDiff } from "../../../proxier/rules/diff.js";
import { parseRules } from "../../../proxier/rules/parse.js";
import { readRulesFile } from "../../../proxier/rules/read.js";

const [a, b] = process.argv.slice(2);
const d = diffDumps(
  parseRules(readRulesFile(a!), { source: a!, lazy: true }),
  parseRules(readRulesFile(b!), { source: b!, lazy: true }),
);
process.stdout.write(formatDiff(d));
process.exitCode = d.equal ? 0 : 1;
