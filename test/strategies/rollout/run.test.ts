/**
 * Step order and decisions of blue-green (and so canary, which shares the run loop), over the
 * recording stand-ins of fake-context.ts with the rollout's engine calls added.
 */
import { describe, expect, it } from 'vitest';
import type { ComposeProject } from '../../../src/compose/types.js';
import type {
  CandidateRequest,
  HealthOptions,
  ObservedContainer,
} from '../../../src/engine/types.js';
import { EngineError } from '../../../src/errors.js';
import { getStrategy } from '../../../src/strategies/index.js';
import type { StrategyContext } from '../../../src/strategies/types.js';
import type { DeploySettings } from '../../../src/stack/types.js';
import { project, service } from '../../engine/fixtures.js';
import { GOOD, OLD, context, failApply, report, world, type World } from '../fake-context.js';

const blueGreen = getStrategy('blue-green');

const BEFORE_SWITCH = [
  'snapshot-good',
  'put-running',
  'load',
  'prepare',
  'plan',
  'start-new',
  'wait-new',
  'promote',
];
const THROUGH_GATE = [...BEFORE_SWITCH, 'switch', 'rename', 'apply', 'wait-healthy'];
const BACK_TO_GOOD = ['restore-good', 'load-good', 'apply-good', 'wait-healthy-good'];
/** Rolled back, and the old version serves again. */
const BACK_ON_OLD = {
  result: 'rolled-back',
  state: 'ROLLED_BACK',
  stackState: 'AVAILABLE',
  running: OLD,
};

/** A one-service stack whose single container `old-1` is replaced by `new-1`. */
function rolloutContext(
  w: World,
  settings: Partial<DeploySettings> = {},
  patch: Partial<StrategyContext> = {},
): StrategyContext {
  const ctx = context(w, { method: 'blue-green', drainMs: 0, ...settings }, patch);
  const loaded = project('web', [service('web')]);
  ctx.loadProject = (dir, name) => {
    w.calls.push(`load ${dir}`);
    return Promise.resolve({ ...loaded, name, workingDir: dir });
  };
  const whole = ctx.engine.waitHealthy.bind(ctx.engine);
  const record = (call: string): Promise<void> => (w.calls.push(call), Promise.resolve());
  Object.assign(ctx.engine, {
    prepare: () => Promise.resolve(),
    plan: () =>
      Promise.resolve([
        {
          service: 'web',
          number: 1,
          containerId: 'old-1',
          subject: 'web-web-1',
          action: 'recreate',
          reason: 'config changed',
        },
      ]),
    startCandidate: (_project: ComposeProject, request: CandidateRequest) => {
      w.calls.push(`start ${request.name}`);
      return Promise.resolve({ id: 'new-1' } as ObservedContainer);
    },
    setServing: (_project: ComposeProject, id: string, serving: boolean) =>
      record(`serve ${id} ${serving}`),
    renameContainer: (id: string, name: string) => record(`rename ${id} ${name}`),
    removeContainers: (_project: string, ids: string[]) =>
      ids.length === 0 ? Promise.resolve() : record(`remove ${ids.join(',')}`),
    observe: () => Promise.resolve({ name: 'web', services: {} }),
    waitHealthy: (p: ComposeProject, options: HealthOptions) => {
      if (options.containerIds === undefined) return whole(p, options);
      w.calls.push(`wait ${options.containerIds.join(',')}`);
      return Promise.resolve(report(w.health.batch ?? true));
    },
  });
  Object.assign(ctx.folders, {
    dropPrevious: () => record('drop-previous'),
    restorePrevious: () => (w.calls.push('restore-previous'), Promise.resolve(true)),
  });
  return ctx;
}

describe('blue-green', () => {
  it('rolls the new container beside the old one, switches, then gates the whole stack', async () => {
    const w = world();
    const result = await blueGreen.run(rolloutContext(w));
    expect(result).toMatchObject({
      result: 'succeeded',
      state: 'DONE',
      stackState: 'AVAILABLE',
      running: { version: 'new' },
      good: OLD,
      carriedVersions: [],
    });
    expect(w.journal).toEqual(THROUGH_GATE);
    expect(w.calls).toEqual([
      'load /data/running_stacks/web',
      'start web-web-1-new-1',
      'wait new-1',
      'serve new-1 true',
      'serve old-1 false',
      'remove old-1',
      'rename new-1 web-web-1',
      'apply new',
      'wait new',
      'drop-previous',
    ]);
  });

  it('keeps the old container serving when the new one fails its own gate', async () => {
    const w = world({ health: { batch: false } });
    const result = await blueGreen.run(rolloutContext(w));
    expect(result).toMatchObject({ ...BACK_ON_OLD, reason: 'HealthCheckFailed', markedBad: true });
    expect(w.journal).toEqual([...BEFORE_SWITCH.slice(0, -1), 'mark-bad', 'roll-back']);
    expect(w.calls).not.toContain('serve old-1 false');
    expect(w.calls.slice(-2)).toEqual(['remove new-1', 'restore-previous']);
  });

  it('goes back to the good version stop-first when the whole stack fails after the switch', async () => {
    const w = world({ health: { new: false } });
    const result = await blueGreen.run(
      rolloutContext(w, { hooks: { timeoutMs: 1000, postDeploy: 'post.sh' } }),
    );
    expect(result).toMatchObject({
      ...BACK_ON_OLD,
      reason: 'HealthCheckFailed',
      good: OLD,
      health: 'healthy',
      markedBad: true,
      transient: false,
    });
    expect(result.report?.healthy).toBe(false);
    expect(result.message).toMatch(
      /^version new took over at the switch, then health check failed/,
    );
    expect(result.message).toMatch(/\(marked bad\); rolled back to old$/);
    expect(w.bad.map((b) => b.version)).toEqual(['new']);
    expect(w.journal).toEqual([
      ...THROUGH_GATE,
      'mark-bad',
      'remove-new',
      ...BACK_TO_GOOD,
      'post-deploy-hook',
    ]);
    expect(w.calls.slice(-6)).toEqual([
      'wait new',
      'drop-previous',
      'down',
      'load /data/running_stacks/web',
      'apply old',
      'wait old',
    ]);
    expect(w.running).toEqual(OLD);
    expect(w.hookRequests.at(-1)?.result).toBe('rolled-back');
  });

  it('goes back to the good version when finishing the rollout throws', async () => {
    const w = world();
    const ctx = rolloutContext(w);
    ctx.engine.renameContainer = () => Promise.reject(new Error('name already in use'));
    const result = await blueGreen.run(ctx);
    expect(result).toMatchObject({
      result: 'rolled-back',
      reason: 'DeployFailed',
      running: OLD,
      stackState: 'AVAILABLE',
      markedBad: true,
    });
    expect(result.error?.message).toBe('name already in use');
    expect(result.message).toMatch(
      /took over at the switch, then deploy failed: name already in use/,
    );
    expect(w.journal).toEqual([
      ...BEFORE_SWITCH,
      'switch',
      'rename',
      'mark-bad',
      'remove-new',
      ...BACK_TO_GOOD,
    ]);
  });

  it('does not mark the version bad for a Docker hiccup after the switch, and still goes back', async () => {
    const w = world();
    const ctx = rolloutContext(w);
    // The switch's `apply` is the only one of the new version.
    failApply(
      ctx,
      'new',
      new EngineError('DockerUnavailable', 'docker restarted', { transient: true }),
    );
    const result = await blueGreen.run(ctx);
    expect(result).toMatchObject({
      result: 'rolled-back',
      reason: 'DeployFailed',
      running: OLD,
      markedBad: false,
      transient: true,
    });
    expect(w.bad).toEqual([]);
    expect(w.journal).not.toContain('mark-bad');
    expect(w.journal).toContain('restore-good');
  });

  it('leaves the stack down after the switch when there is no good version', async () => {
    const w = world({ health: { new: false } });
    const ctx = rolloutContext(w, {}, { snapshotPrevious: false });
    const result = await blueGreen.run(ctx);
    expect(result).toMatchObject({
      result: 'failed',
      state: 'FAILED',
      stackState: 'BROKEN',
      reason: 'HealthCheckFailed',
      running: undefined,
      markedBad: true,
    });
    expect(result.message).toMatch(/no good version to roll back to; the stack is down$/);
    expect(w.journal.slice(-3)).toEqual(['mark-bad', 'remove-new', 'clear-running']);
    expect(w.running).toBeUndefined();
  });

  it('ends failed when redeployGood is off, or the good version is this version', async () => {
    const off = world({ health: { new: false } });
    const noRedeploy = await blueGreen.run(rolloutContext(off, { redeployGood: false }));
    expect(noRedeploy).toMatchObject({ result: 'failed', stackState: 'BROKEN' });
    expect(noRedeploy.message).toMatch(/redeployGood is off/);

    const same = world({ health: { new: false }, good: { version: 'new', commit: 'c-new' } });
    const self = await blueGreen.run(rolloutContext(same, {}, { snapshotPrevious: false }));
    expect(self).toMatchObject({ result: 'failed', stackState: 'BROKEN' });
    expect(self.message).toMatch(/the good version is this version/);
  });

  it('stops the good version when it fails too after the switch', async () => {
    const w = world({ health: { new: false, old: false } });
    const result = await blueGreen.run(rolloutContext(w));
    expect(result).toMatchObject({
      result: 'failed',
      stackState: 'BROKEN',
      reason: 'HealthCheckFailed',
      running: OLD,
      health: 'unhealthy',
    });
    expect(w.journal.slice(-2)).toEqual(['wait-healthy-good', 'stop-good']);
  });

  it('snapshots the running version only when the reconciler says so', async () => {
    const w = world({ good: GOOD });
    const result = await blueGreen.run(rolloutContext(w, {}, { snapshotPrevious: false }));
    expect(w.journal).not.toContain('snapshot-good');
    expect(result.good).toEqual(GOOD);
  });

  it('deploys directly, as simple does, when no container runs yet', async () => {
    const w = world({ running: undefined });
    const result = await blueGreen.run(
      rolloutContext(w, {}, { previous: undefined, hadContainers: false, snapshotPrevious: false }),
    );
    expect(result).toMatchObject({ result: 'succeeded', running: { version: 'new' } });
    expect(w.journal).toEqual(['remove-old', 'put-running', 'load', 'apply', 'wait-healthy']);
  });

  it('plans per service for --dry-run', async () => {
    const w = world();
    const ctx = rolloutContext(w);
    const entries = await blueGreen.plan!({
      engine: ctx.engine,
      project: await ctx.loadProject('/repo/stacks/web', 'web'),
      settings: ctx.target.settings,
      version: 'new',
    });
    expect(entries).toEqual([
      {
        subject: 'web',
        action: 'recreate',
        reason: 'blue-green side by side (config changed); 1 container',
      },
    ]);
  });
});
