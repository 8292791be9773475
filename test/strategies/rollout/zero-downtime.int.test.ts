import type Docker from 'dockerode';
import { afterEach, describe, expect, it } from 'vitest';
import { FIXTURE_IMAGE, demuxFrames, testDocker } from '../../helpers/docker.js';
import { Harness } from '../../helpers/harness.js';

/**
 * The claim, as a test: under continuous requests through Docker's DNS, blue-green and
 * canary lose none, with a good version and with a broken one. (bench:zero-downtime measures
 * the same, with gaps and durations, beside simple.)
 */

function web(version: string, broken: boolean): string {
  const script = `trap 'exit 0' TERM; mkdir -p /www; echo $$V > /www/index.html; sleep 1; httpd -f -p 80 -h /www & wait`;
  const test = broken ? 'false' : 'timeout 2 wget -q -O /dev/null http://127.0.0.1/ || exit 1';
  return [
    'services:',
    '  web:',
    `    image: ${FIXTURE_IMAGE}`,
    `    command: ["sh", "-c", ${JSON.stringify(script)}]`,
    `    environment: { V: "${version}" }`,
    '    stop_grace_period: 2s',
    '    deploy: { replicas: 2 }',
    '    healthcheck:',
    `      test: ["CMD-SHELL", ${JSON.stringify(test)}]`,
    '      interval: 500ms',
    '      timeout: 3s',
    '      retries: 2',
    '      start_period: 3s',
    '',
  ].join('\n');
}

async function startClient(network: string): Promise<Docker.Container> {
  const loop =
    'while true; do if timeout 5 wget -q -O /dev/null http://web/; then echo ok; else echo fail; fi; done';
  const container = await testDocker().createContainer({
    Image: FIXTURE_IMAGE,
    Cmd: ['sh', '-c', loop],
    HostConfig: { NetworkMode: network },
  });
  await container.start();
  return container;
}

/** The client's answers so far, one word per request. */
async function answers(client: Docker.Container): Promise<string[]> {
  const raw = await client.logs({ stdout: true, stderr: false, follow: false });
  return demuxFrames(raw)
    .split('\n')
    .filter((l) => l !== '');
}

describe('zero downtime under load', () => {
  let h: Harness | undefined;
  let client: Docker.Container | undefined;
  afterEach(async () => {
    await client?.remove({ force: true }).catch(() => undefined);
    client = undefined;
    await h?.cleanup();
    h = undefined;
  });

  it('blue-green and canary lose no request, with a good version or a broken one', async () => {
    h = await Harness.create();
    const stack = h.name('zd');
    const settings = (method: string): Record<string, string> => ({
      'deploy.yaml': `method: ${method}\ndrain: 1s\ncanary:\n  batch: 1\n  window: 1s\n`,
    });
    await h.writeStack(stack, web('v1', false), settings('blue-green'));
    h.commit('v1');
    const control = await h.open({ defaults: { healthTimeoutMs: 30_000, stabilityMs: 500 } });
    expect((await control.reconcile({})).ok).toBe(true);
    client = await startClient(`${stack}_default`);

    const cases: [string, string, boolean, string][] = [
      ['blue-green', 'v2', false, 'deployed'],
      ['blue-green', 'v3', true, 'rolled-back'],
      ['canary', 'v4', false, 'deployed'],
      ['canary', 'v5', true, 'rolled-back'],
    ];
    for (const [method, version, broken, result] of cases) {
      // Some answers before the deploy, so the client is known to work.
      const before = (await answers(client)).length;
      await new Promise((r) => setTimeout(r, 1000));
      expect((await answers(client)).length).toBeGreaterThan(before);
      const mark = (await answers(client)).length;
      await h.writeStack(stack, web(version, broken), settings(method));
      h.commit(version);
      const pass = await control.reconcile({});
      expect(pass.stacks[0], `${method} ${version}`).toMatchObject({ result });
      await new Promise((r) => setTimeout(r, 1000));
      const during = (await answers(client)).slice(mark);
      expect(during.length, `${method} ${version}: requests sent`).toBeGreaterThan(20);
      expect(
        during.filter((a) => a !== 'ok'),
        `${method} ${version}: failed requests`,
      ).toEqual([]);
    }
  });
});
