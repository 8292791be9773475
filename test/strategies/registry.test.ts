import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { BerthError } from '../../src/errors.js';
import {
  findStrategy,
  getStrategy,
  methodNames,
  type Strategy,
} from '../../src/strategies/index.js';

describe('strategy registry', () => {
  it('lists every method once, in registry order', () => {
    expect(methodNames()).toEqual(['blind', 'simple', 'blue-green', 'canary']);
  });

  it('gives each method its strategy', () => {
    for (const method of methodNames()) {
      const strategy: Strategy = getStrategy(method);
      expect(strategy.method).toBe(method);
      expect(findStrategy(method)).toBe(strategy);
    }
  });

  it('gives the rollout methods a plan and a recovery of their own, and no other', () => {
    const withPlan = methodNames().filter((m) => getStrategy(m).plan !== undefined);
    const withRecover = methodNames().filter((m) => getStrategy(m).recover !== undefined);
    expect(withPlan).toEqual(['blue-green', 'canary']);
    expect(withRecover).toEqual(['blue-green', 'canary']);
  });

  it('refuses an unknown method with MethodUnavailable on the method field', () => {
    let thrown: unknown;
    try {
      getStrategy('rolling');
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(BerthError);
    expect(thrown).toMatchObject({ reason: 'MethodUnavailable', place: { field: 'method' } });
    expect((thrown as Error).message).toMatch(/deploy method rolling is not available/);
    expect(findStrategy('rolling')).toBeUndefined();
  });

  it('makes a schema enum of the method names', () => {
    const Method = z.enum(methodNames());
    expect(Method.parse('canary')).toBe('canary');
    expect(Method.safeParse('rolling').success).toBe(false);
  });
});
