import type { Strategy } from '../types.js';
import type { RolloutMethod } from './plan.js';
import { planEntries } from './planner.js';
import { recoverRollout } from './recover.js';
import { runRollout } from './run.js';
import type { RolloutOptions } from './types.js';

export { planRollout } from './planner.js';
export type { RolloutMethod, RolloutPlan } from './plan.js';
export type { RolloutOptions, Started } from './types.js';

/** A strategy that rolls new containers beside the old ones; `options` say how it differs. */
export function rolloutStrategy<Method extends RolloutMethod>(
  options: RolloutOptions<Method>,
): Strategy<Method> {
  return {
    method: options.method,
    run: (ctx) => runRollout(ctx, options),
    plan: (ctx) => planEntries(ctx, options.method),
    recover: (ctx, interrupted) => recoverRollout(ctx, interrupted),
  };
}
