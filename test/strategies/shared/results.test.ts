import { describe, expect, it } from 'vitest';
import { BerthError, EngineError } from '../../../src/errors.js';
import {
  errorOf,
  failed,
  preDeployFailed,
  rolledBack,
  succeeded,
  withNote,
} from '../../../src/strategies/shared/results.js';
import { OLD, context, world } from '../fake-context.js';

const NEW = { version: 'new', commit: 'c-new' };

describe('result builders', () => {
  it('succeeded: DONE, AVAILABLE, ReconciliationSucceeded, nothing marked', () => {
    expect(succeeded({ message: 'deployed', running: NEW, health: 'healthy' })).toEqual({
      result: 'succeeded',
      state: 'DONE',
      stackState: 'AVAILABLE',
      reason: 'ReconciliationSucceeded',
      message: 'deployed',
      running: NEW,
      health: 'healthy',
      markedBad: false,
      transient: false,
    });
  });

  it('failed: FAILED with the given stack state and reason', () => {
    const error = new BerthError('DeployFailed', 'boom');
    expect(
      failed({
        stackState: 'BROKEN',
        reason: 'DeployFailed',
        message: 'boom',
        health: 'unhealthy',
        transient: true,
        error,
      }),
    ).toEqual({
      result: 'failed',
      state: 'FAILED',
      stackState: 'BROKEN',
      reason: 'DeployFailed',
      message: 'boom',
      health: 'unhealthy',
      markedBad: false,
      transient: true,
      error,
    });
  });

  it('rolledBack: ROLLED_BACK, keeps what it is given', () => {
    const result = rolledBack({
      stackState: 'AVAILABLE',
      reason: 'RolledBack',
      message: 'rolled back to old',
      running: OLD,
      good: OLD,
      health: 'healthy',
      markedBad: true,
    });
    expect(result).toMatchObject({
      result: 'rolled-back',
      state: 'ROLLED_BACK',
      running: OLD,
      good: OLD,
      markedBad: true,
      transient: false,
    });
  });

  it('never lets an undefined flag through as undefined', () => {
    const result = failed({
      stackState: 'BROKEN',
      reason: 'DeployFailed',
      message: 'x',
      health: 'unknown',
      markedBad: undefined,
      transient: undefined,
    });
    expect(result.markedBad).toBe(false);
    expect(result.transient).toBe(false);
  });

  it('preDeployFailed: the previous version keeps running, or nothing was deployed', () => {
    const running = preDeployFailed(
      context(world()),
      'pre-deploy hook pre.sh timed out',
      'AVAILABLE',
    );
    expect(running).toMatchObject({
      result: 'failed',
      state: 'FAILED',
      stackState: 'AVAILABLE',
      reason: 'PreDeployHookFailed',
      message: 'pre-deploy hook pre.sh timed out; the previous version keeps running',
      running: OLD,
      health: 'unknown',
      markedBad: false,
    });
    const fresh = preDeployFailed(
      context(world(), {}, { previous: undefined, hadContainers: false }),
      'pre-deploy hook pre.sh exited with 1',
      'BROKEN',
    );
    expect(fresh).toMatchObject({
      stackState: 'BROKEN',
      message: 'pre-deploy hook pre.sh exited with 1; nothing deployed',
      running: undefined,
    });
  });

  it('withNote appends a note when there is one', () => {
    expect(withNote('deployed', undefined)).toBe('deployed');
    expect(withNote('deployed', 'post-deploy hook p.sh failed')).toBe(
      'deployed; post-deploy hook p.sh failed',
    );
  });

  it('errorOf keeps a BerthError, wraps anything else as DeployFailed, and is empty for nothing', () => {
    const engine = new EngineError('ContainerStartFailed', 'no');
    expect(errorOf(engine)).toBe(engine);
    const wrapped = errorOf(new Error('plain'));
    expect(wrapped).toBeInstanceOf(BerthError);
    expect(wrapped).toMatchObject({ reason: 'DeployFailed', message: 'plain' });
    expect(errorOf(undefined)).toBeUndefined();
  });
});
