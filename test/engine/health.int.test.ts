import { afterEach, describe, expect, it } from 'vitest';
import type { ComposeProject } from '../../src/compose/types.js';
import { createDockerEngine } from '../../src/engine/docker-engine.js';
import { silentLogger } from '../../src/log.js';
import { removeProject, testDocker, uniqueName } from '../helpers/docker.js';
import { project, service, webService } from './fixtures.js';

const docker = testDocker();
const created: string[] = [];
const engine = createDockerEngine({ logger: silentLogger() });

afterEach(async () => {
  for (const name of created.splice(0)) await removeProject(name, docker).catch(() => undefined);
});

function newProject(prefix: string, services: Parameters<typeof project>[1]): ComposeProject {
  const name = uniqueName(prefix);
  created.push(name);
  return project(name, services);
}

describe('waitHealthy', () => {
  it('reports healthy once healthchecks pass', async () => {
    const p = newProject('whealthy', [webService('web', { replicas: 2 })]);
    await engine.apply(p);
    const report = await engine.waitHealthy(p, { timeoutMs: 20_000, stabilityMs: 500 });
    expect(report.outcome).toBe('healthy');
    expect(report.healthy).toBe(true);
    expect(report.services[0]).toMatchObject({ service: 'web', status: 'healthy' });
    expect(report.services[0]!.containers).toHaveLength(2);
    expect(report.services[0]!.detail).toContain('healthy');
  });

  it('returns early with unhealthy when a healthcheck fails', async () => {
    const p = newProject('wunhealthy', [
      webService('ok'),
      service('bad', {
        healthcheck: {
          disable: false,
          test: ['CMD', 'false'],
          intervalMs: 200,
          retries: 1,
          timeoutMs: 1000,
        },
      }),
    ]);
    await engine.apply(p);
    const report = await engine.waitHealthy(p, { timeoutMs: 30_000, stabilityMs: 500 });
    expect(report.outcome).toBe('unhealthy');
    expect(report.elapsedMs).toBeLessThan(15_000);
    expect(report.services.find((s) => s.service === 'bad')?.status).toBe('unhealthy');
    expect(report.detail).toContain('bad');
  });

  it('times out when a healthcheck stays starting', async () => {
    const p = newProject('wtimeout', [
      service('slow', {
        healthcheck: {
          disable: false,
          test: ['CMD', 'false'],
          intervalMs: 200,
          retries: 1,
          timeoutMs: 1000,
          startPeriodMs: 60_000,
        },
      }),
    ]);
    await engine.apply(p);
    const report = await engine.waitHealthy(p, { timeoutMs: 1500, stabilityMs: 500 });
    expect(report.outcome).toBe('timeout');
    expect(report.healthy).toBe(false);
    expect(report.services[0]!.status).toBe('starting');
    expect(report.elapsedMs).toBeGreaterThanOrEqual(1500);
  });

  it('counts a container without healthcheck healthy after the stability period', async () => {
    const p = newProject('wstable', [service('plain')]);
    await engine.apply(p);
    const report = await engine.waitHealthy(p, { timeoutMs: 10_000, stabilityMs: 1500 });
    expect(report.outcome).toBe('healthy');
    expect(report.elapsedMs).toBeGreaterThanOrEqual(1000);
    expect(report.services[0]!.detail).toContain('without restart');
  });

  it('accepts a one-shot that exited 0 and rejects exit 1', async () => {
    const p = newProject('woneshot', [
      service('job', { command: ['sh', '-c', 'sleep 0.3'], restart: { name: 'no' } }),
      service('crash', { command: ['sh', '-c', 'sleep 0.3; exit 1'], restart: { name: 'no' } }),
    ]);
    await engine.apply(p);
    const done = await engine.waitHealthy(p, {
      services: ['job'],
      timeoutMs: 10_000,
      stabilityMs: 30_000,
    });
    expect(done.outcome).toBe('healthy');
    expect(done.services[0]!.status).toBe('completed');
    const crashed = await engine.waitHealthy(p, {
      services: ['crash'],
      timeoutMs: 10_000,
      stabilityMs: 30_000,
    });
    expect(crashed.outcome).toBe('unhealthy');
    expect(crashed.services[0]!.detail).toContain('exited with code 1');
  });

  it('detects a restart loop', async () => {
    const p = newProject('wloop', [
      service('loop', { command: ['sh', '-c', 'sleep 0.5; exit 0'], restart: { name: 'always' } }),
    ]);
    await engine.apply(p);
    const report = await engine.waitHealthy(p, { timeoutMs: 15_000, stabilityMs: 5000 });
    expect(report.outcome).toBe('unhealthy');
    expect(report.services[0]!.detail).toContain('restart loop');
  });
});
