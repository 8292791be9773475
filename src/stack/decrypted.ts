import { createHash, randomBytes } from 'node:crypto';
import { chmod, lstat, mkdir, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { describeCap, MAX_INPUT_FILE_BYTES } from '../bounded-read.js';
import type { ComposeProject, ServiceVolume } from '../compose/types.js';
import { ComposeError } from '../errors.js';
import { detectEncrypted, type EncryptedFormat } from '../secrets/index.js';
import { SKIPPED_FOLDERS } from './hash.js';

/**
 * Encrypted files a stack hands to Docker as files (a `secrets:`/`configs:` file, a bind
 * mount source or a file inside a bind-mounted folder) are decrypted while the project loads
 * and written, only when it deploys, to `<root>/<stack>/<digest>/<name>`, where root is
 * `<dataDir>/decrypted`. The digest is taken over the encrypted bytes (and the name), so the
 * path is the same in validate, plan, diff and deploy, and the same in the next version when
 * the file did not change: a service keeps its container (and its config hash) across
 * versions that did not touch its secrets. Re-encrypting a file gives a new path, like any
 * other change of its bytes.
 *
 * The plaintext is mounted read-only: it is berth's copy, and a container writing to it would
 * change what the next container of the stack reads.
 *
 * Modes: every folder from the root down is 0700, so no other host user reaches a plaintext;
 * the files are 0444 (0555 when the encrypted file is executable), because a bind-mounted
 * file keeps its host mode and owner inside the container, and containers often run as a
 * user other than berth's. The container sees the file through its mount and never the 0700
 * folders above it.
 */

/** A decrypted file the project points at. */
export interface DecryptedFile {
  /** The encrypted file in the stack folder. */
  source: string;
  format: EncryptedFormat;
  /** Where its plaintext is written for Docker. */
  path: string;
}

export interface DecryptedFiles {
  readonly files: readonly DecryptedFile[];
  /** Writes the plaintexts where the project points (deploys only); a no-op when they are there. */
  materialize(): Promise<void>;
}

export interface DecryptContext {
  stack: string;
  /** `<dataDir>/decrypted`. */
  root: string;
  decrypt: (
    file: string,
    bytes: Uint8Array,
  ) => Promise<{ format: EncryptedFormat; plaintext: Uint8Array }>;
}

/** How much of a large file is looked at to see whether it is an age file. */
const HEAD_BYTES = 64;
const FILE_MODE = 0o444;
const DIR_MODE = 0o700;

interface Pending extends DecryptedFile {
  plaintext: Uint8Array;
  mode: number;
}

/** The folder under the data dir that holds the plaintext files. */
export const DECRYPTED_FOLDER = 'decrypted';

/**
 * Whether `file` lies where berth writes the plaintext of `stack`'s encrypted files: inside
 * one of the digest folders of `<dataDir>/decrypted/<stack>/`, never the folders themselves.
 * The policy lets a stack mount these (and only these) files of the data dir.
 */
export function isDecryptedFileOf(file: string, dataDir: string, stack: string): boolean {
  const relative = path.relative(path.join(dataDir, DECRYPTED_FOLDER, stack), path.resolve(file));
  if (relative.startsWith('..') || path.isAbsolute(relative)) return false;
  return relative.split(path.sep).filter((part) => part !== '').length >= 2;
}

/** The folder of a stack's decrypted files. */
export function decryptedStackDir(root: string, stack: string): string {
  if (stack === '' || stack === '.' || stack === '..' || /[/\\]/.test(stack))
    throw new ComposeError('ComposeProjectNameInvalid', `"${stack}" cannot name a folder`);
  return path.join(root, stack);
}

/**
 * Decrypts the encrypted files the project mounts and points the project at their plaintext
 * paths (changing `project` in place). Only files inside the stack folder are looked at:
 * anything else is the host's. Nothing is written here; see `materialize`.
 */
export async function decryptProjectFiles(
  project: ComposeProject,
  ctx: DecryptContext,
): Promise<DecryptedFiles> {
  const stackDir = decryptedStackDir(ctx.root, ctx.stack);
  const pending = new Map<string, Pending>();
  const decryptFile = async (file: string): Promise<string | undefined> => {
    const known = [...pending.values()].find((p) => p.source === file);
    if (known !== undefined) return known.path;
    const read = await readIfEncrypted(file);
    if (read === undefined) return undefined;
    const { format, plaintext } = await ctx.decrypt(file, read.bytes);
    const target = path.join(stackDir, digestOf(file, read.bytes), plainName(file));
    const mode = FILE_MODE | (read.mode & 0o111 ? 0o111 : 0);
    pending.set(target, { source: file, format, path: target, plaintext, mode });
    return target;
  };
  const inside = (file: string): boolean => isWithin(file, project.workingDir);

  for (const kind of ['secrets', 'configs'] as const) {
    for (const [key, definition] of Object.entries(project[kind])) {
      if (definition.source !== 'file' || !inside(definition.file)) continue;
      if (!(await isFile(definition.file))) continue;
      const target = await decryptFile(definition.file);
      if (target !== undefined) project[kind][key] = { ...definition, file: target };
    }
  }
  for (const service of Object.values(project.services)) {
    const volumes: ServiceVolume[] = [];
    for (const volume of service.volumes) {
      const source = volume.source;
      if (volume.type !== 'bind' || source === undefined || !inside(source)) {
        volumes.push(volume);
        continue;
      }
      const kind = await kindOf(source);
      if (kind === 'file') {
        const target = await decryptFile(source);
        volumes.push(target === undefined ? volume : { ...volume, source: target, readOnly: true });
      } else if (kind === 'folder') {
        volumes.push(volume);
        // The folder stays mounted as it is; each encrypted file in it is covered by its
        // plaintext, mounted on top (Docker mounts parents before what lies inside them).
        for (const file of await filesUnder(source)) {
          const target = await decryptFile(file);
          if (target === undefined) continue;
          const inner = path.relative(source, file).split(path.sep).join('/');
          volumes.push(overlay(volume, target, path.posix.join(volume.target, inner)));
        }
      } else {
        volumes.push(volume);
      }
    }
    service.volumes = volumes;
  }
  const files = [...pending.values()];
  return {
    files: files.map(({ source, format, path: target }) => ({ source, format, path: target })),
    materialize: () => materialize(ctx.root, stackDir, files),
  };
}

function overlay(parent: ServiceVolume, source: string, target: string): ServiceVolume {
  const selinux = parent.bind?.selinux;
  return {
    type: 'bind',
    source,
    target,
    readOnly: true,
    bind: { createHostPath: false, ...(selinux === undefined ? {} : { selinux }) },
  };
}

/** The encrypted file's bytes and mode, or undefined for a plain file. */
async function readIfEncrypted(
  file: string,
): Promise<{ bytes: Uint8Array; mode: number } | undefined> {
  const handle = await open(file, 'r');
  try {
    const stats = await handle.stat();
    if (!stats.isFile()) return undefined;
    if (stats.size > MAX_INPUT_FILE_BYTES) {
      const head = Buffer.alloc(HEAD_BYTES);
      const { bytesRead } = await handle.read(head, 0, HEAD_BYTES, 0);
      if (!isAgeHead(head.subarray(0, bytesRead))) return undefined;
      throw new ComposeError(
        'FileTooLarge',
        `encrypted file ${file} is too large: ${stats.size} bytes, the limit is ${describeCap()}`,
        { place: { file } },
      );
    }
    const bytes = await handle.readFile();
    return detectEncrypted(bytes) === undefined ? undefined : { bytes, mode: stats.mode };
  } finally {
    await handle.close();
  }
}

/** A large file is only checked for age's header: SOPS files are documents, read whole. */
function isAgeHead(head: Buffer): boolean {
  const text = head.toString('latin1');
  return text.startsWith('age-encryption.org/v1') || text.startsWith('-----BEGIN AGE ENCRYPTED');
}

/** The name of a file's plaintext: its own, without `.age` (for the people who look). */
function plainName(file: string): string {
  const name = path.basename(file);
  return name.endsWith('.age') && name.length > 4 ? name.slice(0, -4) : name;
}

function digestOf(file: string, bytes: Uint8Array): string {
  return createHash('sha256')
    .update(`berth-decrypted\0${path.basename(file)}\0`)
    .update(bytes)
    .digest('hex')
    .slice(0, 16);
}

async function kindOf(file: string): Promise<'file' | 'folder' | undefined> {
  try {
    const stats = await stat(file);
    return stats.isFile() ? 'file' : stats.isDirectory() ? 'folder' : undefined;
  } catch {
    return undefined; // a bind source Docker creates, or one that fails at apply
  }
}

async function isFile(file: string): Promise<boolean> {
  return (await kindOf(file)) === 'file';
}

/** Regular files below a folder, links not followed, in a stable order. */
async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  const entries = await readdir(dir, { withFileTypes: true });
  for (const entry of entries.sort((a, b) => a.name.localeCompare(b.name))) {
    const full = path.join(dir, entry.name);
    if (entry.isFile()) out.push(full);
    else if (entry.isDirectory() && !SKIPPED_FOLDERS.includes(entry.name))
      out.push(...(await filesUnder(full)));
  }
  return out;
}

/** True when `file` is `dir` or lies inside it. */
function isWithin(file: string, dir: string): boolean {
  const relative = path.relative(dir, file);
  return relative === '' || (!relative.startsWith('..') && !path.isAbsolute(relative));
}

/**
 * A 0700 folder that is a folder: whatever else is there (a link a container made through a
 * mount, a file) is removed first, so nothing written below it lands elsewhere on the host.
 */
async function privateDir(dir: string): Promise<void> {
  const stats = await lstat(dir).catch(() => undefined);
  if (stats?.isDirectory() !== true) {
    if (stats !== undefined) await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { mode: DIR_MODE });
  }
  await chmod(dir, DIR_MODE);
}

async function materialize(root: string, stackDir: string, files: Pending[]): Promise<void> {
  if (files.length === 0) return;
  await mkdir(path.dirname(root), { recursive: true });
  await privateDir(root);
  await privateDir(stackDir);
  for (const file of files) {
    const dir = path.dirname(file.path);
    await privateDir(dir);
    if (await holds(file.path, file.plaintext, file.mode)) continue;
    // Written aside and renamed: a container never sees half a file.
    const temp = path.join(dir, `.${randomBytes(6).toString('hex')}.tmp`);
    const handle = await open(temp, 'wx', 0o600);
    try {
      await handle.writeFile(file.plaintext);
    } finally {
      await handle.close();
    }
    await chmod(temp, file.mode);
    await rename(temp, file.path);
  }
}

async function holds(file: string, content: Uint8Array, mode: number): Promise<boolean> {
  try {
    const stats = await lstat(file);
    if (!stats.isFile() || (stats.mode & 0o777) !== mode || stats.size !== content.length)
      return false;
    return Buffer.from(content).equals(await readFile(file));
  } catch {
    return false;
  }
}

/**
 * Removes a stack's decrypted files that `keep` (the project of the version that now runs)
 * does not point at; all of them when nothing runs. Called once the replacement is deployed
 * (or the stack is down), never before.
 */
export async function releaseDecrypted(
  root: string,
  stack: string,
  keep: ComposeProject | undefined,
): Promise<void> {
  const stackDir = decryptedStackDir(root, stack);
  if (keep === undefined) {
    await rm(stackDir, { recursive: true, force: true });
    return;
  }
  const used = usedEntries(keep, stackDir);
  let entries: string[];
  try {
    entries = await readdir(stackDir);
  } catch {
    return;
  }
  for (const entry of entries) {
    if (!used.has(entry)) await rm(path.join(stackDir, entry), { recursive: true, force: true });
  }
  if (used.size === 0) await rm(stackDir, { recursive: true, force: true });
}

/** The digest folders of `stackDir` the project's mounts point into. */
function usedEntries(project: ComposeProject, stackDir: string): Set<string> {
  const paths: string[] = [];
  for (const kind of ['secrets', 'configs'] as const)
    for (const definition of Object.values(project[kind]))
      if (definition.source === 'file') paths.push(definition.file);
  for (const service of Object.values(project.services))
    for (const volume of service.volumes)
      if (volume.type === 'bind' && volume.source !== undefined) paths.push(volume.source);
  const used = new Set<string>();
  for (const file of paths) {
    const relative = path.relative(stackDir, file);
    if (relative === '' || relative.startsWith('..') || path.isAbsolute(relative)) continue;
    const first = relative.split(path.sep)[0];
    if (first !== undefined) used.add(first);
  }
  return used;
}
