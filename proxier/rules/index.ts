/** Rule tools: parse, normalise, canonicalise, diff and trace iptables rule sets. */
export * from "./model.js";
export { parseRules, RulesParseError, type ParseOptions, allRules } from "./parse.js";
export { normaliseAddress, normaliseProbability, normaliseMarkMask } from "./normalize.js";
export { canonical, type CanonicalOptions, type CanonicalMode } from "./canonical.js";
export {
  diffDumps,
  formatDiff,
  type RulesDiff,
  type ServiceChange,
  type ChainChange,
  type DiffOptions,
} from "./diff.js";
export { resolveChainNames, type ChainMeaning } from "./names.js";
export {
  tracePacket,
  formatTrace,
  lacksHookRules,
  type Packet,
  type TraceOptions,
  type TraceResult,
  type TraceOutcome,
  type Verdict,
} from "./trace.js";
export { withKubeProxyHooks } from "./hooks.js";
