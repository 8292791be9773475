import { BerthError } from '../errors.js';
import { blindStrategy } from './blind.js';
import { blueGreenStrategy, canaryStrategy } from './rollout.js';
import { simpleStrategy } from './simple.js';
import type { Strategy } from './types.js';

export type { DeploymentResult, Strategy, StrategyContext, StrategyTarget } from './types.js';

/** Strategies by deploy method. */
export const strategies: ReadonlyMap<string, Strategy> = new Map<string, Strategy>([
  [blindStrategy.method, blindStrategy],
  [simpleStrategy.method, simpleStrategy],
  [blueGreenStrategy.method, blueGreenStrategy],
  [canaryStrategy.method, canaryStrategy],
]);

export function getStrategy(method: string): Strategy {
  const strategy = strategies.get(method);
  if (strategy === undefined) {
    throw new BerthError('MethodUnavailable', `deploy method ${method} is not available`, {
      place: { field: 'method' },
    });
  }
  return strategy;
}
