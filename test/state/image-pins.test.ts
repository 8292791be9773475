import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  createStackFolders,
  formatVersionFile,
  parseVersionFile,
} from '../../src/state/folders.js';
import { MIGRATIONS } from '../../src/state/migrations.js';
import { openStateStore } from '../../src/state/store.js';
import type { StackFolders, StateStore, VersionRef } from '../../src/state/types.js';

const D1 = `sha256:${'1'.repeat(64)}`;
const D2 = `sha256:${'2'.repeat(64)}`;
const PINNED: VersionRef = {
  commit: 'c1',
  version: 'v1',
  images: { '127.0.0.1:5000/team/app:latest': D1, 'busybox:1.36': D2 },
};

describe('version.txt with image pins', () => {
  it('round-trips the pins, one image=<ref>@<digest> line each, sorted', () => {
    const text = formatVersionFile(PINNED);
    expect(text).toBe(
      `commit=c1\nversion=v1\nimage=127.0.0.1:5000/team/app:latest@${D1}\nimage=busybox:1.36@${D2}\n`,
    );
    expect(parseVersionFile(text)).toEqual(PINNED);
  });

  it('writes and reads a version without pins exactly as before', () => {
    const ref = { commit: 'c1', version: 'v1' };
    expect(formatVersionFile(ref)).toBe('commit=c1\nversion=v1\n');
    expect(parseVersionFile('commit=c1\nversion=v1\n')).toEqual(ref);
    expect(parseVersionFile('0123abcd\n')).toEqual({ commit: '0123abcd', version: '' });
  });

  it('ignores an image line without a digest', () => {
    expect(parseVersionFile('commit=c\nversion=v\nimage=app:latest\nimage=@x\n')).toEqual({
      commit: 'c',
      version: 'v',
    });
  });
});

describe('putRunning keeps the pins of the copy it publishes', () => {
  let tmp: string;
  let source: string;
  let folders: StackFolders;

  beforeEach(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'berth-pins-'));
    source = join(tmp, 'staged', 'web');
    await mkdir(source, { recursive: true });
    await writeFile(join(source, 'compose.yaml'), 'services: {}\n');
    folders = createStackFolders(join(tmp, 'data'));
  });

  afterEach(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  it('takes the pins from the staged version.txt of the same version', async () => {
    await writeFile(join(source, 'version.txt'), formatVersionFile(PINNED));
    await folders.putRunning('web', source, { version: 'v1', commit: 'c1' });
    expect(await folders.readRunningVersion('web')).toEqual(PINNED);
    await folders.snapshotGood('web');
    expect(await folders.readGoodVersion('web')).toEqual(PINNED);
  });

  it('does not take pins written for another version', async () => {
    await writeFile(join(source, 'version.txt'), formatVersionFile(PINNED));
    await folders.putRunning('web', source, { version: 'v2', commit: 'c2' });
    expect(await folders.readRunningVersion('web')).toEqual({ version: 'v2', commit: 'c2' });
    const text = await readFile(join(folders.runningDir('web'), 'version.txt'), 'utf8');
    expect(text).not.toContain('image=');
  });

  it('writes the pins the caller gives', async () => {
    await folders.putRunning('web', source, PINNED);
    expect(await folders.readRunningVersion('web')).toEqual(PINNED);
  });
});

describe('the store: image pins of a version', () => {
  let dir: string;
  let dbPath: string;
  let store: StateStore;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-pins-db-'));
    dbPath = join(dir, 'berth.db');
    store = openStateStore(dbPath);
  });

  afterEach(async () => {
    store.close();
    await rm(dir, { recursive: true, force: true });
  });

  const deployment = {
    stack: 'web',
    commit: 'c1',
    method: 'simple',
    trigger: 'reconcile',
  };

  it('shows a deployment’s pins on it, on the running and good versions and on a bad mark', () => {
    const first = store.startDeployment({
      ...deployment,
      version: 'v1',
      images: { 'app:latest': D1 },
    });
    const second = store.startDeployment({
      ...deployment,
      version: 'v2',
      images: { 'app:latest': D2 },
    });
    expect(store.getDeployment(first.id)?.images).toEqual({ 'app:latest': D1 });
    expect(store.listDeployments('web').map((d) => d.images)).toEqual([
      { 'app:latest': D2 },
      { 'app:latest': D1 },
    ]);
    store.upsertStack('web', {
      state: 'STABLE',
      running: { version: 'v1', commit: 'c1' },
      good: { version: 'v1', commit: 'c1' },
    });
    store.markBad({ stack: 'web', version: 'v2', commit: 'c1', reason: 'unhealthy' });
    expect(store.getStack('web')?.running).toEqual({
      version: 'v1',
      commit: 'c1',
      images: { 'app:latest': D1 },
    });
    expect(store.listStacks()[0]?.good?.images).toEqual({ 'app:latest': D1 });
    expect(store.isBad('web', 'v2')?.images).toEqual({ 'app:latest': D2 });
    expect(store.listBad('web')[0]?.images).toEqual({ 'app:latest': D2 });
    // A later update of the deployment keeps them.
    store.updateDeployment(second.id, { state: 'FAILED', result: 'failed' });
    expect(store.getDeployment(second.id)?.images).toEqual({ 'app:latest': D2 });
  });

  it('records nothing for a version without pins', () => {
    const d = store.startDeployment({ ...deployment, version: 'v1' });
    expect(store.getDeployment(d.id)).not.toHaveProperty('images');
    store.upsertStack('web', { state: 'STABLE', running: { version: 'v1', commit: 'c1' } });
    expect(store.getStack('web')?.running).toEqual({ version: 'v1', commit: 'c1' });
  });

  it('forgets the pins of versions nothing refers to any more', () => {
    const small = openStateStore(join(dir, 'small.db'), { maxDeployments: 1 });
    try {
      small.startDeployment({ ...deployment, version: 'v1', images: { 'app:latest': D1 } });
      const second = small.startDeployment({
        ...deployment,
        version: 'v2',
        images: { 'app:latest': D2 },
      });
      small.updateDeployment(second.id, { state: 'DONE', result: 'succeeded' });
      small.startDeployment({ ...deployment, version: 'v3', images: { 'app:latest': D1 } });
      small.close();
      const db = new Database(join(dir, 'small.db'), { readonly: true });
      const versions = db.prepare('SELECT version FROM version_images ORDER BY version').all() as {
        version: string;
      }[];
      db.close();
      // v1's deployment was queued, so it stayed; v2's finished one was pruned.
      expect(versions.map((v) => v.version)).toEqual(['v1', 'v3']);
    } finally {
      small.close();
    }
  });

  it('migrates a database of the previous schema', () => {
    store.close();
    const old = join(dir, 'old.db');
    const db = new Database(old);
    for (const migration of MIGRATIONS.slice(0, MIGRATIONS.length - 1)) db.exec(migration);
    db.pragma(`user_version = ${MIGRATIONS.length - 1}`);
    db.close();
    store = openStateStore(old);
    const d = store.startDeployment({ ...deployment, version: 'v1', images: { 'a:1': D1 } });
    expect(store.getDeployment(d.id)?.images).toEqual({ 'a:1': D1 });
  });
});
