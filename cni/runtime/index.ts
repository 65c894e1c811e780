/** The CNI runtime API for the kubelet and tests: see runtime.ts (chains, cache, GC) and exec.ts (one plugin exec). */
export * from "./exec.js";
export * from "./runtime.js";
