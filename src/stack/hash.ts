import { createHash } from 'node:crypto';
import { open, readdir, readlink, realpath } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { pipeline } from 'node:stream/promises';
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

function isInside(root: string, target: string): boolean {
  const rel = relative(root, target);
  return rel === '' || (!rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel));
}

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

async function linkTarget(link: string, repoRoot: string, realRoot: string): Promise<string> {
  const target = await readLimit(() => readlink(link));
  const resolved = resolve(dirname(link), target);
  let escapes = !isInside(repoRoot, resolved);
  if (!escapes) {
    // The lexical check can be fooled by a link through another link; the real path cannot.
    try {
      escapes = !isInside(realRoot, await realpath(link));
    } catch {
      // A dangling link whose text stays inside the repository is harmless.
    }
  }
  if (escapes)
    throw new StackError(
      'SymlinkEscapesRepository',
      `symbolic link ${link} points to ${target}, outside the repository`,
      { place: { file: link } },
    );
  return target;
}

/**
 * The stack's version: SHA-256 (hex) over its files in sorted relative-path order. Each file
 * contributes its posix relative path and the SHA-256 of its content (files are digested in
 * parallel, so the folder hash is taken over per-file digests rather than raw bytes); a
 * symbolic link contributes its target text instead, never what it points to. Times, owners
 * and permission bits other than the owner's executable bit are left out, so a fresh clone
 * gives the same version.
 */
export async function hashStackFolder(dir: string, repoRoot: string): Promise<string> {
  const root = resolve(repoRoot);
  const realRoot = await realpath(root).catch(() => root);
  const entries: Entry[] = [];
  await walk(dir, '', entries);
  const parts = await Promise.all(
    entries.map(async (entry): Promise<[string, string]> => {
      const abs = join(dir, entry.path);
      return entry.kind === 'link'
        ? [entry.path, `l\0${entry.path}\0${await linkTarget(abs, root, realRoot)}\n`]
        : [entry.path, `f\0${entry.path}\0${await digestFile(abs)}\n`];
    }),
  );
  const hash = createHash('sha256');
  for (const part of parts.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)))
    hash.update(part[1]);
  return hash.digest('hex');
}
