import { rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BerthConfig } from '../../src/config/index.js';
import type { ControlPlane } from '../../src/control/control-plane.js';
import { silentLogger } from '../../src/log.js';
import { createApp } from '../../src/main.js';
import type { PassResult } from '../../src/reconciler/types.js';
import { lockDataDir } from '../../src/state/lock.js';
import { commit, git } from '../source/git/git-fixture.js';
import { Harness, composeFile, exists } from '../helpers/harness.js';

/** The harness's repository is source `a`; a second repository next to it is source `b`. */
function twoSources(h: Harness, remoteB: string): BerthConfig {
  const config = h.config({ prune: true });
  const entry = (name: string, remote: string): BerthConfig['sources'][number] => ({
    name,
    source: {
      kind: 'git',
      git: { url: `file://${remote}`, branch: 'main', depth: 1 },
      paths: ['stacks/*'],
    },
    defaults: config.defaults,
  });
  const sources = [entry('a', h.remote), entry('b', remoteB)];
  return { ...config, sources, source: sources[0]!.source };
}

async function openWith(h: Harness, config: BerthConfig): Promise<ControlPlane> {
  await h.close();
  h.lock = await lockDataDir(h.dataDir, { role: 'cli', command: 'test' }, { waitMs: 10_000 });
  h.app = await createApp(config, { logger: silentLogger(), lock: h.lock });
  return h.app.control;
}

function results(pass: PassResult): Record<string, string> {
  return Object.fromEntries(pass.stacks.map((s) => [s.stack, s.result]));
}

async function allRunning(h: Harness, stack: string): Promise<boolean> {
  const containers = await h.containers(stack);
  return containers.length > 0 && containers.every((c) => c.state === 'running');
}

describe('reconciler: several sources', () => {
  let h: Harness;
  let remoteB: string;
  let workB: string;
  let control: ControlPlane;
  const names = { a1: '', a2: '', b1: '', b2: '' };

  beforeAll(async () => {
    h = await Harness.create();
    remoteB = path.join(h.root, 'remote-b.git');
    workB = path.join(h.root, 'work-b');
    git(h.root, 'init', '--quiet', '--bare', '--initial-branch=main', remoteB);
    git(h.root, 'init', '--quiet', '--initial-branch=main', workB);
    git(workB, 'remote', 'add', 'origin', remoteB);
    names.a1 = h.name('sa1');
    names.a2 = h.name('sa2');
    names.b1 = h.name('sb1');
    names.b2 = h.name('sb2');
  });

  afterAll(async () => {
    await h?.cleanup();
  });

  function pushB(files: Record<string, string | null>, message: string): string {
    const sha = commit(workB, files, message);
    git(workB, 'push', '--quiet', 'origin', 'main');
    return sha;
  }

  it('deploys the stacks of both sources, each recorded with its source', async () => {
    await h.writeStack(names.a1, composeFile({ web: {} }));
    await h.writeStack(names.a2, composeFile({ web: {} }));
    const commitA = h.commit('a: two stacks');
    const commitB = pushB({ [`stacks/${names.b1}/compose.yaml`]: composeFile({ web: {} }) }, 'b');
    control = await openWith(h, twoSources(h, remoteB));

    const pass = await control.reconcile({});
    expect(pass.ok).toBe(true);
    expect(results(pass)).toEqual({
      [names.a1]: 'deployed',
      [names.a2]: 'deployed',
      [names.b1]: 'deployed',
    });
    expect(pass.sources.map((s) => [s.name, s.revision?.commit, s.error])).toEqual([
      ['a', commitA, undefined],
      ['b', commitB, undefined],
    ]);
    expect(pass.sources[1]!.revision!.dir).toBe(path.join(h.dataDir, 'repos', 'b'));
    expect(h.store.getStack(names.a1)?.source).toBe('a');
    expect(h.store.getStack(names.b1)?.source).toBe('b');
  });

  it('syncs and plans only the sources asked for', async () => {
    pushB({ [`stacks/${names.b2}/compose.yaml`]: composeFile({ web: {} }) }, 'b: one more');
    const onlyA = await control.reconcile({ sources: ['a'] });
    expect(onlyA.ok).toBe(true);
    expect(onlyA.sources.map((s) => s.name)).toEqual(['a']);
    // b's stacks are neither planned nor pruned, and its new stack waits for b's own pass.
    expect(results(onlyA)).toEqual({ [names.a1]: 'unchanged', [names.a2]: 'unchanged' });
    expect(await h.containers(names.b2)).toEqual([]);
    expect(await allRunning(h, names.b1)).toBe(true);

    const onlyB = await control.reconcile({ sources: ['b'] });
    expect(results(onlyB)).toEqual({ [names.b1]: 'unchanged', [names.b2]: 'deployed' });
    await expect(control.reconcile({ sources: ['nope'] })).rejects.toThrow(
      'no source named nope; the configured sources are: a, b',
    );
  });

  it('breaks both stacks of a name two sources hold, and only them', async () => {
    const clash = `stacks/${names.a1}/compose.yaml`;
    pushB({ [clash]: composeFile({ web: { marker: 'b' } }) }, 'b: a stack named like one of a');
    const pass = await control.reconcile({});
    expect(pass.ok).toBe(false);
    expect(results(pass)).toEqual({
      [names.a1]: 'invalid',
      [names.a2]: 'unchanged',
      [names.b1]: 'unchanged',
      [names.b2]: 'unchanged',
    });
    const message = pass.stacks.find((s) => s.stack === names.a1)!.message;
    expect(message).toContain(`stacks/${names.a1} of source a`);
    expect(message).toContain(`stacks/${names.a1} of source b`);
    // Broken is left as it runs: nothing of b's is deployed under a's name.
    expect(await allRunning(h, names.a1)).toBe(true);
    expect((await h.containers(names.a1)).length).toBe(1);

    pushB({ [clash]: null }, 'b: clash gone');
    expect(results(await control.reconcile({}))[names.a1]).toBe('unchanged');
  });

  it('keeps an unreachable source and its stacks while the other goes on and prunes', async () => {
    await h.removeStackFolder(names.a2);
    h.commit('a: one stack left');
    pushB({ [`stacks/${names.b2}/compose.yaml`]: null }, 'b: b2 removed, never fetched');
    await rename(remoteB, `${remoteB}.gone`);

    const pass = await control.reconcile({});
    expect(pass.ok).toBe(false);
    expect(pass.sources[0]).toMatchObject({ name: 'a' });
    expect(pass.sources[0]!.error).toBeUndefined();
    expect(pass.sources[1]).toMatchObject({ name: 'b', error: { reason: 'FetchFailed' } });
    expect(results(pass)).toEqual({
      [names.a1]: 'unchanged',
      [names.a2]: 'removed',
      [names.b1]: 'unchanged',
      [names.b2]: 'unchanged',
    });
    expect(await h.containers(names.a2)).toEqual([]);
    expect(await allRunning(h, names.b1)).toBe(true);
    expect(await allRunning(h, names.b2)).toBe(true);
    expect(
      h.store.getStack(names.b1)?.conditions.find((c) => c.type === 'Reconciling')?.reason,
    ).toBe('SourceUnavailable');

    // Without even a fetched revision, b contributes no stacks: still none is pruned.
    await rm(path.join(h.dataDir, 'repos', 'b'), { recursive: true, force: true });
    const blind = await control.reconcile({});
    expect(blind.sources[1]).toMatchObject({ name: 'b', error: { reason: 'FetchFailed' } });
    expect(blind.sources[1]!.revision).toBeUndefined();
    expect(results(blind)).toEqual({
      [names.a1]: 'unchanged',
      [names.b1]: 'kept',
      [names.b2]: 'kept',
    });
    expect(await allRunning(h, names.b1)).toBe(true);
    expect(await allRunning(h, names.b2)).toBe(true);
    expect(await exists(path.join(h.dataDir, 'running_stacks', names.b1))).toBe(true);
  });
});
