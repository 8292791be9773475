export { findStrategy, getStrategy, methodNames, type MethodName } from './registry.js';
export { planRollout } from './rollout/index.js';
export type {
  DeploymentOutcome,
  DeploymentResult,
  InterruptedDeployment,
  PlanContext,
  ProjectLoader,
  RecoveryAction,
  RecoveryContext,
  RecoveryOutcome,
  Strategy,
  StrategyContext,
  StrategyTarget,
} from './types.js';
