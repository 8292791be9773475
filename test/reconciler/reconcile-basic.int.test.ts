import { afterEach, describe, expect, it } from 'vitest';
import { testDocker } from '../helpers/docker.js';
import { Harness, composeFile, exists } from '../helpers/harness.js';

describe('reconciler: deploys, redeploys only what changed, repairs drift', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.cleanup();
    h = undefined;
  });

  it('deploys three stacks, then redeploys only the changed one', async () => {
    h = await Harness.create();
    const [a, b, c] = [h.name('a'), h.name('b'), h.name('c')];
    await h.writeStack(a, composeFile({ web: {} }));
    await h.writeStack(b, composeFile({ web: {}, worker: {} }));
    await h.writeStack(c, composeFile({ web: {} }));
    const first = h.commit('three stacks');
    const control = await h.open();

    const pass1 = await control.reconcile({});
    expect(pass1.ok).toBe(true);
    expect(pass1.revision?.commit).toBe(first);
    expect(pass1.stacks.map((s) => [s.stack, s.result]).sort()).toEqual(
      [a, b, c].map((s) => [s, 'deployed']).sort(),
    );
    for (const stack of [a, b, c]) {
      const containers = await h.containers(stack);
      expect(containers.length).toBeGreaterThan(0);
      expect(containers.every((x) => x.state === 'running')).toBe(true);
      const record = h.store.getStack(stack);
      expect(record?.state).toBe('AVAILABLE');
      expect(record?.running?.commit).toBe(first);
      expect(record?.lastAppliedVersion).toBe(record?.running?.version);
      expect(containers.every((x) => x.version === record?.running?.version)).toBe(true);
      expect(await h.folders.readRunningVersion(stack)).toEqual(record?.running);
      expect(h.store.healthHistory(stack)[0]?.health).toBe('healthy');
      const [deployment] = h.store.listDeployments(stack);
      expect(deployment).toMatchObject({
        state: 'DONE',
        result: 'succeeded',
        trigger: 'reconcile',
      });
      const steps = h.store.getJournal(deployment!.id).map((j) => j.step);
      expect(steps).toEqual(['remove-old', 'put-running', 'load', 'apply', 'wait-healthy']);
    }
    // The containers point at running_stacks, not at the checkout.
    const inspected = await testDocker()
      .getContainer((await h.containers(a))[0]!.id)
      .inspect();
    expect(inspected.Config.Labels['com.docker.compose.project.working_dir']).toBe(
      h.folders.runningDir(a),
    );

    const before = {
      a: await h.containers(a),
      b: await h.containers(b),
      c: await h.containers(c),
    };
    const noop = await control.reconcile({});
    expect(noop.stacks.every((s) => s.result === 'unchanged')).toBe(true);

    await h.writeStack(b, composeFile({ web: { marker: 'v2' }, worker: {} }));
    const second = h.commit('change b');
    const pass2 = await control.reconcile({});
    expect(pass2.ok).toBe(true);
    const results = Object.fromEntries(pass2.stacks.map((s) => [s.stack, s.result]));
    expect(results).toEqual({ [a]: 'unchanged', [b]: 'deployed', [c]: 'unchanged' });
    expect(pass2.plan.find((p) => p.subject === b)?.reason).toMatch(/^version changed /);
    expect(await h.containers(a)).toEqual(before.a);
    expect(await h.containers(c)).toEqual(before.c);
    const afterB = await h.containers(b);
    expect(afterB.map((x) => x.id)).not.toEqual(before.b.map((x) => x.id));
    expect(h.store.getStack(b)?.running?.commit).toBe(second);
    // b was healthy before, so its previous version became the good one.
    const goodB = await h.folders.readGoodVersion(b);
    expect(goodB?.version).toBe(before.b[0]?.version);
    expect(h.store.getStack(b)?.good?.version).toBe(goodB?.version);
    const [latest] = h.store.listDeployments(b);
    expect(h.store.getJournal(latest!.id).map((j) => j.step)).toEqual([
      'stop',
      'snapshot-good',
      'remove-old',
      'put-running',
      'load',
      'apply',
      'wait-healthy',
    ]);
  });

  it('redeploys a stack whose container was removed out of band', async () => {
    h = await Harness.create();
    const stack = h.name('drift');
    await h.writeStack(stack, composeFile({ web: {}, db: {} }));
    h.commit('drift stack');
    const control = await h.open();
    expect((await control.reconcile({})).ok).toBe(true);
    const before = await h.containers(stack);
    const web = before.find((x) => x.service === 'web')!;
    await testDocker().getContainer(web.id).remove({ force: true });

    const pass = await control.reconcile({});
    expect(pass.plan[0]?.action).toBe('recreate');
    expect(pass.plan[0]?.reason).toBe(
      'containers drifted from recorded version (service web: missing)',
    );
    expect(pass.stacks[0]?.result).toBe('deployed');
    const after = await h.containers(stack);
    expect(after.map((x) => x.service)).toEqual(['db', 'web']);
    expect(after.every((x) => x.state === 'running')).toBe(true);
  });

  it('changes nothing on a dry run', async () => {
    h = await Harness.create();
    const stack = h.name('dry');
    await h.writeStack(stack, composeFile({ web: {} }));
    h.commit('dry stack');
    const control = await h.open();
    const calls = h.engine.callCount();

    const pass = await control.reconcile({ dryRun: true });
    expect(pass.plan).toMatchObject([{ subject: stack, action: 'create', reason: 'new stack' }]);
    expect(pass.stacks).toMatchObject([{ stack, result: 'planned' }]);
    expect(await h.containers(stack)).toEqual([]);
    // One listing for the whole pass, nothing else.
    expect(h.engine.callCount() - calls).toBe(1);
    expect(await exists(h.folders.runningDir(stack))).toBe(false);
    expect(await exists(h.folders.goodDir(stack))).toBe(false);
    expect(h.store.listStacks()).toEqual([]);
    expect(h.store.listDeployments(stack)).toEqual([]);
    expect(h.store.healthHistory(stack)).toEqual([]);

    const unknown = await control.reconcile({ dryRun: true, stacks: ['no-such-stack'] });
    expect(unknown.ok).toBe(false);
    expect(unknown.stacks).toMatchObject([
      { stack: 'no-such-stack', result: 'failed', outcome: 'terminal' },
    ]);
  });
});
