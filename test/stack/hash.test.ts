import { chmod, mkdir, rename, symlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { StackError } from '../../src/errors.js';
import { hashStackFolder } from '../../src/stack/hash.js';
import { COMPOSE, removeDir, tempDir, writeTree } from './fixtures.js';

describe('hashStackFolder', () => {
  let root: string;
  let stack: string;

  beforeEach(async () => {
    root = await tempDir();
    stack = join(root, 'stacks', 'web');
    await writeTree(stack, {
      'compose.yaml': COMPOSE,
      'conf/app.conf': 'listen 80\n',
      'conf/nested/deep.txt': 'deep\n',
    });
  });
  afterEach(() => removeDir(root));

  it('is a sha-256 hex that stays the same across runs and times', async () => {
    const first = await hashStackFolder(stack, root);
    expect(first).toMatch(/^[0-9a-f]{64}$/);
    await utimes(join(stack, 'compose.yaml'), new Date(2001, 1, 1), new Date(2001, 1, 1));
    await chmod(join(stack, 'conf/app.conf'), 0o600);
    expect(await hashStackFolder(stack, root)).toBe(first);
  });

  it('changes when a file becomes executable', async () => {
    const before = await hashStackFolder(stack, root);
    await chmod(join(stack, 'conf/app.conf'), 0o755);
    expect(await hashStackFolder(stack, root)).not.toBe(before);
  });

  it('is the same for an identical copy elsewhere', async () => {
    const other = await tempDir();
    try {
      await writeTree(join(other, 'x', 'web'), {
        'conf/nested/deep.txt': 'deep\n',
        'compose.yaml': COMPOSE,
        'conf/app.conf': 'listen 80\n',
      });
      expect(await hashStackFolder(join(other, 'x', 'web'), other)).toBe(
        await hashStackFolder(stack, root),
      );
    } finally {
      await removeDir(other);
    }
  });

  it.each([
    [
      'content change',
      async (dir: string) => writeFile(join(dir, 'conf/nested/deep.txt'), 'Deep\n'),
    ],
    ['new file', async (dir: string) => writeFile(join(dir, 'extra'), '')],
    ['new dotfile', async (dir: string) => writeFile(join(dir, '.env'), 'A=1')],
    [
      'rename',
      async (dir: string) => rename(join(dir, 'conf/app.conf'), join(dir, 'conf/app2.conf')),
    ],
    [
      'moving content between files',
      async (dir: string) => {
        await writeFile(join(dir, 'conf/app.conf'), 'listen 80\ndeep\n');
        await writeFile(join(dir, 'conf/nested/deep.txt'), '');
      },
    ],
  ])('changes on %s', async (_name, change) => {
    const before = await hashStackFolder(stack, root);
    await change(stack);
    expect(await hashStackFolder(stack, root)).not.toBe(before);
  });

  it('ignores changes outside the folder and inside .git', async () => {
    const before = await hashStackFolder(stack, root);
    await writeTree(root, { 'stacks/other/compose.yaml': COMPOSE, 'README.md': 'x' });
    await writeTree(stack, { '.git/HEAD': 'ref: refs/heads/main\n', 'sub/.git/config': 'x' });
    expect(await hashStackFolder(stack, root)).toBe(before);
  });

  it('hashes a symlink inside the repository by its target, without following it', async () => {
    await writeTree(root, { 'shared/common.env': 'A=1\n' });
    await symlink('../../shared/common.env', join(stack, 'common.env'));
    const withLink = await hashStackFolder(stack, root);
    // Changing what the link points to does not change this stack: only the link's text counts.
    await writeFile(join(root, 'shared/common.env'), 'A=2\n');
    expect(await hashStackFolder(stack, root)).toBe(withLink);
    await symlink('conf', join(stack, 'conf-link'));
    expect(await hashStackFolder(stack, root)).not.toBe(withLink);
  });

  it('refuses a symlink that leaves the repository, naming the link', async () => {
    await symlink('/etc/passwd', join(stack, 'passwd'));
    const err = await hashStackFolder(stack, root).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StackError);
    expect((err as StackError).reason).toBe('SymlinkEscapesRepository');
    expect((err as StackError).place.file).toBe(join(stack, 'passwd'));
  });

  it('refuses a relative symlink climbing out of the repository', async () => {
    await mkdir(join(stack, 'x'));
    await symlink('../../../../outside', join(stack, 'x', 'up'));
    await expect(hashStackFolder(stack, root)).rejects.toThrow(/outside the repository/);
  });
});
