import { afterEach, describe, expect, it } from 'vitest';
import type Docker from 'dockerode';
import { createDockerEngine } from '../../src/engine/docker-engine.js';
import type { EventSubscription, ManagedContainerEvent } from '../../src/engine/types.js';
import { silentLogger } from '../../src/log.js';
import { waitFor } from '../helpers/daemon-process.js';
import { FIXTURE_IMAGE, execIn, removeProject, testDocker, uniqueName } from '../helpers/docker.js';

const docker = testDocker();
const engine = createDockerEngine({ logger: silentLogger() });
const projects: string[] = [];
let subscription: EventSubscription | undefined;

afterEach(async () => {
  subscription?.close();
  subscription = undefined;
  for (const p of projects.splice(0)) await removeProject(p, docker).catch(() => undefined);
});

/** A berth-managed container of service `web` in a new project, started. */
async function managed(
  prefix: string,
  spec: Partial<Docker.ContainerCreateOptions>,
): Promise<{ project: string; container: Docker.Container }> {
  const project = uniqueName(prefix);
  projects.push(project);
  const container = await docker.createContainer({
    name: `${project}-web-1`,
    Image: FIXTURE_IMAGE,
    Labels: {
      'com.docker.compose.project': project,
      'com.docker.compose.service': 'web',
      'dev.berth.managed': 'true',
    },
    ...spec,
  });
  await container.start();
  return { project, container };
}

describe('engine.watchEvents: health transitions at run time', () => {
  it('reports a container whose healthcheck starts failing as unhealthy', async () => {
    const events: ManagedContainerEvent[] = [];
    subscription = await engine.watchEvents((e) => events.push(e));
    const { project, container } = await managed('unhealthy', {
      Cmd: ['sh', '-c', 'touch /tmp/ok; exec sleep 3600'],
      // Frequent but patient probes: a loaded machine must not fail them by being slow.
      Healthcheck: {
        Test: ['CMD', 'test', '-f', '/tmp/ok'],
        Interval: 300e6,
        Timeout: 10e9,
        Retries: 2,
      },
    });
    const ours = (health: string) => (): ManagedContainerEvent | undefined =>
      events.find(
        (e) => e.project === project && e.action === 'health_status' && e.health === health,
      );
    await waitFor(ours('healthy'), 60_000, 'a healthy event');

    await execIn(container, ['rm', '/tmp/ok']);
    const unhealthy = await waitFor(ours('unhealthy'), 60_000, 'an unhealthy event');
    expect(unhealthy).toMatchObject({
      project,
      service: 'web',
      containerId: container.id,
      containerName: `${project}-web-1`,
      action: 'health_status',
      health: 'unhealthy',
    });
  });
});

describe('engine.restartContainers', () => {
  it('restarts in place with the container’s own stop timeout and skips gone containers', async () => {
    // sleep as PID 1 ignores SIGTERM: the restart waits the stop timeout, 1 s, not Docker's 10 s.
    const { project, container } = await managed('restart', {
      Cmd: ['sleep', '3600'],
      StopTimeout: 1,
    });
    const before = await container.inspect();
    const started = Date.now();
    await engine.restartContainers(project, [container.id, 'f'.repeat(64)]);
    expect(Date.now() - started).toBeLessThan(8_000);
    const after = await container.inspect();
    expect(after.Id).toBe(before.Id);
    expect(after.State.Running).toBe(true);
    expect(after.State.StartedAt).not.toBe(before.State.StartedAt);
  });
});
