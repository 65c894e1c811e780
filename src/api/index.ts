export * from "./meta.js";
export * from "./core.js";
export * from "./apps.js";
export * from "./selectors.js";
export * from "./ip.js";
export * from "./field-errors.js";
export { validate, validateMeta, validatePodSpec, clusterIPInRange } from "./validation.js";
export { applyDefaults, defaultPodSpec } from "./defaults.js";
