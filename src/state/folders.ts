import { randomBytes } from 'node:crypto';
import { cp, mkdir, open, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { systemClock, type Clock } from '../clock.js';
import { BerthError, StateError } from '../errors.js';
import { makePrivateDir } from './private.js';
import type { StackFolders, VersionRef } from './types.js';

export const VERSION_FILE = 'version.txt';
const RUNNING = 'running_stacks';
const GOOD = 'good_stacks';
const SKIPPED = new Set(['.git']);

export interface StackFoldersOptions {
  clock?: Clock;
}

/**
 * Reads version.txt: `commit=<sha>` and `version=<hash>` lines, and one `image=<ref>@<digest>`
 * line per image the version pins (image updates); seed 002 wrote only the bare commit, which
 * is read as the commit with an empty version.
 */
export function parseVersionFile(text: string): VersionRef | undefined {
  let commit: string | undefined;
  let version: string | undefined;
  const images: Record<string, string> = {};
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([A-Za-z_]+)\s*[=:]\s*(.*)$/.exec(line);
    if (match === null) {
      commit ??= line;
      continue;
    }
    const key = (match[1] ?? '').toLowerCase();
    const value = (match[2] ?? '').trim();
    if (key === 'commit') commit = value;
    else if (key === 'version') version = value;
    else if (key === 'image') addPin(images, value);
  }
  if (commit === undefined && version === undefined) return undefined;
  const ref: VersionRef = { commit: commit ?? '', version: version ?? '' };
  if (Object.keys(images).length > 0) ref.images = images;
  return ref;
}

/** `<ref>@<digest>`: a tracked reference never holds an `@`, so the last one splits it. */
function addPin(images: Record<string, string>, value: string): void {
  const at = value.lastIndexOf('@');
  if (at <= 0 || at === value.length - 1) return;
  images[value.slice(0, at)] = value.slice(at + 1);
}

export function formatVersionFile(ref: VersionRef): string {
  const pins = Object.entries(ref.images ?? {})
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([image, digest]) => `image=${image}@${digest}\n`);
  return `commit=${ref.commit}\nversion=${ref.version}\n${pins.join('')}`;
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

async function fsyncPath(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Flushes every file and folder of a tree, so a rename after it publishes complete content. */
async function fsyncTree(dir: string): Promise<void> {
  const entries = await readdir(dir, { withFileTypes: true });
  await Promise.all(
    entries.map(async (entry) => {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) await fsyncTree(path);
      else if (entry.isFile()) await fsyncPath(path);
    }),
  );
  await fsyncPath(dir);
}

function checkStackName(stack: string): void {
  if (
    stack === '' ||
    stack === '.' ||
    stack === '..' ||
    stack.startsWith('.') ||
    /[/\\]/.test(stack)
  )
    throw new StateError('InvalidStackName', `"${stack}" cannot name a stack folder`, {
      place: { stack },
    });
}

/** `.<stack>.tmp-<suffix>` (half-built copy) or `.<stack>.old-<suffix>` (moved aside). */
const LEFTOVER = /^\.(.+)\.(tmp|old)-[^./\\]*$/;

async function listNames(parent: string): Promise<string[]> {
  try {
    return await readdir(parent);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

async function changedAt(path: string): Promise<number> {
  try {
    return (await stat(path)).ctimeMs;
  } catch {
    return 0;
  }
}

/**
 * A stack's leftovers in `parent`; `old` oldest first. A rename sets a folder's ctime, so the
 * last one was moved aside last.
 */
async function leftovers(parent: string, stack: string): Promise<{ tmp: string[]; old: string[] }> {
  const tmp: string[] = [];
  const old: { name: string; at: number }[] = [];
  for (const name of await listNames(parent)) {
    const match = LEFTOVER.exec(name);
    if (match?.[1] !== stack) continue;
    if (match[2] === 'tmp') tmp.push(name);
    else old.push({ name, at: await changedAt(join(parent, name)) });
  }
  old.sort((a, b) => a.at - b.at || a.name.localeCompare(b.name));
  return { tmp, old: old.map((o) => o.name) };
}

async function stacksWithLeftovers(parent: string): Promise<string[]> {
  const stacks = new Set<string>();
  for (const name of await listNames(parent)) {
    const stack = LEFTOVER.exec(name)?.[1];
    if (stack !== undefined && !stack.startsWith('.')) stacks.add(stack);
  }
  return [...stacks].sort();
}

/**
 * running_stacks/<stack>/ and good_stacks/<stack>/ under the data directory. Every change is
 * built beside the target (same filesystem), flushed, then renamed into place; a crash leaves
 * either the old or the new folder complete. Reads never write: they see through a swap cut
 * short. Writes repair their stack's leftovers first, and repairAll() every stack's; the data
 * dir lock (lock.ts) makes sure only one process writes.
 */
export function createStackFolders(
  dataDir: string,
  options: StackFoldersOptions = {},
): StackFolders {
  const clock = options.clock ?? systemClock;
  const locks = new Map<string, Promise<unknown>>();

  function runningDir(stack: string): string {
    checkStackName(stack);
    return join(dataDir, RUNNING, stack);
  }

  function goodDir(stack: string): string {
    checkStackName(stack);
    return join(dataDir, GOOD, stack);
  }

  /** One operation per stack at a time: two swaps of the same folder must not interleave. */
  function serialized<T>(stack: string, operation: string, fn: () => Promise<T>): Promise<T> {
    checkStackName(stack);
    const previous = locks.get(stack) ?? Promise.resolve();
    const next = previous.then(
      () => guard(stack, operation, fn),
      () => guard(stack, operation, fn),
    );
    locks.set(stack, next);
    void next
      .finally(() => {
        if (locks.get(stack) === next) locks.delete(stack);
      })
      .catch(() => undefined);
    return next;
  }

  async function guard<T>(stack: string, operation: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof BerthError) throw err;
      throw new StateError('StackFolderFailed', `${operation} of stack ${stack} failed`, {
        cause: err,
        place: { stack },
      });
    }
  }

  /**
   * Removes half-built copies and puts back a folder that was moved aside but not replaced.
   * Writers only: a reader in another process would delete a live writer's half-built copy.
   */
  async function recover(target: string): Promise<void> {
    const parent = join(target, '..');
    const { tmp, old } = await leftovers(parent, basename(target));
    await Promise.all(tmp.map((n) => rm(join(parent, n), { recursive: true, force: true })));
    const restore = old.at(-1);
    if (restore !== undefined && !(await exists(target))) {
      await rename(join(parent, restore), target);
      await fsyncPath(parent);
      old.pop();
    }
    await Promise.all(old.map((n) => rm(join(parent, n), { recursive: true, force: true })));
  }

  /** Where putRunning's keepPrevious parks the replaced folder (a dot name no stack can have). */
  function previousDir(stack: string): string {
    checkStackName(stack);
    return join(dataDir, RUNNING, `.${stack}.previous`);
  }

  /**
   * Builds a new folder beside `target` and renames it into place. With `keep`, the replaced
   * folder is renamed to `keep` instead of deleted: the same inode, so containers that
   * bind-mount files from it go on seeing them.
   */
  async function swapIn(
    target: string,
    build: (tmp: string) => Promise<void>,
    keep?: string,
  ): Promise<void> {
    const parent = join(target, '..');
    const stack = basename(target);
    await makePrivateDir(parent);
    await recover(target);
    const suffix = randomBytes(6).toString('hex');
    const tmp = join(parent, `.${stack}.tmp-${suffix}`);
    try {
      await build(tmp);
      await fsyncTree(tmp);
    } catch (err) {
      await rm(tmp, { recursive: true, force: true });
      throw err;
    }
    const old = join(parent, `.${stack}.old-${suffix}`);
    const hadTarget = await exists(target);
    if (keep !== undefined) await rm(keep, { recursive: true, force: true });
    if (hadTarget) await rename(target, old);
    await rename(tmp, target);
    if (hadTarget && keep !== undefined) await rename(old, keep);
    await fsyncPath(parent);
    if (hadTarget && keep === undefined) await rm(old, { recursive: true, force: true });
  }

  async function copyTree(from: string, to: string): Promise<void> {
    // verbatimSymlinks: links stay links with their own text; modes are kept by fs.cp.
    await cp(from, to, {
      recursive: true,
      verbatimSymlinks: true,
      preserveTimestamps: true,
      errorOnExist: true,
      force: false,
      filter: (source) => !SKIPPED.has(basename(source)),
    });
  }

  async function readVersion(dir: string): Promise<VersionRef | undefined> {
    try {
      return parseVersionFile(await readFile(join(dir, VERSION_FILE), 'utf8'));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  /**
   * The image pins travel with the files: a copy staged for this version carries them in its
   * version.txt, and the caller's ref (the strategy's) does not. A version.txt of the user's
   * own cannot name the folder's version, which is a hash over that very file.
   */
  async function withStagedPins(ref: VersionRef, copy: string): Promise<VersionRef> {
    if (ref.images !== undefined) return ref;
    const staged = await readVersion(copy);
    if (staged?.images === undefined || staged.version !== ref.version) return ref;
    return { ...ref, images: staged.images };
  }

  /**
   * The version published at `target`, without changing anything. When the target is missing
   * but a folder was moved aside for a swap (in flight in the writer, or cut short by a crash),
   * that folder is what recover() would put back, so its version is the published one.
   */
  async function readPublished(target: string): Promise<VersionRef | undefined> {
    const parent = join(target, '..');
    // A writer may move the aside folder away between our looks; a few retries see it settle.
    for (let attempt = 0; attempt < 3; attempt++) {
      const ref = await readVersion(target);
      if (ref !== undefined || (await exists(target))) return ref;
      const aside = (await leftovers(parent, basename(target))).old.at(-1);
      if (aside === undefined) return undefined;
      const asideRef = await readVersion(join(parent, aside));
      if (asideRef !== undefined) return asideRef;
    }
    return undefined;
  }

  async function moveAway(target: string): Promise<void> {
    await recover(target);
    if (!(await exists(target))) return;
    const parent = join(target, '..');
    const old = join(parent, `.${basename(target)}.old-${randomBytes(6).toString('hex')}`);
    await rename(target, old);
    await fsyncPath(parent);
    await rm(old, { recursive: true, force: true });
  }

  return {
    runningDir,
    goodDir,

    putRunning(stack, from, ref, options = {}): Promise<void> {
      return serialized(stack, 'putRunning', () =>
        swapIn(
          runningDir(stack),
          async (tmp) => {
            await copyTree(from, tmp);
            const pinned = await withStagedPins(ref, tmp);
            await writeFile(join(tmp, VERSION_FILE), formatVersionFile(pinned));
          },
          options.keepPrevious === true ? previousDir(stack) : undefined,
        ),
      );
    },

    readPreviousVersion(stack): Promise<VersionRef | undefined> {
      return serialized(stack, 'readPreviousVersion', () => readVersion(previousDir(stack)));
    },

    restorePrevious(stack): Promise<boolean> {
      return serialized(stack, 'restorePrevious', async () => {
        const previous = previousDir(stack);
        if (!(await exists(previous))) return false;
        const target = runningDir(stack);
        await recover(target);
        const parent = join(target, '..');
        const old = join(parent, `.${stack}.old-${randomBytes(6).toString('hex')}`);
        const hadTarget = await exists(target);
        if (hadTarget) await rename(target, old);
        await rename(previous, target);
        await fsyncPath(parent);
        if (hadTarget) await rm(old, { recursive: true, force: true });
        return true;
      });
    },

    dropPrevious(stack): Promise<void> {
      return serialized(stack, 'dropPrevious', () =>
        rm(previousDir(stack), { recursive: true, force: true }),
      );
    },

    snapshotGood(stack): Promise<void> {
      return serialized(stack, 'snapshotGood', async () => {
        const source = runningDir(stack);
        await recover(source);
        if (!(await exists(source)))
          throw new StateError(
            'RunningMissing',
            `stack ${stack} has no running_stacks folder to snapshot`,
            {
              place: { stack, file: source },
            },
          );
        await swapIn(goodDir(stack), (tmp) => copyTree(source, tmp));
      });
    },

    restoreGood(stack): Promise<void> {
      return serialized(stack, 'restoreGood', async () => {
        const source = goodDir(stack);
        await recover(source);
        if (!(await exists(source)))
          throw new StateError('GoodMissing', `stack ${stack} has no good version to restore`, {
            place: { stack, file: source },
          });
        await swapIn(runningDir(stack), (tmp) => copyTree(source, tmp));
      });
    },

    readRunningVersion(stack): Promise<VersionRef | undefined> {
      return serialized(stack, 'readRunningVersion', () => readPublished(runningDir(stack)));
    },

    readGoodVersion(stack): Promise<VersionRef | undefined> {
      return serialized(stack, 'readGoodVersion', () => readPublished(goodDir(stack)));
    },

    async repairAll(): Promise<void> {
      for (const folder of [RUNNING, GOOD]) {
        const parent = join(dataDir, folder);
        for (const stack of await stacksWithLeftovers(parent))
          await serialized(stack, 'repair', () => recover(join(parent, stack)));
      }
    },

    clearRunning(stack): Promise<void> {
      return serialized(stack, 'clearRunning', () => moveAway(runningDir(stack)));
    },

    archive(stack): Promise<string> {
      return serialized(stack, 'archive', async () => {
        const base = join(dataDir, 'archive');
        await makePrivateDir(base);
        const stamp = new Date(clock.now()).toISOString().replace(/[:.]/g, '-');
        let dest = join(base, `${stack}-${stamp}`);
        for (let n = 1; ; n++) {
          try {
            await mkdir(dest);
            break;
          } catch (err) {
            if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
            dest = join(base, `${stack}-${stamp}-${n}`);
          }
        }
        for (const [folder, dir] of [
          [RUNNING, runningDir(stack)],
          [GOOD, goodDir(stack)],
        ] as const) {
          await recover(dir);
          if (await exists(dir)) {
            await rename(dir, join(dest, folder));
            await fsyncPath(join(dir, '..'));
          }
        }
        await rm(previousDir(stack), { recursive: true, force: true });
        await fsyncPath(dest);
        return dest;
      });
    },
  };
}
