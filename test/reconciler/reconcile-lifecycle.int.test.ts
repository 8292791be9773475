import { rm } from 'node:fs/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { Harness, composeFile, exists } from '../helpers/harness.js';

describe('reconciler: stacks leaving the repository, down, rollback targets', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.cleanup();
    h = undefined;
  });

  it('keeps a removed stack running unless prune is on, then archives it', async () => {
    h = await Harness.create();
    const [stays, leaves] = [h.name('stays'), h.name('leaves')];
    await h.writeStack(stays, composeFile({ web: {} }));
    await h.writeStack(leaves, composeFile({ web: {} }));
    h.commit('two stacks');
    let control = await h.open();
    expect((await control.reconcile({})).ok).toBe(true);
    const before = await h.containers(leaves);

    await h.removeStackFolder(leaves);
    h.commit('remove one');
    const kept = await control.reconcile({});
    expect(kept.plan.find((p) => p.subject === leaves)).toMatchObject({
      action: 'skip',
      reason: 'folder left the repository; kept running (prune: false)',
    });
    expect(kept.stacks.find((s) => s.stack === leaves)?.result).toBe('kept');
    expect(await h.containers(leaves)).toEqual(before);

    control = await h.open({ prune: true });
    const pruned = await control.reconcile({});
    expect(pruned.plan.find((p) => p.subject === leaves)).toMatchObject({
      action: 'remove',
      reason: 'folder left the repository; prune',
    });
    expect(pruned.stacks.find((s) => s.stack === leaves)).toMatchObject({ result: 'removed' });
    expect(pruned.stacks.find((s) => s.stack === stays)).toMatchObject({ result: 'unchanged' });
    expect(await h.containers(leaves)).toEqual([]);
    expect(await exists(h.folders.runningDir(leaves))).toBe(false);
    expect(h.store.getStack(leaves)?.running).toBeUndefined();

    const after = await control.reconcile({});
    expect(after.plan.map((p) => p.subject)).toEqual([stays]);
  });

  it('brings a stack down and leaves it down on the next pass', async () => {
    h = await Harness.create();
    const stack = h.name('down');
    await h.writeStack(stack, composeFile({ web: {} }));
    h.commit('v1');
    const control = await h.open();
    await control.reconcile({});
    expect((await h.containers(stack)).length).toBe(1);

    await control.down(stack, { by: 'cli' });
    expect(await h.containers(stack)).toEqual([]);
    expect(h.store.getStack(stack)?.suspended).toBe(true);
    expect(h.store.listDeployments(stack)[0]).toMatchObject({ method: 'down', state: 'DONE' });
    const pass = await control.reconcile({});
    expect(pass.stacks[0]).toMatchObject({ stack, result: 'suspended' });
    expect(await h.containers(stack)).toEqual([]);
  });

  it('rolls back to a named version and says when its files are gone', async () => {
    h = await Harness.create();
    const stack = h.name('to');
    await h.writeStack(stack, composeFile({ web: {} }));
    const c1 = h.commit('v1');
    const control = await h.open();
    await expect(control.rollback(stack, { by: 'rollback' })).rejects.toThrow(/no good version/);
    await control.reconcile({});
    const v1 = h.store.getStack(stack)!.running!;
    await h.writeStack(stack, composeFile({ web: { marker: 'v2' } }));
    h.commit('v2');
    await control.reconcile({});

    const back = await control.rollback(stack, { by: 'rollback' }, c1.slice(0, 8));
    expect(back).toMatchObject({ result: 'deployed', version: v1.version });
    expect((await h.containers(stack)).every((c) => c.version === v1.version)).toBe(true);

    // good_stacks now holds v2; once v1's copy is gone too, berth says so.
    await rm(h.folders.goodDir(stack), { recursive: true, force: true });
    await control.down(stack, { by: 'cli' });
    await rm(h.folders.runningDir(stack), { recursive: true, force: true });
    await expect(
      control.rollback(stack, { by: 'rollback' }, v1.version.slice(0, 10)),
    ).rejects.toThrow(/files of version .* are not available/);
  });
});
