import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SourceError } from '../../../src/errors.js';
import { createLocalSource } from '../../../src/source/local/local-source.js';

let root: string;

function put(rel: string, content: string): void {
  mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
  writeFileSync(path.join(root, rel), content);
}

beforeEach(() => {
  root = mkdtempSync(path.join(tmpdir(), 'berth-local-'));
  put('stacks/web/compose.yaml', 'services: {}\n');
});

afterEach(() => {
  rmSync(root, { recursive: true, force: true });
});

describe('local folder source', () => {
  it('reports ref local, the folder, and a hash that changes with the files', async () => {
    const src = createLocalSource({ path: root });
    const first = await src.sync();
    expect(first).toMatchObject({ ref: 'local', dir: root });
    expect(first.commit).toMatch(/^[0-9a-f]{64}$/);
    expect(await src.current()).toEqual(first);

    put('stacks/web/compose.yaml', 'services: {web: {}}\n');
    const edited = await src.sync();
    expect(edited.commit).not.toBe(first.commit);

    put('stacks/web/compose.yaml', 'services: {}\n');
    expect((await src.sync()).commit).toBe(first.commit);

    put('stacks/web/.env', 'A=1\n');
    expect((await src.sync()).commit).not.toBe(first.commit);
  });

  it('notices renames and symlink targets', async () => {
    const src = createLocalSource({ path: root });
    put('stacks/web/a.txt', 'same');
    const before = (await src.sync()).commit;
    rmSync(path.join(root, 'stacks/web/a.txt'));
    put('stacks/web/b.txt', 'same');
    const renamed = (await src.sync()).commit;
    expect(renamed).not.toBe(before);
    symlinkSync('b.txt', path.join(root, 'stacks/web/link'));
    const linked = (await src.sync()).commit;
    rmSync(path.join(root, 'stacks/web/link'));
    symlinkSync('compose.yaml', path.join(root, 'stacks/web/link'));
    expect((await src.sync()).commit).not.toBe(linked);
  });

  it('hashes only the stack folders when paths are given', async () => {
    const src = createLocalSource({ path: root, paths: ['stacks/*'] });
    const first = (await src.sync()).commit;
    put('data/berth.db', 'changes all the time');
    put('README.md', 'docs');
    put('.git/HEAD', 'ref: refs/heads/main');
    expect((await src.sync()).commit).toBe(first);
    put('stacks/db/compose.yaml', 'services: {}\n');
    expect((await src.sync()).commit).not.toBe(first);
  });

  it('throws a transient SourceError when the folder is missing', async () => {
    const src = createLocalSource({ path: path.join(root, 'nope') });
    await expect(src.sync()).rejects.toBeInstanceOf(SourceError);
    await expect(src.sync()).rejects.toMatchObject({ reason: 'SourceMissing', transient: true });
    expect(await src.current()).toBeUndefined();
  });
});
