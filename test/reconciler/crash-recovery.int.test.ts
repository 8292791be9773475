import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseVersionFile } from '../../src/state/folders.js';
import { testDocker } from '../helpers/docker.js';
import { cli, collect, createLimit, killAt, worlds, type World } from './crash-world.js';
import { composeFile } from '../helpers/harness.js';

/**
 * Seed 000, proven the hard way: berth's CLI is SIGKILLed right after journaling each step of
 * the simple strategy (the BERTH_FAILPOINT test hook holds it there), then run again. After
 * the restart and its pass the stack must be healthy on the right version, carry no orphan
 * containers, keep an intact good_stacks copy, and record the killed deployment as interrupted.
 */

const SERVICES = ['web', 'worker'];

type Scenario =
  /** v1 runs healthy; v2 is healthy; pre- and post-deploy hooks succeed. */
  | 'healthy'
  /** v1 runs healthy; v2 never turns healthy, so it is marked bad and v1 comes back. */
  | 'unhealthy'
  /** v1 runs healthy; v2's pre-deploy hook fails, so the stopped v1 is started again. */
  | 'hook-fails'
  /** The stack's first deployment (no good version yet) of a healthy version. */
  | 'first'
  /** The stack's first deployment of a version that never turns healthy. */
  | 'first-unhealthy';

interface Case {
  scenario: Scenario;
  step: string;
  /** Which version the stack runs after the restart and its pass; undefined: none. */
  ends: 'v1' | 'v2' | undefined;
  /** The version marked bad in the end, if any. */
  bad?: 'v1' | 'v2';
  /** What good_stacks holds in the end. */
  good: 'v1' | undefined;
  /** Kill the first restart too, in the middle of its recovery, at this recovery step. */
  thenAt?: string;
}

const CASES: Case[] = [
  ...[
    'stop',
    'pre-deploy-hook',
    'snapshot-good',
    'remove-old',
    'put-running',
    'load',
    'apply',
    'wait-healthy',
    'post-deploy-hook',
  ].map((step): Case => ({ scenario: 'healthy', step, ends: 'v2', good: 'v1' })),
  ...[
    'wait-healthy',
    'mark-bad',
    'remove-new',
    'restore-good',
    'load-good',
    'apply-good',
    'wait-healthy-good',
    'post-deploy-hook',
  ].map((step): Case => ({ scenario: 'unhealthy', step, ends: 'v1', bad: 'v2', good: 'v1' })),
  { scenario: 'healthy', step: 'apply', thenAt: 'recover-restore-good', ends: 'v2', good: 'v1' },
  { scenario: 'healthy', step: 'apply', thenAt: 'recover-wait-healthy', ends: 'v2', good: 'v1' },
  { scenario: 'hook-fails', step: 'restart-previous', ends: 'v1', good: undefined },
  { scenario: 'first', step: 'apply', ends: 'v1', good: undefined },
  {
    scenario: 'first-unhealthy',
    step: 'clear-running',
    ends: undefined,
    bad: 'v1',
    good: undefined,
  },
];

function titleOf(c: Case): string {
  const again = c.thenAt === undefined ? '' : `, then at ${c.thenAt}`;
  return `${c.scenario}: killed at ${c.step}${again}; ends on ${c.ends ?? 'nothing'}`;
}

const HOOK_OK = '#!/bin/sh\nexit 0\n';
const HOOK_FAIL = '#!/bin/sh\necho refusing >&2\nexit 1\n';
// A long health timeout costs nothing: an unhealthy version fails as soon as Docker says so.
const DEPLOY_YAML =
  'healthTimeout: 20s\nstabilityPeriod: 300ms\nhooks:\n  preDeploy: pre.sh\n  postDeploy: post.sh\n';

function compose(marker: string, healthy: boolean): string {
  const health = healthy ? 'true' : 'false';
  return composeFile(Object.fromEntries(SERVICES.map((name) => [name, { marker, health }])));
}

/** The files of one version of a test stack. */
function stackFiles(
  marker: string,
  options: { healthy: boolean; preHook?: string },
): Record<string, string> {
  return {
    'compose.yaml': compose(marker, options.healthy),
    'deploy.yaml': DEPLOY_YAML,
    'pre.sh': options.preHook ?? HOOK_OK,
    'post.sh': HOOK_OK,
  };
}

/**
 * Docker's health status once it settles: a stack whose last step restarted stopped
 * containers (restart-previous) is up but has not run its first check yet.
 */
async function healthOf(id: string): Promise<string | undefined> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const info = await testDocker().getContainer(id).inspect();
    const status = info.State.Health?.Status;
    if (status !== 'starting' || Date.now() > deadline) return status;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Cases run a few at a time: most of a case is waiting on Docker health checks. */
const PARALLEL_CASES = 2;

describe('crash recovery: SIGKILL at every step of the simple strategy', () => {
  const { inWorld, cleanupAll } = worlds({ stabilityPeriod: '300ms' });
  const limit = createLimit(PARALLEL_CASES);

  afterAll(cleanupAll);

  async function expectStackState(
    { harness }: World,
    stack: string,
    c: Case,
    versions: { v1: string; v2?: string },
    v1Files: Record<string, string>,
    output: string,
  ): Promise<void> {
    const expected = c.ends === undefined ? undefined : versions[c.ends];

    // Healthy on the right version, no orphans: exactly one running, healthy container per
    // service, each labelled with the running version.
    const containers = await harness.containers(stack);
    if (expected === undefined) {
      expect(containers, output).toEqual([]);
    } else {
      expect(
        containers.map((x) => x.service),
        output,
      ).toEqual(SERVICES);
      for (const container of containers) {
        expect(container.version).toBe(expected);
        expect(container.state).toBe('running');
        expect(await healthOf(container.id)).toBe('healthy');
      }
    }
    const record = harness.store.getStack(stack);
    expect(record?.running?.version).toBe(expected);
    const running = await harness.folders.readRunningVersion(stack);
    expect(running?.version).toBe(expected);

    // good_stacks intact: a good version with every file of it.
    const goodDir = harness.folders.goodDir(stack);
    if (c.good === undefined) {
      expect(await harness.folders.readGoodVersion(stack)).toBeUndefined();
    } else {
      const version = parseVersionFile(await readFile(path.join(goodDir, 'version.txt'), 'utf8'));
      expect(version?.version).toBe(versions[c.good]);
      expect((await readdir(goodDir)).sort()).toEqual(
        [...Object.keys(v1Files), 'version.txt'].sort(),
      );
      for (const [name, content] of Object.entries(v1Files)) {
        expect(await readFile(path.join(goodDir, name), 'utf8')).toBe(content);
      }
    }

    // Bad marks: only a version that really failed its health gate.
    for (const key of ['v1', 'v2'] as const) {
      const version = versions[key];
      if (version === undefined) continue;
      expect(harness.store.isBad(stack, version) !== undefined, `${key} bad`).toBe(c.bad === key);
    }
  }

  it.concurrent.each(CASES.map((c) => ({ ...c, title: titleOf(c) })))(
    '$title',
    (c) =>
      limit(() =>
        inWorld(async (world) => {
          const { harness } = world;
          const stack = harness.name('crash');
          const first = c.scenario === 'first' || c.scenario === 'first-unhealthy';
          const v1Files = stackFiles('v1', { healthy: c.scenario !== 'first-unhealthy' });
          await harness.writeStack(stack, v1Files['compose.yaml'] ?? '', v1Files);
          harness.commit(`${stack} v1`);

          let v1: string;
          let v2: string | undefined;
          let killedVersion: string;
          if (first) {
            await killAt(world, stack, c.step);
            const killed = harness.store.listDeployments(stack)[0];
            expect(killed?.state).toBe('RUNNING');
            v1 = killed?.version ?? '';
            killedVersion = v1;
          } else {
            // In-process, as a CLI would: the data dir is released before the killed CLI takes it.
            const setup = await (await harness.open()).reconcile({ stacks: [stack] });
            await harness.close();
            expect(setup.stacks[0]?.result, setup.stacks[0]?.message).toBe('deployed');
            v1 = harness.store.getStack(stack)?.running?.version ?? '';
            const v2Files = stackFiles('v2', {
              healthy: c.scenario !== 'unhealthy',
              preHook: c.scenario === 'hook-fails' ? HOOK_FAIL : HOOK_OK,
            });
            await harness.writeStack(stack, v2Files['compose.yaml'] ?? '', v2Files);
            harness.commit(`${stack} v2`);
            await killAt(world, stack, c.step);
            const killed = harness.store.listDeployments(stack)[0];
            expect(killed?.state).toBe('RUNNING');
            v2 = killed?.version;
            killedVersion = v2 ?? '';
            expect(v2).not.toBe(v1);
          }
          const killedId = harness.store.listDeployments(stack)[0]?.id;
          const journal = harness.store.getJournal(killedId ?? -1);
          expect(journal.at(-1)?.step).toBe(c.step);
          if (c.thenAt !== undefined) {
            await killAt(world, stack, c.thenAt);
            expect(harness.store.getJournal(killedId ?? -1).at(-1)?.step).toBe(c.thenAt);
          }

          const rerun = await collect(cli(world, stack));
          expect(rerun.signal).toBeNull();
          // 1 when the pass retried a failing v2 (rolled back, or its hook failed), else 0.
          expect([0, 1], rerun.stderr).toContain(rerun.code);

          const deployments = harness.store.listDeployments(stack);
          expect(harness.store.unfinishedDeployments().filter((d) => d.stack === stack)).toEqual(
            [],
          );
          const interrupted = deployments.filter((d) => d.result === 'interrupted');
          expect(interrupted.map((d) => d.id)).toEqual([killedId]);
          expect(interrupted[0]?.state).toBe('FAILED');
          expect(interrupted[0]?.version).toBe(killedVersion);
          expect(interrupted[0]?.message).toContain(`at step ${c.step}`);
          const recovery = harness.store.getJournal(killedId ?? -1).map((entry) => entry.step);
          expect(recovery.slice(0, journal.length)).toEqual(journal.map((entry) => entry.step));

          await expectStackState(world, stack, c, { v1, v2 }, v1Files, rerun.stdout);
        }),
      ),
    // Time spent waiting for a free slot counts too.
    CASES.length * 60_000,
  );
});
