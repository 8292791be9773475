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
    const first = await hashStackFolder(stack);
    expect(first).toMatch(/^[0-9a-f]{64}$/);
    await utimes(join(stack, 'compose.yaml'), new Date(2001, 1, 1), new Date(2001, 1, 1));
    await chmod(join(stack, 'conf/app.conf'), 0o600);
    expect(await hashStackFolder(stack)).toBe(first);
  });

  it('changes when a file becomes executable', async () => {
    const before = await hashStackFolder(stack);
    await chmod(join(stack, 'conf/app.conf'), 0o755);
    expect(await hashStackFolder(stack)).not.toBe(before);
  });

  it('is the same for an identical copy elsewhere', async () => {
    const other = await tempDir();
    try {
      await writeTree(join(other, 'x', 'web'), {
        'conf/nested/deep.txt': 'deep\n',
        'compose.yaml': COMPOSE,
        'conf/app.conf': 'listen 80\n',
      });
      expect(await hashStackFolder(join(other, 'x', 'web'))).toBe(await hashStackFolder(stack));
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
    const before = await hashStackFolder(stack);
    await change(stack);
    expect(await hashStackFolder(stack)).not.toBe(before);
  });

  it('ignores changes outside the folder and inside .git', async () => {
    const before = await hashStackFolder(stack);
    await writeTree(root, { 'stacks/other/compose.yaml': COMPOSE, 'README.md': 'x' });
    await writeTree(stack, { '.git/HEAD': 'ref: refs/heads/main\n', 'sub/.git/config': 'x' });
    expect(await hashStackFolder(stack)).toBe(before);
  });

  it('hashes a symlink inside the stack by its target text, without following it', async () => {
    await symlink('conf/app.conf', join(stack, 'app.conf'));
    const withLink = await hashStackFolder(stack);
    // Changing what the link points to changes that file's digest, not the link's.
    await symlink('conf', join(stack, 'conf-link'));
    const withTwo = await hashStackFolder(stack);
    expect(withTwo).not.toBe(withLink);
    await symlink('./nested/../nested/deep.txt', join(stack, 'conf', 'deep'));
    expect(await hashStackFolder(stack)).not.toBe(withTwo);
  });

  it('refuses a symlink that leaves the stack folder, naming the link and its target', async () => {
    await symlink('/etc/passwd', join(stack, 'passwd'));
    const err = await hashStackFolder(stack).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StackError);
    expect((err as StackError).reason).toBe('SymlinkEscapesStack');
    expect((err as StackError).place).toMatchObject({ stack: 'web', file: join(stack, 'passwd') });
    expect((err as StackError).message).toBe(
      `symbolic link ${join(stack, 'passwd')} points to /etc/passwd, outside the stack folder ${stack}`,
    );
  });

  it('refuses a link to another folder of the same repository', async () => {
    // Its target is not part of this stack's version, so changing it would redeploy nothing.
    await writeTree(root, { 'shared/common.env': 'A=1\n', 'stacks/db/compose.yaml': COMPOSE });
    await symlink('../../shared/common.env', join(stack, 'common.env'));
    await expect(hashStackFolder(stack)).rejects.toThrow(
      `symbolic link ${join(stack, 'common.env')} points to ../../shared/common.env, outside the stack folder ${stack}`,
    );
    const other = join(root, 'stacks', 'db');
    await symlink('../web/conf', join(other, 'conf'));
    await expect(hashStackFolder(other)).rejects.toMatchObject({ reason: 'SymlinkEscapesStack' });
  });

  it('refuses a relative symlink climbing out, even a dangling one', async () => {
    await mkdir(join(stack, 'x'));
    await symlink('../../../../outside', join(stack, 'x', 'up'));
    await expect(hashStackFolder(stack)).rejects.toThrow(/outside the stack folder/);
  });

  it('refuses a chain of links that leaves through a linked folder', async () => {
    // `via` stays inside as written; only its real path, through `dir`, shows where it goes.
    const outside = await tempDir();
    try {
      await writeTree(outside, { 'secret.txt': 'x' });
      await symlink(outside, join(stack, 'dir'));
      await symlink('dir/secret.txt', join(stack, 'via'));
      await expect(hashStackFolder(stack)).rejects.toMatchObject({
        reason: 'SymlinkEscapesStack',
        message: expect.stringMatching(/outside the stack folder/),
      });
    } finally {
      await removeDir(outside);
    }
  });

  it('accepts a stack folder reached through a linked parent', async () => {
    // The check compares real paths with real paths: a data dir under a linked path is fine.
    await symlink('conf/app.conf', join(stack, 'app.conf'));
    const alias = join(root, 'alias');
    await symlink(join(root, 'stacks'), alias);
    expect(await hashStackFolder(join(alias, 'web'))).toBe(await hashStackFolder(stack));
  });
});
