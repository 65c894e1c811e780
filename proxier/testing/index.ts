/**
 * `podwire/testing`: fast-check arbitraries and helpers for property-based tests of iptables service rules
 * (podwire's or kube-proxy's). See docs/property-testing.md.
 */
export * from "./arbitraries.js";
export * from "./helpers.js";
export { parseRules } from "../rules/parse.js";
export type { Packet, TraceResult, TraceOutcome, Verdict } from "../rules/trace.js";
export type { RulesDiff, ServiceChange } from "../rules/diff.js";
export type { Dump } from "../rules/model.js";
