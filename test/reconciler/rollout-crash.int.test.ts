import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { testDocker } from '../helpers/docker.js';
import { cli, collect, createLimit, killAt, worlds } from './crash-world.js';
import { composeFile, exists } from '../helpers/harness.js';

/**
 * Issue #5, the hard way: berth's CLI is SIGKILLed right after journaling a step of a
 * blue-green, canary or stop-first rollout (the BERTH_FAILPOINT test hook holds it there), then
 * run again. After the restart (recovery, then a normal pass) exactly one version serves: every
 * service runs its replicas on one version, under final names, on its network alias; no
 * candidate or aside container and no `.previous` folder is left; the killed deployment is
 * recorded as interrupted. The approach is test/reconciler/crash-recovery.int.test.ts's.
 */

type Kind =
  /** web (2 replicas) changes and rolls side by side; db (1 replica) does not change. */
  | 'blue-green'
  /** web (3 replicas) changes and rolls one container at a time with a 1s window. */
  | 'canary'
  /** solo has a fixed container_name, so it rolls stop-first; web (1 replica) does not change. */
  | 'stop-first';

interface Case {
  kind: Kind;
  /** Whether v2's changed service ever turns healthy. */
  healthy: boolean;
  step: string;
  /**
   * What the kill leaves (checked before the restart, so a case proves it starts half-way):
   * how many candidates (`-new-<id>`) and stop-first asides (`-prev-<id>`) exist.
   */
  midway: { candidates: number; asides: number };
}

const NONE = { candidates: 0, asides: 0 };

const CASES: Case[] = [
  // The failpoint holds berth right after journaling a step, before the step acts.
  ...(
    [
      ['put-running', NONE],
      ['load', NONE],
      ['prepare', NONE],
      ['plan', NONE],
      ['start-new', NONE],
      ['wait-new', { candidates: 2, asides: 0 }],
      ['promote', { candidates: 2, asides: 0 }],
      ['switch', { candidates: 2, asides: 0 }],
      ['rename', { candidates: 2, asides: 0 }],
      ['apply', NONE],
      ['wait-healthy', NONE],
    ] as const
  ).map(([step, midway]): Case => ({ kind: 'blue-green', healthy: true, step, midway })),
  ...['wait-new', 'mark-bad', 'roll-back'].map((step): Case => ({
    kind: 'blue-green',
    healthy: false,
    step,
    midway: { candidates: 2, asides: 0 },
  })),
  // The second batch's start-new cannot be reached: the failpoint stops at a step's first
  // occurrence. `window` is the first batch's, after it started, passed and joined the aliases.
  { kind: 'canary', healthy: true, step: 'window', midway: { candidates: 1, asides: 0 } },
  { kind: 'stop-first', healthy: true, step: 'stop-first', midway: NONE },
  { kind: 'stop-first', healthy: true, step: 'start-new', midway: { candidates: 0, asides: 1 } },
  { kind: 'stop-first', healthy: false, step: 'wait-new', midway: { candidates: 0, asides: 1 } },
];

function titleOf(c: Case): string {
  const v2 = c.healthy ? 'healthy v2' : 'unhealthy v2';
  return `${c.kind}, ${v2}: killed at ${c.step}; ends on ${c.healthy ? 'v2' : 'v1'}`;
}

/** The service each kind changes between v1 and v2. */
const CHANGED: Record<Kind, string> = { 'blue-green': 'web', canary: 'web', 'stop-first': 'solo' };

/** Replicas per service of each kind's stack. */
const REPLICAS: Record<Kind, Record<string, number>> = {
  'blue-green': { db: 1, web: 2 },
  canary: { web: 3 },
  'stop-first': { solo: 1, web: 1 },
};

interface ServiceSpec {
  marker: string;
  healthy: boolean;
  replicas: number;
  containerName?: string;
}

function compose(services: Record<string, ServiceSpec>): string {
  return composeFile(
    Object.fromEntries(
      Object.entries(services).map(([name, s]) => [
        name,
        {
          marker: s.marker,
          health: s.healthy ? 'true' : 'false',
          extra:
            s.containerName === undefined
              ? `    deploy:\n      replicas: ${s.replicas}`
              : `    container_name: ${s.containerName}`,
        },
      ]),
    ),
  );
}

/** The files of one version of a case's stack. */
function stackFiles(
  stack: string,
  kind: Kind,
  version: 'v1' | 'v2',
  healthy: boolean,
): Record<string, string> {
  const services: Record<string, ServiceSpec> = {};
  for (const [name, replicas] of Object.entries(REPLICAS[kind])) {
    const changed = name === CHANGED[kind];
    services[name] = {
      marker: changed ? version : 'v1',
      healthy: changed ? healthy : true,
      replicas,
      ...(name === 'solo' ? { containerName: `${stack}-solo` } : {}),
    };
  }
  const settings = [
    `method: ${kind === 'canary' ? 'canary' : 'blue-green'}`,
    'drain: 200ms',
    // A broken version fails on Docker's verdict, within a second or two; the timeout is
    // what a busy machine gets for a healthy one.
    `healthTimeout: ${healthy ? '20s' : '8s'}`,
    'stabilityPeriod: 500ms',
    ...(kind === 'canary' ? ['canary:', '  batch: 1', '  window: 1s'] : []),
  ];
  return { 'compose.yaml': compose(services), 'deploy.yaml': `${settings.join('\n')}\n` };
}

/** Docker's health status once it settles (a container just started has not run a check). */
async function healthOf(id: string): Promise<string | undefined> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const info = await testDocker().getContainer(id).inspect();
    const status = info.State.Health?.Status;
    if (status !== 'starting' || Date.now() > deadline) return status;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

interface Seen {
  id: string;
  name: string;
  service: string;
  state: string;
  version: string | undefined;
  aliases: string[];
}

/** Every container of the project, inspected: name, version label, aliases on the default network. */
async function inspectStack(stack: string): Promise<Seen[]> {
  const listed = await testDocker().listContainers({
    all: true,
    filters: { label: [`com.docker.compose.project=${stack}`] },
  });
  const seen: Seen[] = [];
  for (const c of listed) {
    const info = await testDocker().getContainer(c.Id).inspect();
    const net = info.NetworkSettings.Networks[`${stack}_default`];
    seen.push({
      id: c.Id,
      name: info.Name.replace(/^\//, ''),
      service: c.Labels['com.docker.compose.service'] ?? '',
      state: info.State.Status,
      version: c.Labels['dev.berth.stack-version'],
      aliases: (net?.Aliases as string[] | null | undefined) ?? [],
    });
  }
  return seen.sort((a, b) => a.name.localeCompare(b.name));
}

/** Cases run two at a time: most of a case is waiting on Docker health checks. */
const PARALLEL_CASES = 2;

describe('crash recovery: SIGKILL in the middle of a blue-green or canary rollout', () => {
  const { inWorld, cleanupAll } = worlds({ stabilityPeriod: '500ms' });
  const limit = createLimit(PARALLEL_CASES);

  afterAll(cleanupAll);

  it.concurrent.each(CASES.map((c) => ({ ...c, title: titleOf(c) })))(
    '$title',
    (c) =>
      limit(() =>
        inWorld(async (world) => {
          const { harness } = world;
          const stack = harness.name('rollcrash');
          const changed = CHANGED[c.kind];

          // v1 runs (deployed in-process; a first deployment goes the simple way).
          const v1Files = stackFiles(stack, c.kind, 'v1', true);
          await harness.writeStack(stack, v1Files['compose.yaml'] ?? '', v1Files);
          harness.commit(`${stack} v1`);
          // In-process, as a CLI would: the data dir is released before the killed CLI takes it.
          const setup = await (await harness.open()).reconcile({ stacks: [stack] });
          await harness.close();
          expect(setup.stacks[0]?.result, setup.stacks[0]?.message).toBe('deployed');
          const v1 = harness.store.getStack(stack)?.running?.version ?? '';
          expect(v1).not.toBe('');

          // v2 starts rolling out and berth is killed at the step.
          const v2Files = stackFiles(stack, c.kind, 'v2', c.healthy);
          await harness.writeStack(stack, v2Files['compose.yaml'] ?? '', v2Files);
          harness.commit(`${stack} v2`);
          await killAt(world, stack, c.step);
          const killed = harness.store.listDeployments(stack)[0];
          expect(killed?.state).toBe('RUNNING');
          expect(killed?.method).toBe(c.kind === 'canary' ? 'canary' : 'blue-green');
          const v2 = killed?.version ?? '';
          expect(v2).not.toBe(v1);
          const killedId = killed?.id ?? -1;
          const journal = harness.store.getJournal(killedId).map((entry) => entry.step);
          expect(journal.at(-1)).toBe(c.step);
          const before = await inspectStack(stack);
          const beforeDetail = JSON.stringify(before, null, 2);
          expect(
            before.filter((x) => x.name.endsWith(`-new-${killedId}`)),
            beforeDetail,
          ).toHaveLength(c.midway.candidates);
          const asides = before.filter((x) => x.name.endsWith(`-prev-${killedId}`));
          expect(asides, beforeDetail).toHaveLength(c.midway.asides);
          for (const x of asides) expect(x.state).toBe('exited');
          // Half-way indeed: both versions' containers exist (a stop-first service killed at
          // start-new has its old container aside and no new one yet).
          if (c.midway.candidates > 0 || (c.midway.asides > 0 && c.step !== 'start-new')) {
            expect(new Set(before.map((x) => x.version)).size, beforeDetail).toBe(2);
          }

          // The restart: recovery, then a normal pass (which may deploy v2 again).
          const rerun = await collect(cli(world, stack));
          const output = `${rerun.stdout}\n${rerun.stderr}`;
          expect(rerun.signal).toBeNull();
          // 1 when the pass retried a broken v2 and rolled it back, else 0.
          expect([0, 1], output).toContain(rerun.code);

          // The killed deployment is recorded as interrupted, and nothing else is unfinished.
          expect(harness.store.unfinishedDeployments().filter((d) => d.stack === stack)).toEqual(
            [],
          );
          const deployments = harness.store.listDeployments(stack);
          const interrupted = deployments.filter((d) => d.result === 'interrupted');
          expect(
            interrupted.map((d) => d.id),
            output,
          ).toEqual([killedId]);
          expect(interrupted[0]?.state).toBe('FAILED');
          expect(interrupted[0]?.version).toBe(v2);
          expect(interrupted[0]?.message).toContain(`at step ${c.step}`);
          const after = harness.store.getJournal(killedId).map((entry) => entry.step);
          expect(after.slice(0, journal.length)).toEqual(journal);

          // Exactly one version serves: each service runs its replicas, all on one version,
          // under their final names, each answering to the service's name.
          const expected = c.healthy ? v2 : v1;
          const seen = await inspectStack(stack);
          const detail = `${output}\n${JSON.stringify(seen, null, 2)}`;
          const replicas = REPLICAS[c.kind];
          expect([...new Set(seen.map((x) => x.service))].sort(), detail).toEqual(
            Object.keys(replicas).sort(),
          );
          for (const [service, count] of Object.entries(replicas)) {
            const mine = seen.filter((x) => x.service === service);
            expect(mine, `${service}\n${detail}`).toHaveLength(count);
            expect(
              new Set(mine.map((x) => x.version)).size,
              `${service} runs one version\n${detail}`,
            ).toBe(1);
            const names =
              service === 'solo'
                ? [`${stack}-solo`]
                : Array.from({ length: count }, (_, i) => `${stack}-${service}-${i + 1}`);
            expect(
              mine.map((x) => x.name),
              detail,
            ).toEqual(names);
            for (const x of mine) {
              expect(x.state, `${x.name}\n${detail}`).toBe('running');
              expect(x.aliases, `${x.name}'s aliases\n${detail}`).toContain(service);
              expect(await healthOf(x.id), x.name).toBe('healthy');
            }
          }
          for (const x of seen) {
            expect(x.name).not.toContain('-new-');
            expect(x.name).not.toContain('-prev-');
          }
          // The changed service serves the expected version; the others kept v1's containers.
          for (const x of seen) {
            expect(x.version, `${x.name}\n${detail}`).toBe(x.service === changed ? expected : v1);
          }
          expect(harness.store.getStack(stack)?.running?.version).toBe(expected);
          expect((await harness.folders.readRunningVersion(stack))?.version).toBe(expected);
          expect(
            await exists(path.join(harness.dataDir, 'running_stacks', `.${stack}.previous`)),
          ).toBe(false);

          // Bad marks: only a version that really failed its health gate.
          expect(harness.store.isBad(stack, v1)).toBeUndefined();
          if (c.healthy) expect(harness.store.isBad(stack, v2)).toBeUndefined();
          else expect(harness.store.isBad(stack, v2), output).toBeDefined();
        }),
      ),
    // Time spent waiting for a free slot counts too.
    CASES.length * 60_000,
  );
});
