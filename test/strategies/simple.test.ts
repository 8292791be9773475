/**
 * Step order and decisions of the simple and blind strategies, over in-memory stand-ins that
 * only record calls. What Docker does with those calls is covered by the reconciler's
 * integration tests against a real engine.
 */
import { describe, expect, it } from 'vitest';
import { systemClock } from '../../src/clock.js';
import type { ComposeProject } from '../../src/compose/types.js';
import { LABEL, type ContainerEngine, type HealthReport } from '../../src/engine/types.js';
import type { HookRequest, HookResult, HookRunner } from '../../src/hooks/types.js';
import { silentLogger } from '../../src/log.js';
import { getStrategy, strategies } from '../../src/strategies/index.js';
import type { StrategyContext } from '../../src/strategies/types.js';
import type { DeploySettings } from '../../src/stack/types.js';
import type { BadVersion, StackFolders, StateStore, VersionRef } from '../../src/state/types.js';

const OLD: VersionRef = { version: 'old', commit: 'c-old' };
const GOOD: VersionRef = { version: 'good', commit: 'c-good' };

interface World {
  calls: string[];
  journal: string[];
  bad: BadVersion[];
  health: Record<string, boolean>;
  hookResults: Partial<Record<'pre-deploy' | 'post-deploy', boolean>>;
  hookRequests: HookRequest[];
  running?: VersionRef;
  good?: VersionRef;
}

function report(healthy: boolean): HealthReport {
  return {
    healthy,
    outcome: healthy ? 'healthy' : 'unhealthy',
    services: [],
    detail: healthy ? 'web healthy' : 'web unhealthy',
    elapsedMs: 1,
  };
}

function context(
  world: World,
  settings: Partial<DeploySettings> = {},
  patch: Partial<StrategyContext> = {},
): StrategyContext {
  let applied = '';
  const engine = {
    apply: (_project: ComposeProject, options?: { labels?: Record<string, string> }) => {
      applied = options?.labels?.[LABEL.stackVersion] ?? '';
      world.calls.push(`apply ${applied}`);
      return Promise.resolve({ plan: [] });
    },
    stop: () => (world.calls.push('stop'), Promise.resolve()),
    start: () => (world.calls.push('start'), Promise.resolve()),
    down: () => (world.calls.push('down'), Promise.resolve()),
    waitHealthy: () => {
      world.calls.push(`wait ${applied}`);
      return Promise.resolve(report(world.health[applied] ?? true));
    },
  } as unknown as ContainerEngine;
  const store = {
    journal: (_id: number, step: string) => void world.journal.push(step),
    appendLog: () => undefined,
    recordHealth: () => undefined,
    markBad: (input: Omit<BadVersion, 'at'>) => void world.bad.push({ ...input, at: 'now' }),
  } as unknown as StateStore;
  const folders = {
    runningDir: (stack: string) => `/data/running_stacks/${stack}`,
    goodDir: (stack: string) => `/data/good_stacks/${stack}`,
    putRunning: (_stack: string, _from: string, ref: VersionRef) => {
      world.running = ref;
      return Promise.resolve();
    },
    snapshotGood: () => {
      world.good = world.running;
      return Promise.resolve();
    },
    restoreGood: () => {
      world.running = world.good;
      return Promise.resolve();
    },
    clearRunning: () => {
      world.running = undefined;
      return Promise.resolve();
    },
    readGoodVersion: () => Promise.resolve(world.good),
    readRunningVersion: () => Promise.resolve(world.running),
  } as unknown as StackFolders;
  const hooks: HookRunner = {
    run: (request): Promise<HookResult> => {
      world.hookRequests.push(request);
      const ok = world.hookResults[request.phase] ?? true;
      return Promise.resolve({
        ok,
        exitCode: ok ? 0 : 1,
        timedOut: false,
        output: '',
        durationMs: 1,
      });
    },
  };
  return {
    target: {
      stack: 'web',
      projectName: 'web',
      version: 'new',
      commit: 'c-new',
      dir: '/repo/stacks/web',
      settings: {
        deploy: true,
        method: 'simple',
        healthTimeoutMs: 1000,
        stabilityMs: 100,
        markBad: true,
        redeployGood: true,
        hooks: { timeoutMs: 1000 },
        origin: 'defaults',
        ...settings,
      },
    },
    deploymentId: 1,
    previous: OLD,
    hadContainers: true,
    previousHealthy: true,
    engine,
    store,
    folders,
    hooks,
    clock: systemClock,
    logger: silentLogger(),
    loadProject: (dir, name) => {
      world.calls.push(`load ${dir}`);
      return Promise.resolve({ name, workingDir: dir } as ComposeProject);
    },
    ...patch,
  };
}

function world(patch: Partial<World> = {}): World {
  return {
    calls: [],
    journal: [],
    bad: [],
    health: {},
    hookResults: {},
    hookRequests: [],
    running: OLD,
    ...patch,
  };
}

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

  it('does not keep an unhealthy old version as good', async () => {
    const w = world({ good: GOOD });
    await simple.run(context(w, {}, { previousHealthy: false }));
    expect(w.journal).not.toContain('snapshot-good');
    expect(w.good).toEqual(GOOD);
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
      context(w, {}, { previous: undefined, hadContainers: false, previousHealthy: false }),
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
    const apply = ctx.engine.apply.bind(ctx.engine);
    ctx.engine.apply = (project, options) =>
      options?.labels?.[LABEL.stackVersion] === 'new'
        ? Promise.reject(new Error('port is already allocated'))
        : apply(project, options);
    const result = await simple.run(ctx);
    expect(result).toMatchObject({ result: 'rolled-back', reason: 'RolledBack', markedBad: true });
    expect(result.message).toMatch(/port is already allocated/);
  });
});

describe('blind strategy', () => {
  it('applies without waiting for health', async () => {
    const w = world({ health: { new: false } });
    const result = await getStrategy('blind').run(context(w, { method: 'blind' }));
    expect(result).toMatchObject({ result: 'succeeded', health: 'unknown' });
    expect(w.calls.some((c) => c.startsWith('wait'))).toBe(false);
  });
});

describe('registry', () => {
  it('offers every method and refuses unknown ones', () => {
    expect([...strategies.keys()].sort()).toEqual(['blind', 'blue-green', 'canary', 'simple']);
    expect(getStrategy('canary').method).toBe('canary');
    expect(() => getStrategy('rolling')).toThrow(/not available/);
  });
});
