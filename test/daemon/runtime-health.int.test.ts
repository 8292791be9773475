import { afterEach, describe, expect, it } from 'vitest';
import { createDaemon, type Daemon } from '../../src/daemon/daemon.js';
import { silentLogger } from '../../src/log.js';
import { waitFor } from '../helpers/daemon-process.js';
import { testDocker } from '../helpers/docker.js';
import { Harness, composeFile } from '../helpers/harness.js';

/** A service healthy while /tmp/ok exists; its command creates the file at every start. */
function fileHealth(): string {
  return composeFile({ app: { health: 'test -f /tmp/ok', first: 'touch /tmp/ok' } });
}

async function exec(containerId: string, cmd: string[]): Promise<void> {
  const run = await testDocker().getContainer(containerId).exec({ Cmd: cmd });
  const stream = await run.start({});
  await new Promise((resolve) => {
    stream.on('end', resolve);
    stream.resume();
  });
}

describe('runtime health (in-process daemon, real Docker and git)', () => {
  let h: Harness | undefined;
  let daemon: Daemon | undefined;

  afterEach(async () => {
    await daemon?.stop();
    daemon = undefined;
    await h?.cleanup();
    h = undefined;
  });

  it('(f) a container that turns unhealthy after its deploy is recorded and repaired within budget', async () => {
    h = await Harness.create();
    const stack = h.name('rthealth');
    await h.writeStack(stack, fileHealth());
    h.commit('v1');
    daemon = createDaemon({
      config: { ...h.config(), schedule: '0 0 1 1 *' },
      logger: silentLogger(),
      shutdownGraceMs: 20_000,
    });
    await daemon.start();
    await daemon.idle();
    const control = daemon.control;
    expect(control.getStack(stack)).toMatchObject({ state: 'AVAILABLE', health: 'healthy' });
    const [container] = await h.containers(stack);

    await exec(container!.id, ['rm', '-f', '/tmp/ok']);

    // Recorded as it happened, then repaired by restarting the container (not a redeploy).
    const repaired = await waitFor(
      () => control.health(stack, 20).find((r) => r.detail.startsWith('repaired:')),
      90_000,
      'the repair',
    );
    expect(repaired.detail).toContain(`container ${stack}-app-1 unhealthy`);
    const history = control.health(stack, 20).map((r) => `${r.health} ${r.detail}`);
    expect(history).toContainEqual(`unhealthy container ${stack}-app-1 turned unhealthy`);
    expect(history.some((line) => /^unhealthy drift: .* repair 1\/5 within 300s$/.test(line))).toBe(
      true,
    );
    const [repair] = control.deployments(stack, 1);
    expect(repair).toMatchObject({
      method: 'repair',
      trigger: 'heal',
      state: 'DONE',
      result: 'succeeded',
    });
    const after = await h.containers(stack);
    expect(after.map((c) => [c.id, c.state])).toEqual([[container!.id, 'running']]);
    await waitFor(() => control.getStack(stack)?.health === 'healthy', 30_000, 'healthy again');
  });
});
