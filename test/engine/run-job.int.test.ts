import { describe, expect, it } from 'vitest';
import { createDockerEngine } from '../../src/engine/docker-engine.js';
import { JOB_OUTPUT_LIMIT, tailOutput } from '../../src/engine/run-job.js';
import { LABEL } from '../../src/engine/types.js';
import { silentLogger } from '../../src/log.js';
import { testDocker } from '../helpers/docker.js';
import { testScope } from '../helpers/scope.js';
import { project, service } from './fixtures.js';

const docker = testDocker();
const { newProject } = testScope();

async function leftovers(name: string): Promise<number> {
  const listed = await docker.listContainers({
    all: true,
    filters: { label: [`${LABEL.project}=${name}`, LABEL.job] },
  });
  return listed.length;
}

describe('runJob', () => {
  it('runs one-offs of a service beside its container: exit code, output, timeout, cleanup', async () => {
    const name = newProject('job');
    const engine = createDockerEngine({ logger: silentLogger() });
    const port = 20_000 + Math.floor(Math.random() * 20_000);
    const app = service('app', {
      environment: { MARKER: 'm1' },
      ports: [{ target: 80, published: port, hostIp: '127.0.0.1', protocol: 'tcp' }],
      restart: { name: 'always' },
    });
    const p = project(name, [app]);
    // The service's container holds the host port: the jobs must not ask for it.
    await engine.apply(p, { labels: { [LABEL.stackVersion]: 'v1' } });
    const labels = { [LABEL.stackVersion]: 'v1', [LABEL.managed]: 'true' };

    const ok = await engine.runJob(p, {
      name: 'env',
      service: 'app',
      command: ['sh', '-c', 'echo marker=$MARKER; echo to-stderr >&2'],
      timeoutMs: 30_000,
      labels,
    });
    expect(ok).toMatchObject({ exitCode: 0, timedOut: false });
    expect(ok.output).toContain('marker=m1');
    expect(ok.output).toContain('to-stderr');

    const failed = await engine.runJob(p, {
      name: 'fail',
      service: 'app',
      command: ['sh', '-c', 'exit 5'],
      timeoutMs: 30_000,
      labels,
    });
    expect(failed).toMatchObject({ exitCode: 5, timedOut: false });

    const slow = await engine.runJob(p, {
      name: 'slow',
      service: 'app',
      command: ['sh', '-c', 'echo started; exec sleep 60'],
      timeoutMs: 1000,
      labels,
    });
    expect(slow.timedOut).toBe(true);
    expect(slow.exitCode).not.toBe(0);
    expect(slow.output).toContain('started');
    expect(slow.durationMs).toBeLessThan(15_000);

    const loud = await engine.runJob(p, {
      name: 'loud',
      service: 'app',
      command: [
        'sh',
        '-c',
        'i=0; while [ $i -lt 3000 ]; do echo line $i padded-to-make-it-longer-xxxxxxxxxxxxx; i=$((i+1)); done',
      ],
      timeoutMs: 30_000,
      labels,
    });
    expect(loud.exitCode).toBe(0);
    expect(loud.output.length).toBeLessThanOrEqual(JOB_OUTPUT_LIMIT + 100);
    expect(loud.output).toContain('line 2999 ');
    expect(loud.output).toMatch(/^\[… \d+ bytes cut\]/);

    expect(await leftovers(name)).toBe(0);
    // The service's own container is untouched, and observe never saw the jobs.
    const observed = await engine.observe(name);
    expect(observed.services.app?.containers).toHaveLength(1);
    expect(observed.services.app?.containers[0]?.state).toBe('running');
  });
});

describe('tailOutput', () => {
  it('keeps the end of a TTY log as it is', () => {
    expect(tailOutput(Buffer.from('abcdef'), true, 3)).toBe('[… 3 bytes cut]\ndef');
  });
});
