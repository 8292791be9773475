import { realpathSync } from 'node:fs';
import { realpath } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, relative, sep } from 'node:path';

/**
 * A stack is its folder: whatever the repository names (a link, a compose file's path, a hook)
 * must stay inside it. These checks are shared by discovery, hashing, the compose loader and the
 * hook runner, so every one of them draws the line at the same place.
 */

/** Whether `path` is `root` or below it, comparing the paths as written (both absolute). */
export function isInside(root: string, path: string): boolean {
  const rel = relative(root, path);
  return rel === '' || (rel !== '..' && !rel.startsWith(`..${sep}`) && !isAbsolute(rel));
}

/**
 * The real path of `path`, or of its deepest existing ancestor with the rest appended: a path
 * that does not exist yet (a bind mount Docker creates, a dangling link) still leaves through a
 * link on its way.
 */
export function realPathLooseSync(path: string): string {
  try {
    return realpathSync.native(path);
  } catch {
    const parent = dirname(path);
    return parent === path ? path : join(realPathLooseSync(parent), basename(path));
  }
}

/** realPathLooseSync without blocking. */
export async function realPathLoose(path: string): Promise<string> {
  try {
    return await realpath(path);
  } catch {
    const parent = dirname(path);
    return parent === path ? path : join(await realPathLoose(parent), basename(path));
  }
}

/** How a path leaves its root: as written, or only once links are followed (`real`). */
export type Escape = { how: 'lexical' } | { how: 'real'; real: string };

/** A root to confine paths to, with its real path taken once. */
export interface Confinement {
  root: string;
  realRoot: string;
}

export function confinementSync(root: string): Confinement {
  return { root, realRoot: realPathLooseSync(root) };
}

export async function confinement(root: string): Promise<Confinement> {
  return { root, realRoot: await realPathLoose(root) };
}

/** Why an absolute `path` is outside the confinement, or undefined when it stays inside. */
export function escapeSync(where: Confinement, path: string): Escape | undefined {
  if (!isInside(where.root, path)) return { how: 'lexical' };
  const real = realPathLooseSync(path);
  return isInside(where.realRoot, real) ? undefined : { how: 'real', real };
}

/** escapeSync without blocking. */
export async function escape(where: Confinement, path: string): Promise<Escape | undefined> {
  if (!isInside(where.root, path)) return { how: 'lexical' };
  const real = await realPathLoose(path);
  return isInside(where.realRoot, real) ? undefined : { how: 'real', real };
}
