import { open, readdir, readFile } from 'node:fs/promises';
import { dirname, isAbsolute, join, posix, relative, resolve, sep } from 'node:path';
import { parse } from 'yaml';
import type { ComposeProject } from '../compose/types.js';
import { detectEncrypted, type EncryptedFormat } from '../secrets/index.js';
import { SKIPPED_FOLDERS } from './hash.js';
import { createLimiter } from './limit.js';
import { readComposeSelection } from './settings.js';
import type { ComposeSelection } from './types.js';

/** An encrypted file found in a stack folder, by content. */
export interface EncryptedFile {
  /** Posix path relative to the stack folder. */
  path: string;
  /** Absolute path. */
  file: string;
  format: EncryptedFormat;
}

/** How a stack uses a file: what Compose reads it as, and for whom. */
export interface FileUse {
  as: 'env_file' | '.env' | 'secret' | 'config' | 'bind';
  /** The service that reads it; none for `.env` (interpolation of the whole project). */
  service?: string;
  /** The `secrets:` / `configs:` key, or the bind mount's target in the container. */
  name?: string;
}

/**
 * Files above this size are judged by their first bytes only: an age header is recognised, a
 * SOPS document (metadata at its end) is not. Encrypted files in git are small; this keeps a
 * stack holding large assets from being read into memory whole.
 */
export const DETECT_WHOLE_BELOW_BYTES = 16 * 1024 * 1024;
const HEAD_BYTES = 4096;

/** Bounds open files across every stack looked at, as hashing does. */
const readLimit = createLimiter(32);

/** Regular files under dir (posix relative paths), skipping what hashing skips; no links. */
async function walk(dir: string, prefix: string, out: string[]): Promise<void> {
  const entries = await readLimit(() => readdir(dir, { withFileTypes: true }));
  await Promise.all(
    entries.map(async (entry) => {
      const path = prefix === '' ? entry.name : `${prefix}/${entry.name}`;
      // A link inside the stack points at a file that is listed under its own path.
      if (entry.isFile()) out.push(path);
      else if (entry.isDirectory() && !SKIPPED_FOLDERS.includes(entry.name))
        await walk(join(dir, entry.name), path, out);
    }),
  );
}

async function detectFile(file: string): Promise<EncryptedFormat | undefined> {
  return readLimit(async () => {
    const handle = await open(file, 'r');
    try {
      const { size } = await handle.stat();
      if (size <= DETECT_WHOLE_BELOW_BYTES) return detectEncrypted(await handle.readFile());
      const head = Buffer.alloc(HEAD_BYTES);
      const { bytesRead } = await handle.read(head, 0, HEAD_BYTES, 0);
      return detectEncrypted(head.subarray(0, bytesRead));
    } finally {
      await handle.close();
    }
  });
}

/**
 * Every encrypted file of a stack folder (SOPS or age, judged by content), sorted by path. The
 * folder is walked as hashing walks it, so these are files of the stack's version.
 */
export async function findEncryptedFiles(folder: string): Promise<EncryptedFile[]> {
  const dir = resolve(folder);
  const paths: string[] = [];
  await walk(dir, '', paths);
  const found = await Promise.all(
    paths.map(async (path): Promise<EncryptedFile | undefined> => {
      const file = join(dir, ...path.split('/'));
      const format = await detectFile(file);
      return format === undefined ? undefined : { path, file, format };
    }),
  );
  return found
    .filter((f): f is EncryptedFile => f !== undefined)
    .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/**
 * A loaded project, as the stack loader returns it: bind and secret paths may point at the
 * plaintext of an encrypted file (`decrypted`), which is mapped back to the file in the stack.
 */
export interface LoadedProject {
  project: ComposeProject;
  decrypted?: { readonly files: readonly { source: string; path: string }[] };
}

/**
 * Which of `files` the project uses, and how: the `.env` beside the compose file, env files,
 * `secrets:`/`configs:` files a service mounts, and bind-mount sources (a file, or a folder
 * holding the file). A file missing from the map is held by the stack but not used.
 */
export async function encryptedFileUses(
  loaded: LoadedProject,
  files: readonly EncryptedFile[],
): Promise<Map<string, FileUse[]>> {
  const { project } = loaded;
  const byFile = new Map(files.map((f) => [resolve(f.file), f.path]));
  const plaintexts = new Map(
    (loaded.decrypted?.files ?? []).map((f) => [resolve(f.path), f.source]),
  );
  const uses = new Map<string, FileUse[]>();
  const add = (file: string, use: FileUse): void => {
    const abs = resolve(file);
    const path = byFile.get(plaintexts.get(abs) ?? abs);
    if (path === undefined) return;
    const list = uses.get(path) ?? [];
    if (!list.some((u) => sameUse(u, use))) list.push(use);
    uses.set(path, list);
  };
  // The selection as the loader took it; settings it cannot read are reported on their own.
  const selection = await readComposeSelection(project.workingDir).catch(
    (): ComposeSelection => ({}),
  );
  const interpolation = selection.envFiles ?? ['.env'];
  for (const file of interpolation) add(resolve(project.workingDir, file), { as: '.env' });
  for (const [service, envFiles] of await envFilesOf(project, selection.files))
    for (const file of envFiles) add(file, { as: 'env_file', service });
  for (const [service, config] of Object.entries(project.services)) {
    for (const kind of ['secrets', 'configs'] as const) {
      for (const ref of config[kind]) {
        const definition = project[kind][ref.source];
        const as = kind === 'secrets' ? 'secret' : 'config';
        if (definition?.source === 'file') add(definition.file, { as, service, name: ref.source });
      }
    }
    for (const volume of config.volumes) {
      if (volume.type !== 'bind' || volume.source === undefined) continue;
      add(volume.source, { as: 'bind', service, name: volume.target });
      // A bind-mounted folder: each encrypted file in it, under its path in the container.
      for (const f of files) {
        const inner = relative(resolve(volume.source), resolve(f.file));
        if (inner === '' || inner.startsWith('..') || isAbsolute(inner)) continue;
        const target = posix.join(volume.target, ...inner.split(sep));
        add(f.file, { as: 'bind', service, name: target });
      }
    }
  }
  return uses;
}

/**
 * The env files each enabled service names, read from the compose files the loader used (the
 * normalized project keeps only the values). Paths are resolved as Compose does: against the
 * stack folder in the files the stack selects (`selected`, or those found by name, all in the
 * folder), against their own folder in included and extended files; a path built by
 * interpolation is left out.
 */
async function envFilesOf(
  project: ComposeProject,
  selected: readonly string[] | undefined,
): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  const top = new Set((selected ?? []).map((file) => resolve(project.workingDir, file)));
  for (const composeFile of project.configFiles) {
    const base = top.has(composeFile) ? project.workingDir : dirname(composeFile);
    let doc: unknown;
    try {
      doc = parse(await readFile(composeFile, 'utf8'), { merge: true });
    } catch {
      continue; // the loader read it; a file it could not have read names nothing here
    }
    const services = isRecord(doc) ? doc.services : undefined;
    if (!isRecord(services)) continue;
    for (const [name, service] of Object.entries(services)) {
      if (project.services[name] === undefined || !isRecord(service)) continue;
      const list = out.get(name) ?? [];
      for (const given of envFileEntries(service.env_file))
        if (!given.includes('$')) list.push(resolve(base, given));
      out.set(name, list);
    }
  }
  return out;
}

function envFileEntries(raw: unknown): string[] {
  const list: unknown[] = typeof raw === 'string' ? [raw] : Array.isArray(raw) ? raw : [];
  return list
    .map((entry) => (isRecord(entry) ? entry.path : entry))
    .filter((path): path is string => typeof path === 'string');
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function sameUse(a: FileUse, b: FileUse): boolean {
  return a.as === b.as && a.service === b.service && a.name === b.name;
}
