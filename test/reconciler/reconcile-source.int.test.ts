import { rename } from 'node:fs/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { Harness, composeFile } from '../helpers/harness.js';

describe('reconciler: invalid stacks, tags, unreachable remote', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.cleanup();
    h = undefined;
  });

  it('fails a malformed compose or settings file alone, naming file and field', async () => {
    h = await Harness.create();
    const [okStack, badCompose, badSettings] = [h.name('ok'), h.name('bc'), h.name('bs')];
    await h.writeStack(okStack, composeFile({ web: {} }));
    await h.writeStack(badCompose, composeFile({ web: { extra: '    ports: "not a list"' } }));
    await h.writeStack(badSettings, composeFile({ web: {} }), {
      'deploy.yaml': 'healthTimeout: soon\n',
    });
    h.commit('one good, two broken');
    const control = await h.open();
    const pass = await control.reconcile({});
    expect(pass.ok).toBe(false);
    const byStack = Object.fromEntries(pass.stacks.map((s) => [s.stack, s]));
    expect(byStack[okStack]).toMatchObject({ result: 'deployed', outcome: 'done' });
    expect(byStack[badCompose]).toMatchObject({ result: 'invalid', outcome: 'terminal' });
    expect(byStack[badCompose]?.message).toMatch(/compose\.yaml/);
    expect(byStack[badCompose]?.message).toMatch(/ports/);
    expect(byStack[badSettings]).toMatchObject({ result: 'invalid', outcome: 'terminal' });
    expect(byStack[badSettings]?.message).toMatch(/deploy\.yaml/);
    expect(byStack[badSettings]?.message).toMatch(/healthTimeout/);
    expect(await h.containers(badCompose)).toEqual([]);
    expect(await h.containers(badSettings)).toEqual([]);
    expect((await h.containers(okStack)).every((c) => c.state === 'running')).toBe(true);
    expect(h.store.getStack(badCompose)?.conditions.find((c) => c.type === 'Ready')?.reason).toBe(
      'ValidationFailed',
    );
  });

  it('follows tags: deploys the newest matching tag, not the branch head', async () => {
    h = await Harness.create();
    const stack = h.name('tag');
    await h.writeStack(stack, composeFile({ web: { marker: 'one' } }));
    const one = h.commit('one');
    h.tag('v1.0.0');
    await h.writeStack(stack, composeFile({ web: { marker: 'two' } }));
    const two = h.commit('two');
    h.tag('v1.2.0');
    await h.writeStack(stack, composeFile({ web: { marker: 'head' } }));
    h.commit('untagged head');
    expect(one).not.toBe(two);

    const control = await h.open({ tag: 'v*' });
    const pass = await control.reconcile({});
    expect(pass.ok).toBe(true);
    expect(pass.revision).toMatchObject({ commit: two, ref: 'v1.2.0' });
    expect(h.store.getStack(stack)?.running?.commit).toBe(two);
  });

  it('keeps the current deployment when the remote is unreachable', async () => {
    h = await Harness.create();
    const stack = h.name('offline');
    await h.writeStack(stack, composeFile({ web: {} }));
    const commit = h.commit('v1');
    const control = await h.open();
    expect((await control.reconcile({})).ok).toBe(true);
    const before = await h.containers(stack);

    await rename(h.remote, `${h.remote}.gone`);
    const pass = await control.reconcile({});
    expect(pass.sourceError).toBeDefined();
    expect(pass.ok).toBe(false);
    expect(pass.revision?.commit).toBe(commit);
    expect(pass.stacks).toMatchObject([{ stack, result: 'unchanged' }]);
    expect(await h.containers(stack)).toEqual(before);
    expect(h.store.getStack(stack)?.conditions.find((c) => c.type === 'Reconciling')?.reason).toBe(
      'SourceUnavailable',
    );
  });
});
