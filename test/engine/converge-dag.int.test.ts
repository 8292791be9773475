import type Docker from 'dockerode';
import { describe, expect, it } from 'vitest';
import type { DependsOnConfig } from '../../src/compose/types.js';
import { createDockerEngine } from '../../src/engine/docker-engine.js';
import { silentLogger } from '../../src/log.js';
import { testDocker } from '../helpers/docker.js';
import { testScope } from '../helpers/scope.js';
import { project, service, webService } from './fixtures.js';

const docker = testDocker();
const { newProject } = testScope();

const healthy: DependsOnConfig = { condition: 'service_healthy', required: true, restart: false };

function ms(stamp: string): number {
  return Date.parse(stamp);
}

async function inspect(stack: string, name: string): Promise<Docker.ContainerInspectInfo> {
  return docker.getContainer(`${stack}-${name}-1`).inspect();
}

describe('cold apply on an uneven dependency graph', () => {
  it('starts each service when its own dependencies hold, with every container created first', async () => {
    const name = newProject('dag');
    const e = createDockerEngine({ logger: silentLogger() });
    /*
     * slow (healthy after 6 s) <- api ------------\
     * fast <- mid <- web  <------------------------ top
     * By levels, web (level 2) would wait for api (level 1), which waits for slow.
     */
    const p = project(name, [
      webService('slow', { command: ['sh', '-c', 'sleep 6; exec httpd -f -p 8080 -h /var/www'] }),
      webService('api', { dependsOn: { slow: healthy } }),
      webService('fast'),
      webService('mid', { dependsOn: { fast: healthy } }),
      webService('web', { dependsOn: { mid: healthy } }),
      service('top', { dependsOn: { api: healthy, web: healthy } }),
    ]);
    await e.apply(p);
    const [slow, api, web, top] = await Promise.all([
      inspect(name, 'slow'),
      inspect(name, 'api'),
      inspect(name, 'web'),
      inspect(name, 'top'),
    ]);
    // The fast branch reached its top while the slow one was still waiting for its database.
    expect(ms(web.State.StartedAt)).toBeLessThan(ms(api.State.StartedAt) - 500);
    // Containers were created ahead, not when their dependencies became ready. (The margins
    // are wide because a loaded machine starts a container in seconds; slow takes 6 s.)
    expect(ms(top.Created)).toBeLessThan(ms(api.State.StartedAt) - 1000);
    expect(ms(api.Created)).toBeLessThan(ms(slow.State.StartedAt) + 3000);
    // Each dependent started right after its dependency turned healthy, not a level later.
    expect(ms(top.State.StartedAt)).toBeGreaterThan(ms(api.State.StartedAt));
    expect(ms(top.State.StartedAt) - ms(api.State.StartedAt)).toBeLessThan(3000);
  });
});
