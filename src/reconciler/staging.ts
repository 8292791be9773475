import { randomBytes } from 'node:crypto';
import { cp, lstat, mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { StackError } from '../errors.js';

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
  options: { dropVersionFile?: boolean } = {},
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
    if (options.dropVersionFile === true) await rm(path.join(dir, 'version.txt'), { force: true });
  } catch (err) {
    await rm(scratch, { recursive: true, force: true });
    throw err;
  }
  return dir;
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
