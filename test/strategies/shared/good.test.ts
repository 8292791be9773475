import { describe, expect, it } from 'vitest';
import { EngineError, SettingsError } from '../../../src/errors.js';
import { keepGood, markBad, restoreGood } from '../../../src/strategies/shared/good.js';
import { GOOD, OLD, context, world } from '../fake-context.js';

describe('keepGood', () => {
  it('snapshots the running version when the reconciler says so', async () => {
    const w = world({ good: GOOD });
    expect(await keepGood(context(w))).toEqual(OLD);
    expect(w.journal).toEqual(['snapshot-good']);
    expect(w.good).toEqual(OLD);
  });

  it('keeps the good version as it is otherwise, healthy or not', async () => {
    for (const previousHealthy of [true, false]) {
      const w = world({ good: GOOD });
      const ctx = context(w, {}, { previousHealthy, snapshotPrevious: false });
      expect(await keepGood(ctx)).toEqual(GOOD);
      expect(w.journal).toEqual([]);
    }
  });

  it('has nothing to snapshot without a previous version', async () => {
    const w = world({ running: undefined });
    expect(await keepGood(context(w, {}, { previous: undefined }))).toBeUndefined();
    expect(w.journal).toEqual([]);
  });
});

describe('markBad', () => {
  it('marks the version bad with the reason, journaled', async () => {
    const w = world();
    expect(await markBad(context(w), 'health check failed (web unhealthy)')).toBe(true);
    expect(w.bad).toEqual([
      {
        stack: 'web',
        version: 'new',
        commit: 'c-new',
        reason: 'health check failed (web unhealthy)',
        at: 'now',
      },
    ]);
    expect(w.journal).toEqual(['mark-bad']);
  });

  it('does not mark when the settings say not to, for a Docker hiccup, or for invalid settings', async () => {
    const cases = [
      { settings: { markBad: false }, cause: undefined },
      { settings: {}, cause: new EngineError('DockerUnavailable', 'down', { transient: true }) },
      { settings: {}, cause: new SettingsError('SettingsInvalid', 'exclusive volume undeclared') },
    ];
    for (const c of cases) {
      const w = world();
      expect(await markBad(context(w, c.settings), 'why', c.cause)).toBe(false);
      expect(w.bad).toEqual([]);
      expect(w.journal).toEqual([]);
    }
  });

  it('marks for an engine error that is not transient', async () => {
    const w = world();
    const cause = new EngineError('ContainerStartFailed', 'exec format error');
    expect(await markBad(context(w), 'deploy failed', cause)).toBe(true);
  });
});

describe('restoreGood', () => {
  it('puts good_stacks back, applies it and waits for it', async () => {
    const w = world({ running: { version: 'new', commit: 'c-new' }, good: OLD });
    expect(await restoreGood(context(w), OLD)).toEqual({ healthy: true });
    expect(w.journal).toEqual(['restore-good', 'load-good', 'apply-good', 'wait-healthy-good']);
    expect(w.calls).toEqual(['load /data/running_stacks/web', 'apply old', 'wait old']);
    expect(w.running).toEqual(OLD);
  });

  it('reports an unhealthy good version', async () => {
    const w = world({ good: OLD, health: { old: false } });
    const back = await restoreGood(context(w), OLD);
    expect(back).toEqual({
      healthy: false,
      why: 'health check failed (web unhealthy)',
      transient: false,
    });
  });

  it('reports what was thrown, and whether it was transient', async () => {
    const w = world({ good: OLD });
    const ctx = context(w);
    ctx.engine.apply = () =>
      Promise.reject(new EngineError('DockerUnavailable', 'docker went away', { transient: true }));
    expect(await restoreGood(ctx, OLD)).toEqual({
      healthy: false,
      why: 'docker went away',
      transient: true,
    });
    expect(w.journal).toEqual(['restore-good', 'load-good', 'apply-good']);
  });
});
