import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BerthError } from '../../src/errors.js';
import {
  MIN_VERSION_PREFIX,
  findRollbackSource,
  versionByPrefix,
} from '../../src/reconciler/rollback.js';
import { createStackFolders } from '../../src/state/folders.js';
import { openStateStore } from '../../src/state/store.js';
import type { StackFolders, StateStore } from '../../src/state/types.js';

// Two versions sharing their first 8 hex digits, a third sharing only the first 6.
const V1 = `3f2a9c1d${'a'.repeat(56)}`;
const V2 = `3f2a9c1d${'b'.repeat(56)}`;
const V3 = `3f2a9c0e${'c'.repeat(56)}`;
const C1 = `1a2b3c4d${'0'.repeat(32)}`;
const C2 = `9e8d7c6b${'0'.repeat(32)}`;
const C3 = `1a2b3c4e${'0'.repeat(32)}`;

function thrown(fn: () => unknown): BerthError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(BerthError);
    return err as BerthError;
  }
  throw new Error('expected an error');
}

describe('rollback --to prefixes', () => {
  let dir: string;
  let store: StateStore;
  let folders: StackFolders;

  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'berth-rollback-prefix-'));
    store = openStateStore(path.join(dir, 'berth.db'));
    folders = createStackFolders(dir);
    for (const [version, commit] of [
      [V1, C1],
      [V2, C2],
      [V3, C3],
      [V1, C1],
    ] as const) {
      store.startDeployment({ stack: 'web', version, commit, method: 'simple', trigger: 'test' });
    }
  });
  afterEach(async () => {
    store.close();
    await rm(dir, { recursive: true, force: true });
  });

  const history = (): ReturnType<StateStore['listDeployments']> =>
    store.listDeployments('web', 1000);

  it('refuses a prefix shorter than 7 hex digits, or not hex at all', () => {
    expect(MIN_VERSION_PREFIX).toBe(7);
    for (const to of ['3', '3f2a9c', 'zzzzzzzz', '3f2a9c1-', '']) {
      const err = thrown(() => versionByPrefix(history(), 'web', to));
      expect(err.reason, to).toBe('VersionPrefixInvalid');
      expect(err.message).toContain('at least 7 hex digits');
    }
  });

  it('refuses an ambiguous prefix, listing every candidate with its commit and date', () => {
    const err = thrown(() => versionByPrefix(history(), 'web', '3f2a9c1'));
    expect(err.reason).toBe('VersionAmbiguous');
    expect(err.place?.stack).toBe('web');
    expect(err.message).toMatch(/^version 3f2a9c1 matches 2 versions of stack web: /);
    expect(err.message).toContain(`${V1.slice(0, 12)} (commit ${C1.slice(0, 12)}, 20`);
    expect(err.message).toContain(`${V2.slice(0, 12)} (commit ${C2.slice(0, 12)}, 20`);
    expect(err.message).not.toContain(V3.slice(0, 12));
    // A commit prefix counts too: 1a2b3c4 starts C1 and C3.
    const byCommit = thrown(() => versionByPrefix(history(), 'web', '1A2B3C4'));
    expect(byCommit.reason).toBe('VersionAmbiguous');
    expect(byCommit.message).toContain(V3.slice(0, 12));
  });

  it('takes an unambiguous prefix of a version or a commit, in any case', () => {
    expect(versionByPrefix(history(), 'web', '3f2a9c1da')).toEqual({ version: V1, commit: C1 });
    expect(versionByPrefix(history(), 'web', '3F2A9C1DB')).toEqual({ version: V2, commit: C2 });
    expect(versionByPrefix(history(), 'web', '9e8d7c6')).toEqual({ version: V2, commit: C2 });
    expect(versionByPrefix(history(), 'web', V3)).toEqual({ version: V3, commit: C3 });
    expect(thrown(() => versionByPrefix(history(), 'web', 'ffffffff')).reason).toBe(
      'VersionNotFound',
    );
  });

  it('findRollbackSource refuses a short or ambiguous prefix and finds a unique one', async () => {
    const files = path.join(dir, 'files');
    await mkdir(files);
    await writeFile(path.join(files, 'compose.yaml'), 'services: {}\n');
    await folders.putRunning('web', files, { version: V2, commit: C2 });
    const deps = { store, folders };
    await expect(findRollbackSource(deps, 'web', '3f2a')).rejects.toMatchObject({
      reason: 'VersionPrefixInvalid',
    });
    await expect(findRollbackSource(deps, 'web', '3f2a9c1')).rejects.toMatchObject({
      reason: 'VersionAmbiguous',
    });
    expect(await findRollbackSource(deps, 'web', '3f2a9c1db')).toEqual({
      ref: { version: V2, commit: C2 },
      dir: folders.runningDir('web'),
    });
  });
});
