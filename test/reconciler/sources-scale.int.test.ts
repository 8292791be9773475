import { statSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BerthConfig } from '../../src/config/index.js';
import { silentLogger } from '../../src/log.js';
import { createApp, sourceRoot } from '../../src/main.js';
import { lockDataDir } from '../../src/state/lock.js';
import { git } from '../source/git/git-fixture.js';
import { FIXTURE_IMAGE, removeProject } from '../helpers/docker.js';
import { Harness } from '../helpers/harness.js';

const SOURCES = 10;
const PER_SOURCE = 20;

function stackCompose(): string {
  return [
    'x-berth:',
    '  method: blind',
    'services:',
    '  app:',
    `    image: ${FIXTURE_IMAGE}`,
    '    command: ["sleep", "3600"]',
    // 200 stacks with a network each would drain Docker's address pools.
    '    network_mode: none',
    '    stop_grace_period: 1s',
    '',
  ].join('\n');
}

/** A bare repository holding `names` as stack folders, pushed from a work tree beside it. */
async function sourceRepo(root: string, names: string[]): Promise<string> {
  const bare = path.join(root, 'remote.git');
  const work = path.join(root, 'work');
  await mkdir(root, { recursive: true });
  git(root, 'init', '--quiet', '--bare', '--initial-branch=main', bare);
  git(root, 'clone', '--quiet', bare, work);
  for (const name of names) {
    await mkdir(path.join(work, 'stacks', name), { recursive: true });
    await writeFile(path.join(work, 'stacks', name, 'compose.yaml'), stackCompose());
  }
  git(work, 'add', '.');
  git(work, '-c', 'user.name=t', '-c', 'user.email=t@t', 'commit', '--quiet', '-m', 'stacks');
  git(work, 'push', '--quiet', 'origin', 'HEAD:main');
  return bare;
}

function fetchedAt(config: BerthConfig, source: string): number {
  // git writes FETCH_HEAD on every fetch, even one that brings nothing new.
  return (
    statSync(path.join(sourceRoot(config, source), '.git', 'FETCH_HEAD'), {
      throwIfNoEntry: false,
    })?.mtimeMs ?? 0
  );
}

describe('reconciler: 10 sources x 20 stacks', { timeout: 600_000 }, () => {
  let h: Harness;
  let config: BerthConfig;
  const owner = new Map<string, string>();

  beforeAll(async () => {
    h = await Harness.create();
    const base = h.config({ prune: true });
    const sources: BerthConfig['sources'] = [];
    for (let i = 0; i < SOURCES; i++) {
      const name = `src${i}`;
      const stacks = Array.from({ length: PER_SOURCE }, () => h.name(`sc${i}`));
      for (const stack of stacks) owner.set(stack, name);
      const bare = await sourceRepo(path.join(h.root, name), stacks);
      sources.push({
        name,
        source: {
          kind: 'git',
          git: { url: `file://${bare}`, branch: 'main', depth: 1 },
          paths: ['stacks/*'],
        },
        defaults: base.defaults,
      });
    }
    config = { ...base, sources, source: sources[0]!.source };
    await h.close();
    h.lock = await lockDataDir(h.dataDir, { role: 'cli', command: 'test' }, { waitMs: 10_000 });
    h.app = await createApp(config, { logger: silentLogger(), lock: h.lock });
  });

  afterAll(async () => {
    await h?.close().catch(() => undefined);
    // Harness cleanup removes one project at a time; 200 go faster side by side.
    await Promise.all([...owner.keys()].map((stack) => removeProject(stack)));
    await h?.cleanup();
  });

  it('deploys every stack once, recorded with its source', async () => {
    const pass = await h.app!.control.reconcile({});
    expect(pass.ok).toBe(true);
    expect(pass.stacks).toHaveLength(SOURCES * PER_SOURCE);
    expect(pass.stacks.filter((s) => s.result !== 'deployed')).toEqual([]);
    expect(pass.sources.map((s) => s.name).sort()).toEqual(
      Array.from({ length: SOURCES }, (_, i) => `src${i}`).sort(),
    );
    for (const record of h.app!.store.listStacks().filter((r) => owner.has(r.name)))
      expect(record.source).toBe(owner.get(record.name));
  });

  it('passes over them with no changes: nothing deployed, fetched or pruned, one Docker call', async () => {
    const before = config.sources.map((s) => fetchedAt(config, s.name));
    const calls = h.app!.engine.callCount();
    const pass = await h.app!.control.reconcile({});
    expect(pass.ok).toBe(true);
    expect(pass.stacks).toHaveLength(SOURCES * PER_SOURCE);
    expect(pass.stacks.filter((s) => s.result !== 'unchanged')).toEqual([]);
    expect(pass.sources.every((s) => s.error === undefined)).toBe(true);
    expect(h.app!.engine.callCount() - calls).toBe(1);
    // The remotes' commits were already checked out: ls-remote said so, no fetch ran.
    expect(config.sources.map((s) => fetchedAt(config, s.name))).toEqual(before);
  });
});
