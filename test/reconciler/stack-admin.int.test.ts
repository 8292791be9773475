import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadProject } from '../../src/compose/load.js';
import { LABEL } from '../../src/engine/types.js';
import { silentLogger } from '../../src/log.js';
import { resumeStack, suspendStack } from '../../src/reconciler/admin.js';
import { diffStacks } from '../../src/reconciler/diff.js';
import { createGitSource } from '../../src/source/git/git-source.js';
import { testDocker } from '../helpers/docker.js';
import { DEFAULTS, Harness, composeFile } from '../helpers/harness.js';
import { namedSource } from '../helpers/sources.js';
import { createStackLoader } from '../../src/stack/project.js';

/** Kills a container and waits until Docker's listing says so (it can lag behind the kill). */
async function killAndWait(harness: Harness, stack: string, id: string): Promise<void> {
  await testDocker().getContainer(id).kill();
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const listed = await harness.containers(stack);
    if (listed.find((c) => c.id === id)?.state === 'exited') return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`container ${id} not listed as exited`);
}

describe('stack admin: engine.plan, diff, suspend and resume (real Docker, real git)', () => {
  let h: Harness | undefined;
  let tmp: string | undefined;
  afterEach(async () => {
    await h?.cleanup();
    h = undefined;
    if (tmp !== undefined) await rm(tmp, { recursive: true, force: true });
    tmp = undefined;
  });

  async function deployed(): Promise<{ harness: Harness; stack: string }> {
    h = await Harness.create();
    const stack = h.name('admin');
    await h.writeStack(stack, composeFile({ web: {}, worker: {} }));
    h.commit('one stack');
    const pass = await (await h.open({ defaults: { healthTimeoutMs: 60_000 } })).reconcile({});
    expect(pass.ok).toBe(true);
    return { harness: h, stack };
  }

  function source(harness: Harness): ReturnType<typeof createGitSource> {
    return createGitSource({
      url: `file://${harness.remote}`,
      branch: 'main',
      depth: 1,
      dir: path.join(harness.dataDir, 'repo'),
      logger: silentLogger(),
    });
  }

  it('engine.plan reports a changed service as recreate and touches nothing', async () => {
    const { harness, stack } = await deployed();
    const running = harness.store.getStack(stack)!.running!;
    const labels = { [LABEL.stackVersion]: running.version, [LABEL.managed]: 'true' };
    const before = await harness.containers(stack);

    const same = await loadProject(harness.folders.runningDir(stack), { projectName: stack });
    const unchanged = await harness.engine.plan(same.project, { labels });
    expect(unchanged.map((e) => [e.service, e.action])).toEqual([
      ['web', 'unchanged'],
      ['worker', 'unchanged'],
    ]);

    tmp = await mkdtemp(path.join(tmpdir(), 'berth-plan-'));
    await writeFile(
      path.join(tmp, 'compose.yaml'),
      composeFile({ web: { marker: 'v2' }, worker: {} }),
    );
    const changed = await loadProject(tmp, { projectName: stack });
    const calls = harness.engine.callCount();
    const plan = await harness.engine.plan(changed.project, { labels });
    // One listing and one image inspect: plans are cheap enough for every `berth diff`.
    expect(harness.engine.callCount() - calls).toBeLessThanOrEqual(2);
    expect(plan).toEqual([
      expect.objectContaining({
        subject: `${stack}-web-1`,
        service: 'web',
        action: 'recreate',
        reason: 'config hash changed',
      }),
      expect.objectContaining({ subject: `${stack}-worker-1`, action: 'unchanged' }),
    ]);
    expect(await harness.containers(stack)).toEqual(before);

    const [web] = before;
    await killAndWait(harness, stack, web!.id);
    await testDocker().getContainer(before[1]!.id).remove({ force: true });
    const drifted = await harness.engine.plan(same.project, { labels });
    expect(drifted).toEqual([
      expect.objectContaining({ service: 'web', action: 'unchanged', start: true }),
      expect.objectContaining({ service: 'worker', action: 'create', reason: 'missing' }),
    ]);
  });

  it('diff: in sync, then drifted containers, then a new version in the checkout', async () => {
    const { harness, stack } = await deployed();
    const checkout = source(harness);
    const deps = {
      sources: [namedSource(checkout, ['stacks/*'], DEFAULTS)],
      engine: harness.engine,
      store: harness.store,
      folders: harness.folders,
      loadStack: createStackLoader({ env: process.env }),
    };
    const [inSync] = await diffStacks(deps, [stack]);
    expect(inSync).toMatchObject({ stack, status: 'in-sync', differs: false, containers: [] });
    expect(inSync!.desiredVersion).toBe(inSync!.running?.version);

    const [web] = await harness.containers(stack);
    await killAndWait(harness, stack, web!.id);
    const [drifted] = await diffStacks(deps, [stack]);
    expect(drifted).toMatchObject({ status: 'differs', differs: true });
    expect(drifted!.containers).toEqual([
      expect.objectContaining({ subject: `${stack}-web-1`, start: true }),
    ]);
    expect(drifted!.differences).toContainEqual(expect.stringMatching(/^start .*-web-1: exited/));

    await harness.writeStack(stack, composeFile({ web: { marker: 'v2' }, worker: {} }));
    harness.commit('v2');
    await checkout.sync();
    const all = await diffStacks(deps);
    const changed = all.find((d) => d.stack === stack)!;
    expect(changed.desiredVersion).not.toBe(changed.running?.version);
    expect(changed.differences[0]).toMatch(/^version: running [0-9a-f]{12}, desired [0-9a-f]{12}$/);
  });

  it('a suspended stack keeps its manual change through a pass; resume brings it back', async () => {
    const { harness, stack } = await deployed();
    const deps = { store: harness.store, logger: silentLogger() };
    const suspended = suspendStack(deps, stack, 'cli:alice');
    expect(suspended).toMatchObject({ suspended: true, changed: true, by: 'cli:alice' });
    expect(harness.store.getStack(stack)!.conditions).toContainEqual(
      expect.objectContaining({ type: 'Ready', status: 'Unknown', reason: 'Suspended' }),
    );
    expect(suspendStack(deps, stack, 'cli:alice').changed).toBe(false);

    const [web] = await harness.containers(stack);
    await killAndWait(harness, stack, web!.id);
    const pass = await harness.control.reconcile({});
    expect(pass.stacks.find((s) => s.stack === stack)?.result).toBe('suspended');
    expect((await harness.containers(stack))[0]).toMatchObject({ id: web!.id, state: 'exited' });

    const resumed = resumeStack(deps, stack, 'cli:alice');
    expect(resumed).toMatchObject({ suspended: false, changed: true });
    expect(harness.store.getStack(stack)!.suspended).toBe(false);
    const again = await harness.control.reconcile({});
    expect(again.stacks.find((s) => s.stack === stack)?.result).toBe('deployed');
    const after = await harness.containers(stack);
    expect(after.every((c) => c.state === 'running')).toBe(true);
  });

  it('suspend and resume refuse a stack berth does not know', () => {
    return Harness.create().then(async (harness) => {
      h = harness;
      await harness.open();
      const deps = { store: harness.store, logger: silentLogger() };
      expect(() => suspendStack(deps, 'nope', 'test')).toThrow(/no stack named nope/);
      expect(() => resumeStack(deps, 'nope', 'test')).toThrow(/no stack named nope/);
    });
  });
});
