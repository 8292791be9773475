import { afterEach, describe, expect, it } from 'vitest';
import { createDockerEngine } from '../../src/engine/docker-engine.js';
import { silentLogger } from '../../src/log.js';
import { removeProject, testDocker, uniqueName } from '../helpers/docker.js';
import { project, service } from './fixtures.js';

const docker = testDocker();
const created: string[] = [];

afterEach(async () => {
  for (const name of created.splice(0)) await removeProject(name, docker).catch(() => undefined);
});

describe('secret and config files', () => {
  it('copies content secrets and configs into the container before it starts', async () => {
    const name = uniqueName('files');
    created.push(name);
    const check = [
      'test "$(cat /run/secrets/token)" = s3cret || exit 3',
      'test "$(cat /etc/app/conf)" = "a=1" || exit 4',
      'test "$(stat -c %a /run/secrets/token)" = 400 || exit 5',
    ].join(' && ');
    const p = project(
      name,
      [
        service('app', {
          command: ['sh', '-c', check],
          restart: { name: 'no' },
          secrets: [{ source: 'token', target: '/run/secrets/token', mode: 0o400 }],
          configs: [{ source: 'conf', target: '/etc/app/conf' }],
        }),
      ],
      {
        secrets: { token: { key: 'token', source: 'content', content: 's3cret' } },
        configs: { conf: { key: 'conf', source: 'content', content: 'a=1' } },
      },
    );
    await createDockerEngine({ logger: silentLogger() }).apply(p);
    const container = docker.getContainer(`${name}-app-1`);
    const exit = (await container.wait()) as { StatusCode: number };
    expect(exit.StatusCode).toBe(0);
  });
});
