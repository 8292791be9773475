import Docker from 'dockerode';
import { describe, expect, it } from 'vitest';
import { createDockerEngine } from '../../src/engine/docker-engine.js';
import { engineError } from '../../src/engine/docker-errors.js';
import { EngineError } from '../../src/errors.js';
import { silentLogger } from '../../src/log.js';
import { project, service } from './fixtures.js';

describe('engine errors', () => {
  it('reports an unreachable daemon as a transient DockerUnavailable', async () => {
    const docker = new Docker({ socketPath: '/nonexistent/berth-docker.sock' });
    const engine = createDockerEngine({ logger: silentLogger(), docker });
    const err = await engine.apply(project('p', [service('a')])).catch((x: unknown) => x);
    expect(err).toBeInstanceOf(EngineError);
    expect((err as EngineError).reason).toBe('DockerUnavailable');
    expect((err as EngineError).transient).toBe(true);
    const observed = await engine.observe('p').catch((x: unknown) => x);
    expect((observed as EngineError).reason).toBe('DockerUnavailable');
    expect(engine.callCount()).toBeGreaterThan(0);
  });

  it('keeps the daemon message, the place and the cause', () => {
    const cause = Object.assign(new Error('(HTTP code 409) conflict'), {
      statusCode: 409,
      json: { message: 'name already in use' },
    });
    const err = engineError('ContainerCreateFailed', 'cannot create container p-a-1', cause, {
      stack: 'p',
      service: 'a',
    });
    expect(err.message).toBe('cannot create container p-a-1: name already in use');
    expect(err.place).toEqual({ stack: 'p', service: 'a' });
    expect(err.cause).toBe(cause);
    expect(err.transient).toBe(false);
    expect(
      engineError('InspectFailed', 'm', Object.assign(new Error('x'), { statusCode: 500 }))
        .transient,
    ).toBe(true);
  });
});
