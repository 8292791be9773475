import { describe, expect, it } from 'vitest';
import { createDockerEngine } from '../../src/engine/docker-engine.js';
import { LABEL } from '../../src/engine/types.js';
import { silentLogger } from '../../src/log.js';
import { testDocker } from '../helpers/docker.js';
import { testScope } from '../helpers/scope.js';
import { project, service } from './fixtures.js';

const docker = testDocker();
const { newProject } = testScope();
const started = { condition: 'service_started' as const, required: true, restart: false };

/**
 * The services of the project in the order their stop began (each one's first kill event, the
 * stop signal) between `since` and now.
 */
async function stopsInOrder(name: string, since: number): Promise<string[]> {
  const stream = await docker.getEvents({
    since,
    until: Math.ceil(Date.now() / 1000) + 1,
    filters: { type: ['container'], event: ['kill'], label: [`${LABEL.project}=${name}`] },
  });
  let text = '';
  for await (const chunk of stream as AsyncIterable<Buffer>) text += chunk.toString();
  const services = text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => {
      const event = JSON.parse(line) as { Actor: { Attributes: Record<string, string> } };
      return event.Actor.Attributes[LABEL.service] ?? '';
    });
  return [...new Set(services)];
}

describe('stop and down follow the dependencies backwards', () => {
  it('stops a service before what it depends on, like Compose', async () => {
    const name = newProject('downorder');
    const e = createDockerEngine({ logger: silentLogger() });
    await e.apply(
      project(name, [
        service('db'),
        service('api', { dependsOn: { db: started } }),
        service('web', { dependsOn: { api: started } }),
      ]),
    );
    const since = Math.floor(Date.now() / 1000);
    await e.stop(name);
    expect(await stopsInOrder(name, since)).toEqual(['web', 'api', 'db']);

    await e.start(name);
    const again = Math.floor(Date.now() / 1000);
    await e.down(name);
    expect(await stopsInOrder(name, again)).toEqual(['web', 'api', 'db']);
    expect(
      await docker.listContainers({ all: true, filters: { label: [`${LABEL.project}=${name}`] } }),
    ).toEqual([]);
  });
});
