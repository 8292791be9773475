import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { pingDaemon, remoteOperations } from '../../src/cli/remote.js';
import type { Operations } from '../../src/control/control-plane.js';
import {
  createControlSocketApp,
  startControlSocket,
  type ControlSocket,
} from '../../src/daemon/control-socket.js';
import { BerthError, ConfigError, UsageError } from '../../src/errors.js';
import { silentLogger } from '../../src/log.js';
import type { PassResult, StackOutcome, Trigger } from '../../src/reconciler/types.js';

/** Operations that record what they were asked and answer from a script. */
function fakeOperations(): Operations & { calls: { op: string; args: unknown[] }[] } {
  const calls: { op: string; args: unknown[] }[] = [];
  const outcome = (stack: string): StackOutcome => ({
    stack,
    outcome: 'done',
    result: 'deployed',
    message: 'deployed abc, healthy',
    version: 'abc',
    deploymentId: 7,
  });
  return {
    calls,
    reconcile(options) {
      calls.push({ op: 'reconcile', args: [options.trigger, options.dryRun, options.stacks] });
      options.onProgress?.({ stack: 'web', step: 'deploy', detail: 'abc' });
      const result: PassResult = {
        revision: { commit: 'c1', ref: 'main', dir: '/repo' },
        sourceError: new BerthError('FetchFailed', 'git fetch failed: timeout', {
          place: { field: 'source.git.url' },
        }),
        sources: [
          {
            name: 'default',
            revision: { commit: 'c1', ref: 'main', dir: '/repo' },
            error: new BerthError('FetchFailed', 'git fetch failed: timeout', {
              place: { field: 'source.git.url' },
            }),
          },
        ],
        plan: [{ subject: 'web', action: 'recreate', reason: 'version changed' }],
        stacks: [
          {
            ...outcome('web'),
            result: 'failed',
            outcome: 'terminal',
            error: new BerthError('HealthCheckFailed', 'unhealthy', { place: { stack: 'web' } }),
          },
        ],
        ok: false,
      };
      return Promise.resolve(result);
    },
    rollback(stack: string, trigger: Trigger, to?: string) {
      calls.push({ op: 'rollback', args: [stack, trigger, to] });
      if (stack === 'nope')
        return Promise.reject(new UsageError('berth knows no stack named nope', { stack }));
      return Promise.resolve(outcome(stack));
    },
    down(stack: string, trigger: Trigger) {
      calls.push({ op: 'down', args: [stack, trigger] });
      return Promise.reject(
        new ConfigError('invalid configuration', ['dataDir: missing'], { file: '/etc/berth.yaml' }),
      );
    },
    suspend(stack: string, trigger: Trigger) {
      calls.push({ op: 'suspend', args: [stack, trigger] });
      return Promise.resolve({ stack, suspended: true, changed: true, by: trigger.by, at: 'now' });
    },
    resume(stack: string, trigger: Trigger) {
      calls.push({ op: 'resume', args: [stack, trigger] });
      return Promise.resolve({
        stack,
        suspended: false,
        changed: false,
        by: trigger.by,
        at: 'now',
      });
    },
    unmark(stack: string, version: string | undefined, trigger: Trigger) {
      calls.push({ op: 'unmark', args: [stack, version, trigger] });
      return Promise.resolve({ stack, ...(version === undefined ? {} : { version }), cleared: 2 });
    },
  };
}

describe('control socket app (app.request)', () => {
  it('refuses a malformed request with InvalidRequest', async () => {
    const app = createControlSocketApp(fakeOperations(), silentLogger());
    const res = await app.request('/v1/rollback', {
      method: 'POST',
      body: JSON.stringify({ stack: 'web' }),
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { reason: string } }).error.reason).toBe(
      'InvalidRequest',
    );
  });

  it('streams progress lines, then the result', async () => {
    const app = createControlSocketApp(fakeOperations(), silentLogger());
    const res = await app.request('/v1/reconcile', {
      method: 'POST',
      body: JSON.stringify({ trigger: { by: 'cli:alice' } }),
    });
    const lines = (await res.text())
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines[0]).toEqual({ progress: { stack: 'web', step: 'deploy', detail: 'abc' } });
    expect(lines[1]).toHaveProperty('result.ok', false);
    expect(lines[1]).toHaveProperty('result.stacks.0.error.reason', 'HealthCheckFailed');
  });
});

describe('control socket over a real Unix socket', () => {
  let dir: string;
  let socket: ControlSocket | undefined;

  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'berth-sock-'));
  });
  afterEach(async () => {
    await socket?.close(100);
    socket = undefined;
    await rm(dir, { recursive: true, force: true });
  });

  it('answers ping, is 0600, and carries results and errors back as they were', async () => {
    const ops = fakeOperations();
    socket = await startControlSocket(dir, createControlSocketApp(ops, silentLogger()));
    expect((await stat(socket.path)).mode & 0o777).toBe(0o600);
    expect(await pingDaemon(dir)).toBe(true);
    const remote = remoteOperations(dir);

    const progress: string[] = [];
    const pass = await remote.reconcile({
      trigger: { by: 'cli:alice' },
      dryRun: true,
      stacks: ['web'],
      onProgress: (e) => progress.push(`${e.stack}:${e.step}`),
    });
    expect(progress).toEqual(['web:deploy']);
    expect(ops.calls[0]).toEqual({ op: 'reconcile', args: [{ by: 'cli:alice' }, true, ['web']] });
    expect(pass.ok).toBe(false);
    expect(pass.sourceError).toBeInstanceOf(BerthError);
    expect(pass.sourceError).toMatchObject({
      reason: 'FetchFailed',
      place: { field: 'source.git.url' },
    });
    expect(pass.stacks[0]?.error).toMatchObject({
      reason: 'HealthCheckFailed',
      message: 'unhealthy',
    });

    expect(await remote.rollback('web', { by: 'cli:alice' }, 'abc')).toMatchObject({
      stack: 'web',
      result: 'deployed',
      deploymentId: 7,
    });
    // The error classes that decide the CLI's exit code survive the trip.
    await expect(remote.rollback('nope', { by: 'cli' })).rejects.toBeInstanceOf(UsageError);
    const config = await remote.down('web', { by: 'cli' }).catch((err: unknown) => err);
    expect(config).toBeInstanceOf(ConfigError);
    expect(config).toMatchObject({
      problems: ['dataDir: missing'],
      place: { file: '/etc/berth.yaml' },
    });

    expect(await remote.suspend('web', { by: 'cli:bob' })).toMatchObject({
      suspended: true,
      changed: true,
      by: 'cli:bob',
    });
    expect(await remote.unmark('web', 'abc', { by: 'cli' })).toEqual({
      stack: 'web',
      version: 'abc',
      cleared: 2,
    });
  });

  it('a data dir without a daemon does not answer', async () => {
    expect(await pingDaemon(dir, 500)).toBe(false);
    await expect(remoteOperations(dir).down('web', { by: 'cli' })).rejects.toMatchObject({
      reason: 'ControlUnavailable',
    });
  });
});
