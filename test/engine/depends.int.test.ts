import { describe, expect, it } from 'vitest';
import { createDockerEngine } from '../../src/engine/docker-engine.js';
import { LABEL } from '../../src/engine/types.js';
import type { ApplyProgress } from '../../src/engine/types.js';
import { EngineError } from '../../src/errors.js';
import { silentLogger } from '../../src/log.js';
import { testDocker } from '../helpers/docker.js';
import { testScope } from '../helpers/scope.js';
import { project, service, webService } from './fixtures.js';

const docker = testDocker();
const { newProject } = testScope();

function startedAt(info: { State: { StartedAt: string } }): number {
  return Date.parse(info.State.StartedAt);
}

describe('depends_on', () => {
  it('waits for service_healthy before starting the dependent, following events', async () => {
    const name = newProject('healthy');
    const e = createDockerEngine({ logger: silentLogger() });
    const steps: ApplyProgress[] = [];
    const p = project(name, [
      webService('db', {
        command: ['sh', '-c', 'sleep 1; exec httpd -f -p 8080 -h /var/www'],
      }),
      service('app', {
        dependsOn: { db: { condition: 'service_healthy', required: true, restart: false } },
      }),
    ]);
    await e.apply(p, { onProgress: (x) => steps.push(x) });
    const db = await docker.getContainer(`${name}-db-1`).inspect();
    const app = await docker.getContainer(`${name}-app-1`).inspect();
    expect(db.State.Health?.Status).toBe('healthy');
    expect(app.Config.Labels[LABEL.dependsOn]).toBe('db:service_healthy:false');
    // The dependent started only after the dependency had been up for its 1 s delay.
    expect(startedAt(app) - startedAt(db)).toBeGreaterThanOrEqual(900);
    expect(steps.some((x) => x.step === 'wait' && x.subject === 'app')).toBe(true);
  });

  it('fails clearly when a healthy-dependency turns unhealthy', async () => {
    const name = newProject('unhealthydep');
    const e = createDockerEngine({ logger: silentLogger() });
    const p = project(name, [
      service('db', {
        healthcheck: {
          disable: false,
          test: ['CMD', 'false'],
          intervalMs: 200,
          retries: 1,
          timeoutMs: 1000,
        },
      }),
      service('app', {
        dependsOn: { db: { condition: 'service_healthy', required: true, restart: false } },
      }),
    ]);
    const err = await e.apply(p).catch((x: unknown) => x);
    expect(err).toBeInstanceOf(EngineError);
    expect((err as EngineError).reason).toBe('DependencyFailed');
    expect((err as EngineError).place).toMatchObject({ stack: name, service: 'app' });
    // Created up front as Compose v2 does, but never started.
    const app = await docker.getContainer(`${name}-app-1`).inspect();
    expect(app.State.Status).toBe('created');
  });

  it('a failed dependency stops the other waits instead of letting them run to their timeout', async () => {
    const name = newProject('halt');
    const e = createDockerEngine({ logger: silentLogger() });
    const never = {
      disable: false as const,
      test: ['CMD', 'false'],
      intervalMs: 200,
      retries: 1,
      timeoutMs: 1000,
    };
    const p = project(name, [
      service('bad', { healthcheck: never }),
      service('slow', { healthcheck: { ...never, startPeriodMs: 120_000 } }),
      service('a', {
        dependsOn: { bad: { condition: 'service_healthy', required: true, restart: false } },
      }),
      service('b', {
        dependsOn: { slow: { condition: 'service_healthy', required: true, restart: false } },
      }),
    ]);
    const started = Date.now();
    const err = await e.apply(p, { dependencyTimeoutMs: 60_000 }).catch((x: unknown) => x);
    expect((err as EngineError).reason).toBe('DependencyFailed');
    expect((err as EngineError).message).toContain('bad');
    expect(Date.now() - started).toBeLessThan(30_000);
  });

  it('service_completed_successfully waits for a one-shot to exit 0, and fails on exit 1', async () => {
    const name = newProject('oneshot');
    const e = createDockerEngine({ logger: silentLogger() });
    const migrate = service('migrate', { command: ['sh', '-c', 'sleep 0.5; echo done > /tmp/x'] });
    const app = service('app', {
      dependsOn: {
        migrate: { condition: 'service_completed_successfully', required: true, restart: false },
      },
    });
    await e.apply(project(name, [migrate, app]));
    const m = await docker.getContainer(`${name}-migrate-1`).inspect();
    const a = await docker.getContainer(`${name}-app-1`).inspect();
    expect(m.State.Status).toBe('exited');
    expect(m.State.ExitCode).toBe(0);
    expect(Date.parse(a.State.StartedAt)).toBeGreaterThanOrEqual(Date.parse(m.State.FinishedAt));

    // The exited one-shot is up to date: a re-apply needs no wait and starts nothing.
    const again = await e.apply(project(name, [migrate, app]));
    expect(again.plan.find((x) => x.subject === `${name}-migrate-1`)?.action).toBe('unchanged');

    const failing = newProject('oneshotfail');
    const err = await e
      .apply(
        project(failing, [
          service('migrate', { command: ['sh', '-c', 'exit 1'] }),
          service('app', {
            dependsOn: {
              migrate: {
                condition: 'service_completed_successfully',
                required: true,
                restart: false,
              },
            },
          }),
        ]),
      )
      .catch((x: unknown) => x);
    expect((err as EngineError).reason).toBe('DependencyFailed');
    expect((err as EngineError).message).toContain('exited with code 1');
  });

  it('skips a missing dependency with required: false and refuses one that is required', async () => {
    const name = newProject('optional');
    const e = createDockerEngine({ logger: silentLogger() });
    await e.apply(
      project(name, [
        service('app', {
          dependsOn: { cache: { condition: 'service_healthy', required: false, restart: false } },
        }),
      ]),
    );
    expect((await docker.getContainer(`${name}-app-1`).inspect()).State.Running).toBe(true);
    const err = await e
      .apply(
        project(name, [
          service('app', {
            dependsOn: { cache: { condition: 'service_started', required: true, restart: false } },
          }),
        ]),
      )
      .catch((x: unknown) => x);
    expect((err as EngineError).reason).toBe('DependencyMissing');
  });

  it('restart: true restarts the dependent when its dependency is recreated', async () => {
    const name = newProject('restart');
    const e = createDockerEngine({ logger: silentLogger() });
    const dependent = (restart: boolean) =>
      service('app', {
        dependsOn: { db: { condition: 'service_started', required: true, restart } },
      });
    const other = service('other', {
      dependsOn: { db: { condition: 'service_started', required: true, restart: false } },
    });
    await e.apply(project(name, [service('db'), dependent(true), other]));
    const appBefore = await docker.getContainer(`${name}-app-1`).inspect();
    const otherBefore = await docker.getContainer(`${name}-other-1`).inspect();
    const result = await e.apply(
      project(name, [service('db', { environment: { V: '2' } }), dependent(true), other]),
    );
    expect(result.plan.find((x) => x.subject === `${name}-app-1`)).toMatchObject({
      action: 'unchanged',
      reason: 'restarted: dependency db recreated',
    });
    const appAfter = await docker.getContainer(`${name}-app-1`).inspect();
    const otherAfter = await docker.getContainer(`${name}-other-1`).inspect();
    expect(appAfter.Id).toBe(appBefore.Id);
    expect(appAfter.State.StartedAt).not.toBe(appBefore.State.StartedAt);
    expect(otherAfter.State.StartedAt).toBe(otherBefore.State.StartedAt);
  });
});
