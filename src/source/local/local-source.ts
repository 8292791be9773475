import { createHash } from 'node:crypto';
import { readFile, readlink, stat } from 'node:fs/promises';
import path from 'node:path';
import fg from 'fast-glob';
import { SourceError } from '../../errors.js';
import type { SourceRevision, StackSource } from '../types.js';

export interface LocalSourceOptions {
  /** The folder holding the stacks, used in place (nothing is copied). */
  path: string;
  /**
   * Globs of stack folders (config `source.paths`). Only files under them go into the
   * revision hash, so a large or busy source root (a data dir inside it) does not matter.
   * Default: the whole folder.
   */
  paths?: string[];
}

/** The ref every local source reports. */
export const LOCAL_REF = 'local';

/**
 * A local folder as source. Its `commit` is a SHA-256 over the stack folders' files
 * (relative paths, contents, symlink targets; .git ignored), so it changes exactly when a
 * stack's files do. The ref is always `local`. There is no network, so current() and
 * sync() are the same reading of the folder.
 */
export function createLocalSource(options: LocalSourceOptions): StackSource {
  const dir = path.resolve(options.path);
  const patterns = (options.paths ?? ['.']).map((glob) =>
    glob === '.' || glob === '' ? '**' : `${glob.replace(/\/+$/, '')}/**`,
  );

  async function read(): Promise<SourceRevision> {
    const info = await stat(dir).catch(() => undefined);
    if (!info?.isDirectory())
      throw new SourceError('SourceMissing', `source folder ${dir} does not exist`, {
        transient: true,
        place: { file: dir, field: 'source.path' },
      });
    const entries = await fg(patterns, {
      cwd: dir,
      dot: true,
      onlyFiles: false,
      followSymbolicLinks: false,
      objectMode: true,
      ignore: ['**/.git/**'],
    });
    const files = entries
      .filter((entry) => !entry.dirent.isDirectory())
      .map((entry) => ({ rel: entry.path, link: entry.dirent.isSymbolicLink() }))
      .sort((a, b) => (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0));
    const hash = createHash('sha256');
    for (const file of files) {
      const full = path.join(dir, file.rel);
      hash.update(file.rel).update('\0');
      hash.update(file.link ? `link:${await readlink(full)}` : await readFile(full)).update('\0');
    }
    return { commit: hash.digest('hex'), ref: LOCAL_REF, dir };
  }

  return {
    sync: read,
    current: () => read().catch(() => undefined),
  };
}
