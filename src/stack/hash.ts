import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile, readlink, realpath } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { pipeline } from 'node:stream/promises';
import fg from 'fast-glob';
import { StackError } from '../errors.js';
import { createLimiter } from './limit.js';

/** Folders that are never part of a stack's version. */
export const SKIPPED_FOLDERS = ['.git'] as const;

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

async function digestFile(file: string, size: number): Promise<string> {
  return readLimit(async () => {
    const hash = createHash('sha256');
    if (size > STREAM_ABOVE_BYTES) await pipeline(createReadStream(file), hash);
    else hash.update(await readFile(file));
    return hash.digest('hex');
  });
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
 * symbolic link contributes its target text instead, never what it points to. Modes and times
 * are left out so a fresh clone gives the same version.
 */
export async function hashStackFolder(dir: string, repoRoot: string): Promise<string> {
  const root = resolve(repoRoot);
  const realRoot = await realpath(root).catch(() => root);
  const entries = await fg('**', {
    cwd: dir,
    dot: true,
    onlyFiles: false,
    followSymbolicLinks: false,
    objectMode: true,
    stats: true,
    ignore: SKIPPED_FOLDERS.flatMap((name) => [`**/${name}`, `**/${name}/**`]),
  });
  const parts = await Promise.all(
    entries.map(async (entry): Promise<[string, string] | undefined> => {
      const abs = join(dir, entry.path);
      if (entry.dirent.isSymbolicLink())
        return [entry.path, `l\0${entry.path}\0${await linkTarget(abs, root, realRoot)}\n`];
      if (entry.dirent.isFile())
        return [entry.path, `f\0${entry.path}\0${await digestFile(abs, entry.stats?.size ?? 0)}\n`];
      // Folders count through their files; sockets and pipes are not content.
      return undefined;
    }),
  );
  const hash = createHash('sha256');
  for (const part of parts
    .filter((p): p is [string, string] => p !== undefined)
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)))
    hash.update(part[1]);
  return hash.digest('hex');
}
