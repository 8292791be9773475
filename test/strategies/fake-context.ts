/**
 * In-memory stand-ins for a strategy's context that only record calls, for the step order and
 * decisions of the strategies. What Docker does with those calls is covered by the
 * integration tests against a real engine.
 */
import { systemClock } from '../../src/clock.js';
import type { ComposeProject } from '../../src/compose/types.js';
import { LABEL, type ContainerEngine, type HealthReport } from '../../src/engine/types.js';
import type { HookRequest, HookResult, HookRunner } from '../../src/hooks/types.js';
import { silentLogger } from '../../src/log.js';
import type { StrategyContext } from '../../src/strategies/types.js';
import type { DeploySettings } from '../../src/stack/types.js';
import type { BadVersion, StackFolders, StateStore, VersionRef } from '../../src/state/types.js';

export const OLD: VersionRef = { version: 'old', commit: 'c-old' };
export const GOOD: VersionRef = { version: 'good', commit: 'c-good' };

export interface World {
  calls: string[];
  journal: string[];
  bad: BadVersion[];
  health: Record<string, boolean>;
  hookResults: Partial<Record<'pre-deploy' | 'post-deploy', boolean>>;
  hookRequests: HookRequest[];
  running?: VersionRef;
  good?: VersionRef;
}

export function report(healthy: boolean): HealthReport {
  return {
    healthy,
    outcome: healthy ? 'healthy' : 'unhealthy',
    services: [],
    detail: healthy ? 'web healthy' : 'web unhealthy',
    elapsedMs: 1,
  };
}

export function context(
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
        compose: {},
        updates: { images: false },
        origin: 'defaults',
        ...settings,
      },
    },
    deploymentId: 1,
    previous: OLD,
    hadContainers: true,
    previousHealthy: true,
    snapshotPrevious: true,
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

export function world(patch: Partial<World> = {}): World {
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

/** Makes applying `version` throw `error`; other versions apply as before. */
export function failApply(ctx: StrategyContext, version: string, error: Error): void {
  const apply = ctx.engine.apply.bind(ctx.engine);
  ctx.engine.apply = (project, options) =>
    options?.labels?.[LABEL.stackVersion] === version
      ? Promise.reject(error)
      : apply(project, options);
}
