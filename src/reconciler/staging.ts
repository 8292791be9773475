import { randomBytes } from 'node:crypto';
import { cp, lstat, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { StackError } from '../errors.js';
import { VERSION_FILE, formatVersionFile, parseVersionFile } from '../state/folders.js';
import type { VersionRef } from '../state/types.js';

export interface StageOptions {
  /** The copy is of running_stacks/ or good_stacks/: berth's version.txt goes, its pins stay. */
  dropVersionFile?: boolean;
  /**
   * Image updates: the version and its image digests, written as the copy's version.txt, so the
   * pins travel with the files into running_stacks/ and good_stacks/ (see putRunning).
   */
  pins?: VersionRef;
}

/**
 * Private copies of the files a queued request deploys, in `<dataDir>/staging/`: a later sync
 * moves the checkout, and a rollback's strategy may overwrite good_stacks, so a request never
 * deploys from a folder someone else can change while it waits. Links are copied as links
 * (their own text), as running_stacks/ keeps them. Hooks run in this copy, never in the
 * checkout. A folder that is itself a link is refused: copied verbatim it would stay a link to
 * wherever it points.
 */
export async function stageCopy(
  stagingDir: string,
  stack: string,
  from: string,
  options: StageOptions = {},
): Promise<string> {
  if ((await lstat(from)).isSymbolicLink())
    throw new StackError('StackFolderIsLink', `stack folder ${from} is a symbolic link`, {
      place: { stack, file: from },
    });
  const scratch = path.join(stagingDir, `${stack}-${randomBytes(6).toString('hex')}`);
  await mkdir(scratch, { recursive: true, mode: 0o700 });
  // The folder keeps the stack's name: hooks and relative paths see what they would in git.
  const dir = path.join(scratch, stack);
  try {
    await cp(from, dir, {
      recursive: true,
      verbatimSymlinks: true,
      preserveTimestamps: true,
      filter: (source) => path.basename(source) !== '.git',
    });
    // Copies of running_stacks/ or good_stacks/ carry berth's own version.txt.
    if (options.dropVersionFile === true) await dropVersionFile(dir);
    if (options.pins !== undefined) await writePins(dir, options.pins);
  } catch (err) {
    await rm(scratch, { recursive: true, force: true });
    throw err;
  }
  return dir;
}

/**
 * Removes berth's version.txt from a copy, unless it pins image digests: then the version being
 * brought back must deploy with them, and the file, written by berth for this very version,
 * stays to say so.
 */
async function dropVersionFile(dir: string): Promise<void> {
  const file = path.join(dir, VERSION_FILE);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  if (parseVersionFile(text)?.images === undefined) await rm(file, { force: true });
}

async function writePins(dir: string, pins: VersionRef): Promise<void> {
  if (pins.images === undefined || Object.keys(pins.images).length === 0) return;
  await writeFile(path.join(dir, VERSION_FILE), formatVersionFile(pins), { mode: 0o600 });
}

/** The image digests a staged copy pins for `version` (image updates); none without pins. */
export async function stagedPins(
  dir: string,
  version: string,
): Promise<Record<string, string> | undefined> {
  try {
    const ref = parseVersionFile(await readFile(path.join(dir, VERSION_FILE), 'utf8'));
    return ref?.version === version ? ref.images : undefined;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** Removes a copy made by stageCopy. */
export async function dropStaged(dir: string): Promise<void> {
  await rm(path.dirname(dir), { recursive: true, force: true }).catch(() => undefined);
}

/** Leftovers of a process that died: only the data dir's lock holder calls this. */
export async function clearStaging(stagingDir: string): Promise<void> {
  await rm(stagingDir, { recursive: true, force: true });
  await mkdir(stagingDir, { recursive: true, mode: 0o700 });
}
