import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ComposeProject } from '../../../src/compose/types.js';
import type { ContainerEngine, JobRequest, JobResult } from '../../../src/engine/types.js';
import { BerthError } from '../../../src/errors.js';
import { silentLogger } from '../../../src/log.js';
import { openStateStore } from '../../../src/state/store.js';
import type { StateStore } from '../../../src/state/types.js';
import { runMigrations } from '../../../src/strategies/shared/migrations.js';
import type { StrategyContext } from '../../../src/strategies/types.js';
import type { DeploySettings, MigrationJob } from '../../../src/stack/types.js';

const PROJECT = {
  name: 'shop',
  services: { app: {}, db: {} },
  volumes: {},
} as unknown as ComposeProject;

const JOBS: MigrationJob[] = [
  { name: 'schema', service: 'app', timeoutMs: 1000 },
  { name: 'seed', service: 'app', command: ['seed'], timeoutMs: 1000 },
];

describe('runMigrations', () => {
  let store: StateStore;
  let runs: JobRequest[];
  let answers: Record<string, Partial<JobResult>>;

  beforeEach(() => {
    store = openStateStore(':memory:');
    runs = [];
    answers = {};
  });
  afterEach(() => store.close());

  function context(version = 'v2'): StrategyContext {
    const deployment = store.startDeployment({
      stack: 'shop',
      version,
      commit: 'c',
      method: 'simple',
      trigger: 'test',
    });
    const engine = {
      runJob: (_project: ComposeProject, request: JobRequest): Promise<JobResult> => {
        runs.push(request);
        return Promise.resolve({
          exitCode: 0,
          output: `ran ${request.name}\n`,
          durationMs: 5,
          timedOut: false,
          ...answers[request.name],
        });
      },
    } as unknown as ContainerEngine;
    return {
      target: {
        stack: 'shop',
        projectName: 'shop',
        version,
        commit: 'c',
        dir: '/nowhere',
        settings: { migrations: JOBS } as DeploySettings,
      },
      deploymentId: deployment.id,
      hadContainers: true,
      previousHealthy: true,
      snapshotPrevious: false,
      engine,
      store,
      logger: silentLogger(),
    } as unknown as StrategyContext;
  }

  it('runs the jobs in order, journals and logs each, and records the successes', async () => {
    const ctx = context();
    await runMigrations(ctx, PROJECT);
    expect(runs.map((r) => [r.name, r.service, r.command])).toEqual([
      ['schema', 'app', undefined],
      ['seed', 'app', ['seed']],
    ]);
    expect(runs[0]!.labels).toMatchObject({ 'dev.berth.stack-version': 'v2' });
    expect(store.getJournal(ctx.deploymentId).map((j) => j.step)).toEqual([
      'migrate:schema',
      'migrate:seed',
    ]);
    const log = store.getLog(ctx.deploymentId);
    expect(log).toContain('migration schema (app) exited 0 in 5ms; output:\nran schema');
    expect(store.migrationRun('shop', 'v2', 'seed')).toMatchObject({
      exitCode: 0,
      output: 'ran seed\n',
      durationMs: 5,
    });
  });

  it('does not run again a job that succeeded for the same version', async () => {
    answers.seed = { exitCode: 3, output: 'boom\n' };
    await expect(runMigrations(context(), PROJECT)).rejects.toMatchObject({
      reason: 'MigrationFailed',
    });
    expect(runs.map((r) => r.name)).toEqual(['schema', 'seed']);

    // The retry: schema is skipped (journaled as such), seed runs again and now passes.
    answers = {};
    runs = [];
    const retry = context();
    await runMigrations(retry, PROJECT);
    expect(runs.map((r) => r.name)).toEqual(['seed']);
    const journal = store.getJournal(retry.deploymentId);
    expect(journal[0]).toMatchObject({ step: 'migrate:schema' });
    expect(journal[0]!.detail).toContain('not run again');

    // Another version runs every job.
    runs = [];
    await runMigrations(context('v3'), PROJECT);
    expect(runs.map((r) => r.name)).toEqual(['schema', 'seed']);
  });

  it('stops at a failing job with its output in the log and in the error', async () => {
    answers.schema = { exitCode: 2, output: 'ALTER TABLE failed\n' };
    const ctx = context();
    const err = await runMigrations(ctx, PROJECT).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(BerthError);
    expect((err as BerthError).reason).toBe('MigrationFailed');
    expect((err as BerthError).message).toContain('ALTER TABLE failed');
    expect(runs).toHaveLength(1);
    expect(store.getLog(ctx.deploymentId)).toContain('exited 2');
    expect(store.migrationRun('shop', 'v2', 'schema')).toBeUndefined();
  });

  it('reports a job killed at its timeout as MigrationTimedOut', async () => {
    answers.schema = { exitCode: 137, timedOut: true };
    const ctx = context();
    await expect(runMigrations(ctx, PROJECT)).rejects.toMatchObject({
      reason: 'MigrationTimedOut',
    });
    expect(store.getLog(ctx.deploymentId)).toContain('killed after its timeout of 1000ms');
  });

  it('refuses a job naming a service the stack does not have', async () => {
    const ctx = context();
    ctx.target.settings.migrations = [{ name: 'x', service: 'ghost', timeoutMs: 1 }];
    await expect(runMigrations(ctx, PROJECT)).rejects.toMatchObject({
      reason: 'SettingsInvalid',
    });
    expect(runs).toEqual([]);
  });
});
