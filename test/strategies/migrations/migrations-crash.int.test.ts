import { afterAll, describe, expect, it } from 'vitest';
import { FIXTURE_IMAGE, execIn, testDocker } from '../../helpers/docker.js';
import { cli, collect, worlds } from '../../reconciler/crash-world.js';

/**
 * berth's CLI is SIGKILLed while a migration job's container runs (the second of two jobs),
 * then run again: recovery, then a pass that deploys the version again. The first job, which
 * had succeeded, is not run again; the second one is, and the version ends up running.
 */

function stackFile(marker: string): string {
  return [
    'services:',
    '  app:',
    `    image: ${FIXTURE_IMAGE}`,
    `    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]`,
    '    stop_grace_period: 1s',
    `    environment: { MARKER: "${marker}" }`,
    '    volumes: ["data:/data"]',
    '    healthcheck:',
    '      test: ["CMD", "true"]',
    '      interval: 500ms',
    'volumes:',
    '  data: {}',
    '',
  ].join('\n');
}

const JOBS = [
  'migrations:',
  '  - name: one',
  '    service: app',
  '    command: ["sh", "-c", "echo one ran >> /data/one.log; echo one done"]',
  '  - name: two',
  '    service: app',
  // Slow the first time only, so the kill lands while it runs and the retry can pass.
  '    command: ["sh", "-c", "if [ -f /data/two.started ]; then echo two again; else touch /data/two.started; echo two slow; sleep 600; fi"]',
  '',
].join('\n');

async function runningJob(stack: string, job: string): Promise<boolean> {
  const listed = await testDocker().listContainers({
    filters: { label: [`com.docker.compose.project=${stack}`, `dev.berth.job=${job}`] },
  });
  return listed.some((c) => c.State === 'running');
}

async function jobContainers(stack: string): Promise<string[]> {
  const listed = await testDocker().listContainers({
    all: true,
    filters: { label: [`com.docker.compose.project=${stack}`, 'dev.berth.job'] },
  });
  return listed.map((c) => c.Names[0] ?? c.Id);
}

describe('crash recovery: SIGKILL while a migration job runs', () => {
  const { inWorld, cleanupAll } = worlds({ stabilityPeriod: '500ms' });
  afterAll(cleanupAll);

  it('recovers, and the retry skips the job that had succeeded', () =>
    inWorld(async (world) => {
      const { harness } = world;
      const stack = harness.name('migcrash');
      await harness.writeStack(stack, stackFile('v1'));
      harness.commit('v1');
      const setup = await (await harness.open()).reconcile({ stacks: [stack] });
      await harness.close();
      expect(setup.stacks[0]?.result, setup.stacks[0]?.message).toBe('deployed');

      await harness.writeStack(stack, stackFile('v2'), { 'deploy.yaml': JOBS });
      harness.commit('v2');
      const child = cli(world, stack);
      const done = collect(child);
      const deadline = Date.now() + 120_000;
      while (!(await runningJob(stack, 'two'))) {
        if (Date.now() > deadline) throw new Error('job two never ran');
        await new Promise((r) => setTimeout(r, 100));
      }
      process.kill(-child.pid!, 'SIGKILL');
      expect((await done).signal).toBe('SIGKILL');

      const killed = harness.store.listDeployments(stack)[0]!;
      expect(killed.state).toBe('RUNNING');
      const v2 = killed.version;
      expect(harness.store.getJournal(killed.id).at(-1)?.step).toBe('migrate:two');
      expect(harness.store.migrationRun(stack, v2, 'one')).toMatchObject({ exitCode: 0 });
      expect(harness.store.migrationRun(stack, v2, 'two')).toBeUndefined();

      // The restart: recovery, then a normal pass that deploys v2 again.
      const rerun = await collect(cli(world, stack));
      const output = `${rerun.stdout}\n${rerun.stderr}`;
      expect(rerun.code, output).toBe(0);
      const deployments = harness.store.listDeployments(stack);
      expect(deployments.find((d) => d.id === killed.id)?.result).toBe('interrupted');
      expect(harness.store.getStack(stack)?.running?.version, output).toBe(v2);
      const retry = deployments.find((d) => d.id > killed.id && d.version === v2)!;
      expect(retry.result).toBe('succeeded');
      const journal = harness.store.getJournal(retry.id);
      expect(journal.find((j) => j.step === 'migrate:one')?.detail).toContain('not run again');
      expect(harness.store.getLog(retry.id)).toContain('two again');
      expect(harness.store.migrationRun(stack, v2, 'two')?.output).toContain('two again');

      // One run of `one` in all; no job container left behind.
      const [app] = await testDocker().listContainers({
        filters: {
          label: [`com.docker.compose.project=${stack}`, 'com.docker.compose.service=app'],
        },
      });
      const log = await execIn(testDocker().getContainer(app!.Id), ['cat', '/data/one.log']);
      expect(log.trim().split('\n')).toEqual(['one ran']);
      expect(await jobContainers(stack)).toEqual([]);
    }));
});
