/** Userspace proxy mode (kube-proxy's first mode, done properly). */
export { RoundRobinBalancer } from "./loadbalancer.js";
export { UserspaceMetrics } from "./metrics.js";
export { type ServicePortInfo, type UserspaceInput, inputFromObjects, nodeIPsOf, servicePorts } from "./model.js";
export { PortAllocator, parsePortRange } from "./ports.js";
export {
  type UserspaceProxier,
  type UserspaceProxierOptions,
  detectHostIP,
  startUserspaceProxier,
} from "./proxier.js";
export {
  jumpRules,
  renderPortalRules,
  renderUserspaceRules,
  renderCleanupPayload,
  type UserspaceRenderOptions,
} from "./rules.js";
export { type UserspaceIptables, FakeRunner, cleanupUserspaceRules, ensureJumpRules, execRunner } from "./runner.js";
