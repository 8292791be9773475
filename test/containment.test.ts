import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readBoundedFile, readBoundedFileSync } from '../src/bounded-read.js';
import { confinement, confinementSync, escape, escapeSync, isInside } from '../src/containment.js';

let root: string;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'berth-contain-'));
});
afterEach(() => rm(root, { recursive: true, force: true }));

describe('containment', () => {
  it('compares paths as written', () => {
    expect(isInside('/a/b', '/a/b')).toBe(true);
    expect(isInside('/a/b', '/a/b/c/../d')).toBe(true);
    expect(isInside('/a/b', '/a/bc')).toBe(false);
    expect(isInside('/a/b', '/a/b/../c')).toBe(false);
    expect(isInside('/a/b', '/a/b/..data')).toBe(true);
  });

  it('follows links, also for paths that do not exist yet', async () => {
    const stack = join(root, 'stack');
    await mkdir(join(stack, 'sub'), { recursive: true });
    await mkdir(join(root, 'out'));
    await symlink(join(root, 'out'), join(stack, 'away'));
    const where = await confinement(stack);
    expect(await escape(where, join(stack, 'sub', 'new', 'file'))).toBeUndefined();
    expect(await escape(where, join(stack, '..', 'x'))).toEqual({ how: 'lexical' });
    expect(await escape(where, join(stack, 'away', 'not-yet'))).toEqual({
      how: 'real',
      real: join(root, 'out', 'not-yet'),
    });
    expect(escapeSync(confinementSync(stack), join(stack, 'away'))).toEqual({
      how: 'real',
      real: join(root, 'out'),
    });
  });

  it('compares real path with real path when the root is reached through a link', async () => {
    await mkdir(join(root, 'real', 'stack'), { recursive: true });
    await writeFile(join(root, 'real', 'stack', 'f'), 'x');
    await symlink(join(root, 'real'), join(root, 'alias'));
    const where = await confinement(join(root, 'alias', 'stack'));
    expect(await escape(where, join(root, 'alias', 'stack', 'f'))).toBeUndefined();
  });
});

describe('bounded reads', () => {
  const refuse = (detail: string, tooLarge: boolean): Error =>
    new Error(`${tooLarge ? 'large' : 'other'}: ${detail}`);

  it('reads a file up to the cap and refuses one above it', async () => {
    const file = join(root, 'f');
    await writeFile(file, 'abcd');
    expect(readBoundedFileSync(file, 'file', refuse, 4)).toBe('abcd');
    expect(await readBoundedFile(file, 'file', refuse, 4)).toBe('abcd');
    expect(() => readBoundedFileSync(file, 'env file', refuse, 3)).toThrow(
      `large: env file ${file} is too large: 4 bytes, the limit is 3 bytes`,
    );
    await expect(readBoundedFile(file, 'file', refuse, 3)).rejects.toThrow(/^large: /);
  });

  it('refuses a named pipe at once instead of waiting for a writer', async () => {
    const fifo = join(root, 'pipe');
    execFileSync('mkfifo', [fifo]);
    expect(() => readBoundedFileSync(fifo, 'env file', refuse)).toThrow(
      `other: env file ${fifo} is not a regular file`,
    );
    await expect(readBoundedFile(fifo, 'file', refuse)).rejects.toThrow(/not a regular file/);
  });

  it('passes file system errors through', () => {
    let code: unknown;
    try {
      readBoundedFileSync(join(root, 'missing'), 'file', refuse);
    } catch (err) {
      code = (err as NodeJS.ErrnoException).code;
    }
    expect(code).toBe('ENOENT');
  });
});
