import {
  chmod,
  mkdir,
  mkdtemp,
  readFile,
  readdir,
  readlink,
  rename,
  rm,
  stat,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { StateError } from '../../src/errors.js';
import {
  createStackFolders,
  formatVersionFile,
  parseVersionFile,
} from '../../src/state/folders.js';
import type { StackFolders, VersionRef } from '../../src/state/types.js';

const REF1 = { commit: 'c1', version: 'v1' };
const REF2 = { commit: 'c2', version: 'v2' };

async function writeVersion(dir: string, ref: VersionRef): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'version.txt'), formatVersionFile(ref));
}

describe('createStackFolders', () => {
  let tmp: string;
  let dataDir: string;
  let source: string;
  let folders: StackFolders;

  beforeEach(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'berth-folders-'));
    dataDir = join(tmp, 'data');
    source = join(tmp, 'repo', 'web');
    await mkdir(join(source, 'hooks'), { recursive: true });
    await mkdir(join(source, '.git'));
    await writeFile(join(source, 'compose.yaml'), 'services: {}\n');
    await writeFile(join(source, 'hooks', 'pre.sh'), '#!/bin/sh\necho pre\n');
    await chmod(join(source, 'hooks', 'pre.sh'), 0o750);
    await writeFile(join(source, '.git', 'HEAD'), 'ref\n');
    await symlink('compose.yaml', join(source, 'link.yaml'));
    folders = createStackFolders(dataDir, {
      clock: { now: () => Date.UTC(2026, 0, 2, 3, 4, 5), sleep: () => Promise.resolve() },
    });
  });
  afterEach(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  it('puts a copy into running_stacks with version.txt, keeping modes and links, skipping .git', async () => {
    await folders.putRunning('web', source, REF1);
    const running = folders.runningDir('web');
    expect(running).toBe(join(dataDir, 'running_stacks', 'web'));
    expect((await readdir(running)).sort()).toEqual([
      'compose.yaml',
      'hooks',
      'link.yaml',
      'version.txt',
    ]);
    expect(await readFile(join(running, 'version.txt'), 'utf8')).toBe('commit=c1\nversion=v1\n');
    expect((await stat(join(running, 'hooks', 'pre.sh'))).mode & 0o777).toBe(0o750);
    expect(await readlink(join(running, 'link.yaml'))).toBe('compose.yaml');
    expect(await folders.readRunningVersion('web')).toEqual(REF1);
    expect(await folders.readGoodVersion('web')).toBeUndefined();
  });

  it('replaces the running folder completely on the next put', async () => {
    await folders.putRunning('web', source, REF1);
    await rm(join(source, 'hooks'), { recursive: true });
    await writeFile(join(source, 'compose.yaml'), 'services: {a: {}}\n');
    await folders.putRunning('web', source, REF2);
    const running = folders.runningDir('web');
    expect((await readdir(running)).sort()).toEqual(['compose.yaml', 'link.yaml', 'version.txt']);
    expect(await readFile(join(running, 'compose.yaml'), 'utf8')).toBe('services: {a: {}}\n');
    expect(await folders.readRunningVersion('web')).toEqual(REF2);
    expect((await readdir(join(dataDir, 'running_stacks'))).sort()).toEqual(['web']);
  });

  it('snapshots running into good and restores it', async () => {
    await folders.putRunning('web', source, REF1);
    await folders.snapshotGood('web');
    expect(await folders.readGoodVersion('web')).toEqual(REF1);
    expect((await stat(join(folders.goodDir('web'), 'hooks', 'pre.sh'))).mode & 0o777).toBe(0o750);

    await writeFile(join(source, 'compose.yaml'), 'broken\n');
    await folders.putRunning('web', source, REF2);
    expect(await folders.readRunningVersion('web')).toEqual(REF2);

    await folders.restoreGood('web');
    expect(await folders.readRunningVersion('web')).toEqual(REF1);
    expect(await readFile(join(folders.runningDir('web'), 'compose.yaml'), 'utf8')).toBe(
      'services: {}\n',
    );
    // Restoring copies: the good folder stays for the next rollback.
    expect(await folders.readGoodVersion('web')).toEqual(REF1);
  });

  it('refuses to snapshot or restore what does not exist', async () => {
    await expect(folders.snapshotGood('web')).rejects.toMatchObject({ reason: 'RunningMissing' });
    await expect(folders.restoreGood('web')).rejects.toMatchObject({ reason: 'GoodMissing' });
  });

  it('clears the running folder', async () => {
    await folders.putRunning('web', source, REF1);
    await folders.clearRunning('web');
    expect(await folders.readRunningVersion('web')).toBeUndefined();
    expect(await readdir(join(dataDir, 'running_stacks'))).toEqual([]);
    await folders.clearRunning('web');
  });

  it('archives both folders', async () => {
    await folders.putRunning('web', source, REF1);
    await folders.snapshotGood('web');
    const archived = await folders.archive('web');
    expect(archived).toBe(join(dataDir, 'archive', 'web-2026-01-02T03-04-05-000Z'));
    expect((await readdir(archived)).sort()).toEqual(['good_stacks', 'running_stacks']);
    expect(await readFile(join(archived, 'running_stacks', 'version.txt'), 'utf8')).toContain('c1');
    expect(await folders.readRunningVersion('web')).toBeUndefined();
    expect(await folders.readGoodVersion('web')).toBeUndefined();
    expect(await folders.archive('web')).not.toBe(archived);
  });

  it('reads past a half-built copy without touching it; the next write cleans it', async () => {
    await folders.putRunning('web', source, REF1);
    const parent = join(dataDir, 'running_stacks');
    await mkdir(join(parent, '.web.tmp-dead'));
    await writeFile(join(parent, '.web.tmp-dead', 'half'), '');
    expect(await folders.readRunningVersion('web')).toEqual(REF1);
    // Another process's writer may be building that copy right now.
    expect((await readdir(parent)).sort()).toEqual(['.web.tmp-dead', 'web']);
    expect(await readdir(join(parent, '.web.tmp-dead'))).toEqual(['half']);
    await folders.putRunning('web', source, REF2);
    expect(await readdir(parent)).toEqual(['web']);
  });

  it('reads the old version, moving nothing, after a crash between the two renames', async () => {
    await folders.putRunning('web', source, REF1);
    await folders.snapshotGood('web');
    const parent = join(dataDir, 'running_stacks');
    await rename(join(parent, 'web'), join(parent, '.web.old-abc'));
    await mkdir(join(parent, '.web.tmp-abc'));
    const good = join(dataDir, 'good_stacks');
    await rename(join(good, 'web'), join(good, '.web.old-def'));
    expect(await folders.readRunningVersion('web')).toEqual(REF1);
    expect(await folders.readGoodVersion('web')).toEqual(REF1);
    expect((await readdir(parent)).sort()).toEqual(['.web.old-abc', '.web.tmp-abc']);
    expect(await readdir(good)).toEqual(['.web.old-def']);
  });

  it('reads the folder moved aside last when a crash left several', async () => {
    const parent = join(dataDir, 'running_stacks');
    await writeVersion(join(parent, '.web.old-b'), REF2);
    // A rename sets the folder's ctime: leave the clock time to move on.
    await new Promise((resolve) => setTimeout(resolve, 50));
    await writeVersion(join(parent, '.web.old-tmp'), REF1);
    await rename(join(parent, '.web.old-tmp'), join(parent, '.web.old-a'));
    expect(await folders.readRunningVersion('web')).toEqual(REF1);
    await folders.repairAll();
    expect(await readdir(parent)).toEqual(['web']);
    expect(await folders.readRunningVersion('web')).toEqual(REF1);
  });

  it('puts the old folder back before the next write after a crash between the renames', async () => {
    await folders.putRunning('web', source, REF1);
    const parent = join(dataDir, 'running_stacks');
    await rename(join(parent, 'web'), join(parent, '.web.old-abc'));
    await mkdir(join(parent, '.web.tmp-abc'));
    await folders.putRunning('web', source, REF2, { keepPrevious: true });
    expect((await readdir(parent)).sort()).toEqual(['.web.previous', 'web']);
    expect(await folders.readRunningVersion('web')).toEqual(REF2);
    expect(await folders.readPreviousVersion('web')).toEqual(REF1);
  });

  it("repairs every stack's leftovers in both folders, and nothing else", async () => {
    await folders.putRunning('web', source, REF1);
    await folders.putRunning('api', source, REF2, { keepPrevious: true });
    await folders.putRunning('api', source, REF2, { keepPrevious: true });
    await folders.snapshotGood('web');
    const running = join(dataDir, 'running_stacks');
    const good = join(dataDir, 'good_stacks');
    await rename(join(running, 'web'), join(running, '.web.old-abc'));
    await mkdir(join(running, '.web.tmp-abc'));
    await mkdir(join(running, '.api.tmp-123'));
    await mkdir(join(running, '.db.old-9'));
    await mkdir(join(good, '.web.old-def'));
    await mkdir(join(good, '.web.tmp-def'));

    await folders.repairAll();
    expect((await readdir(running)).sort()).toEqual(['.api.previous', 'api', 'db', 'web']);
    expect(await readdir(good)).toEqual(['web']);
    expect(await folders.readRunningVersion('web')).toEqual(REF1);
    expect(await folders.readGoodVersion('web')).toEqual(REF1);
    expect(await folders.readPreviousVersion('api')).toEqual(REF2);
  });

  it('repairs nothing in a fresh data dir', async () => {
    await folders.repairAll();
    await expect(readdir(dataDir)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('drops the old folder when the new one is already in place', async () => {
    await folders.putRunning('web', source, REF1);
    const parent = join(dataDir, 'running_stacks');
    await mkdir(join(parent, '.web.old-abc'));
    await folders.putRunning('web', source, REF2);
    expect(await readdir(parent)).toEqual(['web']);
    expect(await folders.readRunningVersion('web')).toEqual(REF2);
  });

  it('does not touch leftovers of another stack', async () => {
    await folders.putRunning('web', source, REF1);
    const parent = join(dataDir, 'running_stacks');
    await mkdir(join(parent, '.web-2.tmp-x'));
    await folders.putRunning('web', source, REF2);
    expect((await readdir(parent)).sort()).toEqual(['.web-2.tmp-x', 'web']);
  });

  it('serializes concurrent changes of one stack', async () => {
    await Promise.all([
      folders.putRunning('web', source, REF1),
      folders.putRunning('web', source, REF2),
      folders.snapshotGood('web'),
    ]);
    expect(await folders.readRunningVersion('web')).toEqual(REF2);
    expect(await folders.readGoodVersion('web')).toEqual(REF2);
    expect(await readdir(join(dataDir, 'running_stacks'))).toEqual(['web']);
  });

  it('refuses names that would leave the folder', () => {
    expect(() => folders.runningDir('../etc')).toThrow(StateError);
    expect(() => folders.goodDir('.hidden')).toThrow(StateError);
  });
});

describe('parseVersionFile', () => {
  it('reads both lines, in any order', () => {
    expect(parseVersionFile('version=v1\ncommit=c1\n')).toEqual(REF1);
  });

  it("reads seed 002's bare commit", () => {
    expect(parseVersionFile('0123abcd\n')).toEqual({ commit: '0123abcd', version: '' });
  });

  it('returns undefined for an empty file', () => {
    expect(parseVersionFile('\n')).toBeUndefined();
  });
});
