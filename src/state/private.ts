import { chmodSync, closeSync, mkdirSync, openSync, statSync } from 'node:fs';
import { chmod, mkdir } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import type { Logger } from '../log.js';

/**
 * berth's data dir holds its state, the copies of every stack and the lock: nobody else may
 * read or change them. Modes are set with chmod after creation, so the process umask (0o000
 * in some containers) never decides them.
 */
export const PRIVATE_DIR_MODE = 0o700;
export const PRIVATE_FILE_MODE = 0o600;

/** Folders inside the data dir that keep berth's copies of the stacks. */
const PRIVATE_SUBDIRS = ['running_stacks', 'good_stacks', 'staging', 'archive'];

function errno(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException).code;
}

/**
 * Sets `mode` on a file or folder this process's user owns when it is not already so; returns
 * the mode it had when it was changed. Missing paths and those of another user are left alone.
 */
export function tightenSync(path: string, mode: number): number | undefined {
  let info;
  try {
    info = statSync(path);
  } catch (err) {
    if (errno(err) === 'ENOENT') return undefined;
    throw err;
  }
  const was = info.mode & 0o777;
  if (was === mode || info.uid !== process.getuid?.()) return undefined;
  chmodSync(path, mode);
  return was;
}

/** The folders a recursive mkdir of `dir` created: from `dir` up to the first one it made. */
function createdChain(dir: string, first: string | undefined): string[] {
  if (first === undefined) return [];
  const top = resolve(first);
  const chain: string[] = [];
  for (let at = resolve(dir); ; at = dirname(at)) {
    chain.push(at);
    if (at === top || dirname(at) === at) return chain;
  }
}

/**
 * Creates a folder (and missing parents) 0700. An existing one keeps its mode: tightening
 * what is there is secureDataDir's, which says so in the log.
 */
export function makePrivateDirSync(dir: string): void {
  const first = mkdirSync(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
  for (const created of createdChain(dir, first)) chmodSync(created, PRIVATE_DIR_MODE);
}

/** makePrivateDirSync for async callers. */
export async function makePrivateDir(dir: string): Promise<void> {
  const first = await mkdir(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
  for (const created of createdChain(dir, first)) await chmod(created, PRIVATE_DIR_MODE);
}

/**
 * Creates an empty file 0600 unless it exists; an existing one is tightened. An existing file
 * is never opened: closing any descriptor of a SQLite file drops this process's locks on it.
 */
export function makePrivateFileSync(file: string): void {
  try {
    closeSync(openSync(file, 'wx', PRIVATE_FILE_MODE));
  } catch (err) {
    if (errno(err) !== 'EEXIST') throw err;
  }
  tightenSync(file, PRIVATE_FILE_MODE);
}

/**
 * Tightens a data dir that an older berth (or a permissive umask) left open, with its copies
 * of the stacks, and says so once: the next call finds nothing to change.
 */
export function secureDataDir(dataDir: string, logger: Logger): void {
  const was = tightenSync(dataDir, PRIVATE_DIR_MODE);
  for (const name of PRIVATE_SUBDIRS) tightenSync(join(dataDir, name), PRIVATE_DIR_MODE);
  if (was !== undefined)
    logger.warn(
      { dataDir, mode: `0${was.toString(8)}`, now: '0700' },
      'data dir was open to other users; tightened',
    );
}
