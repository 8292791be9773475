import { BerthError } from '../errors.js';
import { blindStrategy } from './blind/index.js';
import { blueGreenStrategy } from './blue-green/index.js';
import { canaryStrategy } from './canary/index.js';
import { simpleStrategy } from './simple/index.js';
import type { Strategy } from './types.js';

/** Every deploy method berth has. Adding one is a folder and a line here. */
// prettier-ignore
const STRATEGIES = [
  blindStrategy,
  simpleStrategy,
  blueGreenStrategy,
  canaryStrategy,
] as const;

export type MethodName = (typeof STRATEGIES)[number]['method'];

/** The method names, in registry order; non-empty, so `z.enum(methodNames())` takes it. */
export function methodNames(): readonly [MethodName, ...MethodName[]] {
  const [first, ...rest] = STRATEGIES;
  return [first.method, ...rest.map((s) => s.method)];
}

/** The strategy of a method, or undefined for a name berth does not know (an old record). */
export function findStrategy(method: string): Strategy | undefined {
  return STRATEGIES.find((s) => s.method === method);
}

export function getStrategy(method: string): Strategy {
  const strategy = findStrategy(method);
  if (strategy === undefined) {
    throw new BerthError('MethodUnavailable', `deploy method ${method} is not available`, {
      place: { field: 'method' },
    });
  }
  return strategy;
}
