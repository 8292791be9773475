import { describe, expect, it } from 'vitest';
import {
  BerthError,
  EngineError,
  SourceError,
  StateError,
  asBerthError,
  isTransient,
} from '../src/errors.js';

describe('isTransient', () => {
  it('is true only for engine and source errors that say so', () => {
    expect(isTransient(new EngineError('DockerUnavailable', 'x', { transient: true }))).toBe(true);
    expect(isTransient(new EngineError('ContainerStartFailed', 'x'))).toBe(false);
    // Source errors are transient unless they say otherwise (an unreachable remote).
    expect(isTransient(new SourceError('FetchFailed', 'x'))).toBe(true);
    expect(isTransient(new SourceError('AuthFailed', 'x', { transient: false }))).toBe(false);
    expect(isTransient(new StateError('StateWriteFailed', 'x'))).toBe(false);
    expect(isTransient(new Error('x'))).toBe(false);
    expect(isTransient(undefined)).toBe(false);
  });
});

describe('asBerthError', () => {
  it('returns a BerthError unchanged', () => {
    const err = new EngineError('ContainerStartFailed', 'x');
    expect(asBerthError(err, 'DeployFailed')).toBe(err);
  });

  it('wraps anything else with the reason, the message and the cause', () => {
    const cause = new Error('disk full', { cause: new Error('ENOSPC') });
    const wrapped = asBerthError(cause, 'DeployFailed');
    expect(wrapped).toBeInstanceOf(BerthError);
    expect(wrapped.reason).toBe('DeployFailed');
    expect(wrapped.message).toBe('disk full: ENOSPC');
    expect(wrapped.cause).toBe(cause);
    expect(asBerthError('a string', 'ReconcileFailed')).toMatchObject({
      reason: 'ReconcileFailed',
      message: 'a string',
    });
  });
});
