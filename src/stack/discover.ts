import { stat } from 'node:fs/promises';
import { basename, relative, resolve } from 'node:path';
import fg from 'fast-glob';
import { confinement, escape, type Confinement } from '../containment.js';
import { BerthError, StackError } from '../errors.js';
import { findComposeFile } from '../compose/load.js';
import { SKIPPED_FOLDERS, hashStackFolder } from './hash.js';
import { readDeploySettings } from './settings.js';
import type { BrokenStack, DiscoveredStack, Discovery, SettingsDefaults } from './types.js';

/** A Compose project name: refused rather than normalized, so the name in git is the name on Docker. */
export const STACK_NAME = /^[a-z0-9][a-z0-9_-]*$/;

interface Candidate {
  name: string;
  dir: string;
  relPath: string;
  composeFile: string;
  /** The folder is a symbolic link: never a stack, whatever it points to. */
  link: boolean;
}

function asBerthError(err: unknown, candidate: Candidate): BerthError {
  if (err instanceof BerthError) return err;
  return new StackError('StackUnreadable', `cannot read stack folder ${candidate.relPath}`, {
    cause: err,
    place: { stack: candidate.name, file: candidate.dir },
  });
}

/**
 * A stack is a real folder inside the source: a symbolic link (or a folder reached through one
 * out of the source) would make berth read, hash and copy files from anywhere on the host.
 */
async function outsideSource(
  candidate: Candidate,
  source: Confinement,
): Promise<BerthError | undefined> {
  const { name, dir, relPath } = candidate;
  const place = { stack: name, file: dir };
  if (candidate.link)
    return new StackError(
      'StackFolderIsLink',
      `stack folder ${relPath} is a symbolic link; a stack must be a real folder inside the repository`,
      { place },
    );
  const where = await escape(source, dir);
  if (where === undefined) return undefined;
  const real = where.how === 'real' ? where.real : dir;
  return new StackError(
    'StackFolderIsLink',
    `stack folder ${relPath} resolves to ${real}, outside the source folder ${source.root}`,
    { place },
  );
}

async function inspect(
  candidate: Candidate,
  source: Confinement,
  defaults: SettingsDefaults,
  methods: readonly string[],
): Promise<DiscoveredStack | BrokenStack> {
  const { name, dir, link: _link, ...rest } = candidate;
  const refused = await outsideSource(candidate, source);
  if (refused !== undefined) return { name, dir, error: refused };
  let version: string;
  try {
    version = await hashStackFolder(dir);
  } catch (err) {
    return { name, dir, error: asBerthError(err, candidate) };
  }
  try {
    const settings = await readDeploySettings(dir, candidate.composeFile, defaults, methods);
    return { name, dir, ...rest, version, settings };
  } catch (err) {
    return { name, dir, version, error: asBerthError(err, candidate) };
  }
}

async function isFolder(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}

/**
 * Finds the stacks under `root`: folders matched by the `paths` globs that hold a compose file.
 * Bad names, duplicate names, linked stack folders, escaping links and bad settings make only
 * those stacks broken.
 */
export async function discoverStacks(
  root: string,
  paths: string[],
  defaults: SettingsDefaults,
  /** The deploy methods there are (the strategy registry's names). */
  methods: readonly string[],
): Promise<Discovery> {
  const absRoot = resolve(root);
  const source = await confinement(absRoot);
  // Links are listed, not followed: a linked folder that looks like a stack is reported broken.
  const entries = await fg(paths, {
    cwd: absRoot,
    onlyFiles: false,
    followSymbolicLinks: false,
    objectMode: true,
    absolute: true,
    unique: true,
    ignore: SKIPPED_FOLDERS.flatMap((folder) => [`**/${folder}`, `**/${folder}/**`]),
  });

  const candidates = (
    await Promise.all(
      entries.map(async ({ path: dir, dirent }): Promise<Candidate | undefined> => {
        const link = dirent.isSymbolicLink();
        if (!dirent.isDirectory() && !(link && (await isFolder(dir)))) return undefined;
        const composeFile = await findComposeFile(dir);
        if (composeFile === undefined) return undefined;
        const relPath = relative(absRoot, dir).split('\\').join('/') || '.';
        return { name: basename(dir), dir, relPath, composeFile, link };
      }),
    )
  ).filter((c): c is Candidate => c !== undefined);

  const byName = new Map<string, Candidate[]>();
  for (const candidate of candidates) {
    const group = byName.get(candidate.name) ?? [];
    group.push(candidate);
    byName.set(candidate.name, group);
  }

  const broken: BrokenStack[] = [];
  const valid: Candidate[] = [];
  for (const [name, group] of byName) {
    if (!STACK_NAME.test(name)) {
      for (const c of group)
        broken.push({
          name,
          dir: c.dir,
          error: new StackError(
            'InvalidStackName',
            `stack folder ${c.relPath}: "${name}" is not a valid stack name (lowercase letters, digits, "-" and "_", starting with a letter or digit)`,
            { place: { stack: name, file: c.dir } },
          ),
        });
    } else if (group.length > 1) {
      const folders = group.map((c) => c.relPath).sort();
      for (const c of group)
        broken.push({
          name,
          dir: c.dir,
          error: new StackError(
            'DuplicateStackName',
            `stack name "${name}" is used by several folders: ${folders.join(', ')}`,
            { place: { stack: name, file: c.dir } },
          ),
        });
    } else valid.push(...group);
  }

  const stacks: DiscoveredStack[] = [];
  for (const result of await Promise.all(valid.map((c) => inspect(c, source, defaults, methods)))) {
    if ('error' in result) broken.push(result);
    else stacks.push(result);
  }
  stacks.sort((a, b) => a.name.localeCompare(b.name));
  broken.sort((a, b) => a.name.localeCompare(b.name) || a.dir.localeCompare(b.dir));
  return { stacks, broken };
}
