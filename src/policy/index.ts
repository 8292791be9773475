export { assertPolicy, checkPolicy, PolicyError } from './check.js';
export { ANY, isHostGlob, matchesHostGlob, matchesName } from './glob.js';
export {
  DEFAULT_POLICY,
  PRESETS,
  STANDARD,
  STRICT,
  mayAdopt,
  normalizePolicy,
  policyForStack,
  resolvePolicy,
} from './presets.js';
export { PolicyConfig, PolicyRulesInput } from './schema.js';
export {
  HOST_NAMESPACES,
  POLICY_PRESETS,
  type HostNamespace,
  type Policy,
  type PolicyKey,
  type PolicyPreset,
  type PolicyRules,
  type PolicySettings,
  type PolicyViolation,
  type StackPolicy,
} from './types.js';
