/**
 * Step order and decisions of the simple strategy, over the recording stand-ins of
 * fake-context.ts.
 */
import { describe, expect, it } from 'vitest';
import { EngineError } from '../../../src/errors.js';
import { getStrategy } from '../../../src/strategies/index.js';
import { GOOD, OLD, context, failApply, world } from '../fake-context.js';

const simple = getStrategy('simple');

describe('simple strategy', () => {
  it('follows seed 002 on a healthy deploy', async () => {
    const w = world();
    const result = await simple.run(
      context(w, { hooks: { timeoutMs: 1000, preDeploy: 'pre.sh', postDeploy: 'post.sh' } }),
    );
    expect(result).toMatchObject({
      result: 'succeeded',
      state: 'DONE',
      stackState: 'AVAILABLE',
      running: { version: 'new' },
    });
    expect(w.journal).toEqual([
      'stop',
      'pre-deploy-hook',
      'snapshot-good',
      'remove-old',
      'put-running',
      'load',
      'apply',
      'wait-healthy',
      'post-deploy-hook',
    ]);
    expect(w.calls).toEqual([
      'stop',
      'down',
      'load /data/running_stacks/web',
      'apply new',
      'wait new',
    ]);
    expect(w.good).toEqual(OLD);
    expect(result.good).toEqual(OLD);
    expect(w.hookRequests.map((r) => [r.phase, r.result])).toEqual([
      ['pre-deploy', undefined],
      ['post-deploy', 'success'],
    ]);
  });

  it('does not keep an old version as good unless the reconciler says so', async () => {
    const w = world({ good: GOOD });
    await simple.run(context(w, {}, { previousHealthy: false, snapshotPrevious: false }));
    expect(w.journal).not.toContain('snapshot-good');
    expect(w.good).toEqual(GOOD);
  });

  it('decides the snapshot on snapshotPrevious, not on previousHealthy', async () => {
    // Healthy but rejected (marked bad): it must not become the good version.
    const rejected = world({ good: GOOD });
    const result = await simple.run(
      context(rejected, {}, { previousHealthy: true, snapshotPrevious: false }),
    );
    expect(rejected.journal).not.toContain('snapshot-good');
    expect(result.good).toEqual(GOOD);

    const kept = world({ good: GOOD });
    await simple.run(context(kept, {}, { previousHealthy: false, snapshotPrevious: true }));
    expect(kept.journal).toContain('snapshot-good');
    expect(kept.good).toEqual(OLD);
  });

  it('marks an unhealthy version bad and goes back to the good one', async () => {
    const w = world({ health: { new: false } });
    const result = await simple.run(
      context(w, { hooks: { timeoutMs: 1000, postDeploy: 'post.sh' } }),
    );
    expect(result).toMatchObject({
      result: 'rolled-back',
      state: 'ROLLED_BACK',
      reason: 'RolledBack',
      running: OLD,
      markedBad: true,
    });
    expect(w.bad.map((b) => b.version)).toEqual(['new']);
    expect(w.calls).toEqual([
      'stop',
      'down',
      'load /data/running_stacks/web',
      'apply new',
      'wait new',
      'down',
      'load /data/running_stacks/web',
      'apply old',
      'wait old',
    ]);
    expect(w.hookRequests.at(-1)?.result).toBe('rolled-back');
  });

  it('stops the good version when it fails too', async () => {
    const w = world({ health: { new: false, old: false } });
    const result = await simple.run(context(w));
    expect(result).toMatchObject({
      result: 'failed',
      stackState: 'BROKEN',
      running: OLD,
      health: 'unhealthy',
    });
    expect(w.calls.slice(-2)).toEqual(['wait old', 'stop']);
    expect(w.journal.at(-1)).toBe('stop-good');
  });

  it('leaves the stack down without a good version', async () => {
    const w = world({ running: undefined, health: { new: false } });
    const result = await simple.run(
      context(
        w,
        {},
        {
          previous: undefined,
          hadContainers: false,
          previousHealthy: false,
          snapshotPrevious: false,
        },
      ),
    );
    expect(result).toMatchObject({ result: 'failed', stackState: 'BROKEN', running: undefined });
    expect(w.journal).toEqual([
      'remove-old',
      'put-running',
      'load',
      'apply',
      'wait-healthy',
      'mark-bad',
      'remove-new',
      'clear-running',
    ]);
    expect(w.running).toBeUndefined();
  });

  it('honours markBad: false and redeployGood: false', async () => {
    const w = world({ health: { new: false } });
    const result = await simple.run(context(w, { markBad: false, redeployGood: false }));
    expect(result).toMatchObject({ result: 'failed', markedBad: false });
    expect(w.bad).toEqual([]);
    expect(w.calls).not.toContain('apply old');
  });

  it('brings the old version back when the pre-deploy hook fails', async () => {
    const w = world({ hookResults: { 'pre-deploy': false } });
    const result = await simple.run(
      context(w, { hooks: { timeoutMs: 1000, preDeploy: 'pre.sh', postDeploy: 'post.sh' } }),
    );
    expect(result).toMatchObject({ result: 'failed', reason: 'PreDeployHookFailed', running: OLD });
    expect(w.calls).toEqual(['stop', 'start']);
    expect(w.journal).toEqual(['stop', 'pre-deploy-hook', 'restart-previous']);
    expect(w.running).toEqual(OLD);
  });

  it('rolls back when apply fails, marking the version bad', async () => {
    const w = world();
    const ctx = context(w);
    failApply(ctx, 'new', new Error('port is already allocated'));
    const result = await simple.run(ctx);
    expect(result).toMatchObject({ result: 'rolled-back', reason: 'RolledBack', markedBad: true });
    expect(result.message).toMatch(/port is already allocated/);
  });

  it('does not mark a version bad for a Docker hiccup, and still goes back', async () => {
    const w = world();
    const ctx = context(w);
    failApply(
      ctx,
      'new',
      new EngineError('DockerUnavailable', 'docker restarted', { transient: true }),
    );
    const result = await simple.run(ctx);
    expect(result).toMatchObject({
      result: 'rolled-back',
      reason: 'RolledBack',
      running: OLD,
      markedBad: false,
      transient: true,
    });
    expect(result.error?.reason).toBe('DockerUnavailable');
    expect(w.bad).toEqual([]);
    expect(w.journal).not.toContain('mark-bad');
  });

  it('restarts the old version and reports a failure to stop it', async () => {
    const w = world();
    const ctx = context(w);
    ctx.engine.stop = () => Promise.reject(new Error('no such container'));
    const result = await simple.run(ctx);
    expect(result).toMatchObject({
      result: 'failed',
      state: 'FAILED',
      stackState: 'AVAILABLE',
      reason: 'DeployFailed',
      running: OLD,
      markedBad: false,
      transient: false,
    });
    expect(result.error?.reason).toBe('DeployFailed');
    expect(w.journal).toEqual(['stop', 'restart-previous']);
  });
});
