import { createHash } from 'node:crypto';
import { open, readdir, readlink } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { confinement, escape, type Confinement } from '../containment.js';
import { StackError } from '../errors.js';
import { createLimiter } from './limit.js';

/** Folders that are never part of a stack's version. */
export const SKIPPED_FOLDERS: readonly string[] = ['.git'];

/**
 * One limiter for the whole process: a pass hashes every stack at once, and the open-file
 * count must stay bounded however many stacks there are.
 */
const readLimit = createLimiter(32);

/** Files above this size are streamed instead of read into memory at once. */
const STREAM_ABOVE_BYTES = 1024 * 1024;

/** The content digest, prefixed `x` for a file its owner may execute and `f` otherwise. */
async function digestFile(file: string): Promise<string> {
  return readLimit(async () => {
    const hash = createHash('sha256');
    const handle = await open(file, 'r');
    let kind: string;
    try {
      const stats = await handle.stat();
      // Git keeps the executable bit, so it is part of the version: a hook made executable is a change.
      kind = (stats.mode & 0o100) !== 0 ? 'x' : 'f';
      if (stats.size > STREAM_ABOVE_BYTES)
        await pipeline(handle.createReadStream({ autoClose: false }), hash);
      else hash.update(await handle.readFile());
    } finally {
      await handle.close();
    }
    return `${kind}\0${hash.digest('hex')}`;
  });
}

interface Entry {
  path: string;
  kind: 'file' | 'link';
}

/** Lists files and links under dir (posix relative paths), not entering skipped folders. */
async function walk(dir: string, prefix: string, out: Entry[]): Promise<void> {
  const entries = await readLimit(() => readdir(dir, { withFileTypes: true }));
  await Promise.all(
    entries.map(async (entry) => {
      const path = prefix === '' ? entry.name : `${prefix}/${entry.name}`;
      if (entry.isSymbolicLink()) out.push({ path, kind: 'link' });
      else if (entry.isFile()) out.push({ path, kind: 'file' });
      else if (entry.isDirectory() && !SKIPPED_FOLDERS.includes(entry.name))
        await walk(join(dir, entry.name), path, out);
      // Sockets and pipes are not content.
    }),
  );
}

/**
 * The link's text, once it is known to stay inside the stack folder: as written, and with every
 * link on the way followed (a link through another link, or through a folder that is one).
 */
async function linkTarget(link: string, stack: Confinement): Promise<string> {
  const target = await readLimit(() => readlink(link));
  const where = await escape(stack, resolve(dirname(link), target));
  if (where !== undefined) {
    const resolves = where.how === 'real' ? `, which resolves to ${where.real}` : '';
    throw new StackError(
      'SymlinkEscapesStack',
      `symbolic link ${link} points to ${target}${resolves}, outside the stack folder ${stack.root}`,
      { place: { stack: basename(stack.root), file: link } },
    );
  }
  return target;
}

/**
 * The stack's version: SHA-256 (hex) over its files in sorted relative-path order. Each file
 * contributes its posix relative path and the SHA-256 of its content (files are digested in
 * parallel, so the folder hash is taken over per-file digests rather than raw bytes); a
 * symbolic link contributes its target text instead, never what it points to. Times, owners
 * and permission bits other than the owner's executable bit are left out, so a fresh clone
 * gives the same version. A link whose target leaves the folder makes the stack invalid
 * (SymlinkEscapesStack): what it points to would be deployed without being versioned.
 */
export async function hashStackFolder(folder: string): Promise<string> {
  const dir = resolve(folder);
  const stack = await confinement(dir);
  const entries: Entry[] = [];
  await walk(dir, '', entries);
  const parts = await Promise.all(
    entries.map(async (entry): Promise<[string, string]> => {
      const abs = join(dir, entry.path);
      return entry.kind === 'link'
        ? [entry.path, `l\0${entry.path}\0${await linkTarget(abs, stack)}\n`]
        : [entry.path, `f\0${entry.path}\0${await digestFile(abs)}\n`];
    }),
  );
  const hash = createHash('sha256');
  for (const part of parts.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)))
    hash.update(part[1]);
  return hash.digest('hex');
}
