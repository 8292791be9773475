import { access, stat } from 'node:fs/promises';
import { basename, join, relative, resolve } from 'node:path';
import fg from 'fast-glob';
import { confinement, escape, type Confinement } from '../containment.js';
import { BerthError, StackError } from '../errors.js';
import { findComposeFile, findComposeFiles } from '../compose/load.js';
import { SKIPPED_FOLDERS, hashStackFolder } from './hash.js';
import { readDeploySettings } from './settings.js';
import {
  STACK_NAME,
  type BrokenStack,
  type DiscoveredStack,
  type Discovery,
  type SettingsDefaults,
} from './types.js';

export { STACK_NAME };

interface Candidate {
  /** The folder's name: the stack's unless its settings give a projectName. */
  name: string;
  dir: string;
  relPath: string;
  /** The compose file found by name, whose x-berth or comment block may hold the settings. */
  composeFile: string | undefined;
  /** The folder is a symbolic link: never a stack, whatever it points to. */
  link: boolean;
}

/** What inspecting a candidate gives: a stack, a broken one, or nothing (no compose file). */
type Inspected =
  | { stack: DiscoveredStack; relPath: string }
  | { broken: BrokenStack; relPath: string }
  | undefined;

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
): Promise<Inspected> {
  const { name, dir, relPath } = candidate;
  const broken = (error: BerthError, version?: string): Inspected => ({
    broken: { name, dir, ...(version === undefined ? {} : { version }), error },
    relPath,
  });
  const refused = await outsideSource(candidate, source);
  if (refused !== undefined) return broken(refused);
  let version: string;
  try {
    version = await hashStackFolder(dir);
  } catch (err) {
    return broken(asBerthError(err, candidate));
  }
  try {
    const settings = await readDeploySettings(dir, candidate.composeFile, defaults, methods);
    const selected = settings.compose.files?.map((file) => resolve(dir, file));
    const composeFiles = selected ?? (await findComposeFiles(dir));
    // A deploy.yaml that selects no compose file, in a folder without one: not a stack.
    if (composeFiles.length === 0) return undefined;
    const stackName = settings.compose.projectName ?? name;
    return { stack: { name: stackName, dir, relPath, composeFiles, version, settings }, relPath };
  } catch (err) {
    return broken(asBerthError(err, candidate), version);
  }
}

async function isFolder(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}

async function hasDeployFile(dir: string): Promise<boolean> {
  for (const name of ['deploy.yaml', 'deploy.yml']) {
    try {
      await access(join(dir, name));
      return true;
    } catch {
      // not this one
    }
  }
  return false;
}

/** A folder matched by the globs that holds a compose file, or a deploy file that may name one. */
async function candidateAt(
  absRoot: string,
  dir: string,
  dirent: { isDirectory(): boolean; isSymbolicLink(): boolean },
): Promise<Candidate | undefined> {
  const link = dirent.isSymbolicLink();
  if (!dirent.isDirectory() && !(link && (await isFolder(dir)))) return undefined;
  const composeFile = await findComposeFile(dir);
  if (composeFile === undefined && !(await hasDeployFile(dir))) return undefined;
  const relPath = relative(absRoot, dir).split('\\').join('/') || '.';
  return { name: basename(dir), dir, relPath, composeFile, link };
}

/**
 * Stacks by name: a name that is no stack name, or one several folders claim (a folder's name
 * or a projectName), makes each of them broken, the error naming every such folder.
 */
function byName(inspected: NonNullable<Inspected>[]): Discovery {
  const groups = new Map<string, NonNullable<Inspected>[]>();
  for (const entry of inspected) {
    const name = 'stack' in entry ? entry.stack.name : entry.broken.name;
    groups.set(name, [...(groups.get(name) ?? []), entry]);
  }
  const stacks: DiscoveredStack[] = [];
  const broken: BrokenStack[] = [];
  for (const [name, group] of groups) {
    const folders = group.map((entry) => entry.relPath).sort();
    for (const entry of group) {
      const { dir, version } = 'stack' in entry ? entry.stack : entry.broken;
      const place = { stack: name, file: dir };
      const keep = version === undefined ? {} : { version };
      const valid = STACK_NAME.test(name);
      if (valid && group.length > 1) {
        const error = new StackError(
          'DuplicateStackName',
          `stack name "${name}" is used by several folders: ${folders.join(', ')}`,
          { place },
        );
        broken.push({ name, dir, ...keep, error });
      } else if ('broken' in entry) broken.push(entry.broken);
      else if (!valid) {
        const error = new StackError(
          'InvalidStackName',
          `stack folder ${entry.relPath}: "${name}" is not a valid stack name (lowercase letters, digits, "-" and "_", starting with a letter or digit); rename the folder or set projectName in its deploy settings`,
          { place },
        );
        broken.push({ name, dir, ...keep, error });
      } else stacks.push(entry.stack);
    }
  }
  stacks.sort((a, b) => a.name.localeCompare(b.name));
  broken.sort((a, b) => a.name.localeCompare(b.name) || a.dir.localeCompare(b.dir));
  return { stacks, broken };
}

/**
 * Finds the stacks under `root`: folders matched by the `paths` globs that hold a compose file
 * (or whose deploy settings select compose files). A stack is named by its settings'
 * projectName, else by its folder. Bad names, duplicate names, linked stack folders, escaping
 * links and bad settings make only those stacks broken.
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
    await Promise.all(entries.map(({ path, dirent }) => candidateAt(absRoot, path, dirent)))
  ).filter((c): c is Candidate => c !== undefined);
  const inspected = await Promise.all(candidates.map((c) => inspect(c, source, defaults, methods)));
  return byName(inspected.filter((i): i is NonNullable<Inspected> => i !== undefined));
}
