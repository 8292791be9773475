import path from 'node:path';
import type Docker from 'dockerode';
import { afterEach, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/clock.js';
import { createDockerEngine } from '../../src/engine/docker-engine.js';
import type { SelfProbe } from '../../src/engine/self.js';
import { LABEL } from '../../src/engine/types.js';
import { createHookRunner } from '../../src/hooks/runner.js';
import { silentLogger } from '../../src/log.js';
import { stackLoaderFor } from '../../src/main.js';
import { resolvePolicy } from '../../src/policy/index.js';
import { createReconciler } from '../../src/reconciler/reconciler.js';
import type { ReconcilerDeps, StackOutcome } from '../../src/reconciler/types.js';
import { execIn, FIXTURE_IMAGE, testDocker, uniqueName } from '../helpers/docker.js';
import { Harness, composeFile } from '../helpers/harness.js';

const docker = testDocker();

/** busybox standing in for berth's own container; its mountinfo is what berth would read. */
async function startBerthContainer(
  labels: Record<string, string> = {},
): Promise<{ container: Docker.Container; probe: SelfProbe }> {
  const container = await docker.createContainer({
    name: uniqueName('self'),
    Image: FIXTURE_IMAGE,
    Cmd: ['sleep', '300'],
    Labels: labels,
  });
  await container.start();
  const text = await execIn(container, ['cat', '/proc/1/mountinfo']);
  return {
    container,
    probe: { mountinfo: () => Promise.resolve(text), hostname: () => 'not-a-container-id' },
  };
}

/**
 * The open app's reconciler deps, but with an engine that finds itself in `probe`'s container
 * (the composition root cannot be told to), and `adopts` as given.
 */
function depsInContainer(h: Harness, probe: SelfProbe, adopts = false): ReconcilerDeps {
  const app = h.app!;
  const config = app.config;
  return {
    sources: app.sources,
    engine: createDockerEngine({ logger: silentLogger(), dataDir: h.dataDir, selfProbe: probe }),
    store: app.store,
    folders: app.folders,
    hooks: createHookRunner({ logger: silentLogger(), env: [] }),
    clock: systemClock,
    logger: silentLogger(),
    stagingDir: path.join(h.dataDir, 'staging'),
    loadStack: stackLoaderFor(config),
    policy: resolvePolicy(config.policy, config.dataDir),
    adopts: () => adopts,
    settings: { prune: false },
  };
}

/** One pass for one stack through the reconciler's own steps: plan, prepare, run. */
async function reconcileOne(deps: ReconcilerDeps, stack: string): Promise<StackOutcome> {
  const reconciler = createReconciler(deps);
  const trigger = { by: 'test' };
  const planned = await reconciler.plan({ stacks: [stack], trigger });
  const entry = planned.plan.find((e) => e.stack === stack);
  if (entry === undefined) throw new Error(`no plan entry for ${stack}`);
  const prepared = await reconciler.prepare({
    stack,
    trigger,
    work: { kind: 'apply', entry, pass: planned },
  });
  try {
    return await reconciler.run(prepared);
  } finally {
    await prepared.release();
  }
}

const BIND = ['    volumes:', '      - ./index.html:/www/index.html:ro'].join('\n');

describe('berth in a container', () => {
  let h: Harness | undefined;
  const started: Docker.Container[] = [];
  afterEach(async () => {
    for (const c of started.splice(0)) await c.remove({ force: true }).catch(() => undefined);
    await h?.cleanup();
    h = undefined;
  });

  it('refuses a stack whose files are on no mount before its running version is touched', async () => {
    h = await Harness.create();
    const stack = h.name('hidden');
    await h.writeStack(stack, composeFile({ web: { extra: BIND } }), { 'index.html': 'v1\n' });
    h.commit('v1');
    const control = await h.open();
    const first = await control.reconcile({});
    expect(first.stacks.map((s) => s.result)).toEqual(['deployed']);
    const before = await h.containers(stack);
    const record = h.store.getStack(stack)!;

    await h.writeStack(stack, composeFile({ web: { extra: BIND } }), { 'index.html': 'v2\n' });
    h.commit('v2');
    const { container, probe } = await startBerthContainer();
    started.push(container);
    const outcome = await reconcileOne(depsInContainer(h, probe), stack);

    expect(outcome).toMatchObject({ outcome: 'terminal', result: 'failed' });
    expect(outcome.error?.reason).toBe('PathNotOnMount');
    const file = path.join(h.folders.runningDir(stack), 'index.html');
    expect(outcome.message).toBe(
      `bind mount source ${file} (service web of stack ${stack}) is inside berth's container on ` +
        `no mount, so the Docker host cannot see it; put berth's data dir (${h.dataDir}, ` +
        `BERTH_DATA_DIR) on a volume or a host folder mounted into berth's container`,
    );
    // Nothing ran: same containers, running; running_stacks and the record still say v1.
    expect(await h.containers(stack)).toEqual(before);
    expect(before.every((c) => c.state === 'running')).toBe(true);
    expect(await h.folders.readRunningVersion(stack)).toEqual(record.running);
    const after = h.store.getStack(stack)!;
    expect(after.running).toEqual(record.running);
    expect(after.conditions.find((c) => c.type === 'Stalled')).toMatchObject({
      status: 'True',
      reason: 'PathNotOnMount',
    });
    const [deployment] = h.store.listDeployments(stack);
    expect(deployment).toMatchObject({ state: 'FAILED', result: 'failed' });
    expect(h.store.getJournal(deployment!.id)).toEqual([]);
  });

  it('refuses to deploy the Compose project berth runs in, even when it may adopt it', async () => {
    h = await Harness.create();
    const stack = h.name('berth');
    await h.writeStack(stack, composeFile({ web: {} }));
    h.commit('berth itself');
    await h.open();
    const { container, probe } = await startBerthContainer({ [LABEL.project]: stack });
    started.push(container);

    const outcome = await reconcileOne(depsInContainer(h, probe, true), stack);
    expect(outcome).toMatchObject({ outcome: 'terminal', result: 'failed' });
    expect(outcome.error?.reason).toBe('SelfDeployRefused');
    expect(outcome.message).toBe(
      `stack ${stack} is the Compose project berth itself runs in; berth does not redeploy ` +
        `itself (it would stop its own container mid-deploy). Update berth from its own folder: ` +
        `docker compose pull && docker compose up -d`,
    );
    // berth's container runs on, alone in its project.
    const inProject = await h.named(stack);
    expect(inProject.map((c) => [c.id, c.state])).toEqual([[container.id, 'running']]);
    expect(h.store.getStack(stack)?.conditions.find((c) => c.type === 'Stalled')).toMatchObject({
      status: 'True',
      reason: 'SelfDeployRefused',
    });
  });

  it('deploys other stacks as usual', async () => {
    h = await Harness.create();
    const stack = h.name('other');
    await h.writeStack(stack, composeFile({ web: {} }));
    h.commit('other');
    await h.open();
    const { container, probe } = await startBerthContainer({ [LABEL.project]: 'berth' });
    started.push(container);
    const outcome = await reconcileOne(depsInContainer(h, probe), stack);
    expect(outcome).toMatchObject({ outcome: 'done', result: 'deployed' });
  });
});
