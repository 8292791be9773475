/**
 * How validate and `berth secrets` report a stack's encrypted files: format, recipients,
 * whether the configured keys open them, how the stack uses them. Never a value.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { BerthError, StackError } from '../../errors.js';
import { loadProject } from '../../compose/load.js';
import { selectionOptions } from '../../stack/project.js';
import { detectEncrypted, type Decryptor, type EncryptedFormat } from '../../secrets/index.js';
import {
  encryptedFileUses,
  findEncryptedFiles,
  type FileUse,
  type LoadedProject,
} from '../../stack/encrypted-files.js';
import { formatTable } from '../format.js';

/** An encrypted file of a stack as validate and `berth secrets` report it: never a value. */
export interface EncryptedFileReport {
  /** Posix path relative to the stack folder. */
  path: string;
  format: EncryptedFormat;
  /** SOPS: the age recipients its metadata names; age files name none. */
  recipients: string[];
  /** Whether a configured key opens it (for SOPS, the MAC checked too). */
  opens: boolean;
  /** Why it does not open. */
  problem?: string;
  /** How the stack uses it; empty when it only holds it. Left out when the stack did not load. */
  uses?: FileUse[];
}

export interface EncryptedFiles {
  files: EncryptedFileReport[];
  /** The error of the first file that does not open, as a deploy would meet it. */
  error?: BerthError;
}

/**
 * Every encrypted file of a stack folder, whether the decryptor opens it, and (given the
 * loaded project) how the stack uses it. Reads the files; prints and returns no plaintext.
 */
export async function inspectEncryptedFiles(
  dir: string,
  loaded: LoadedProject | undefined,
  decryptor: Decryptor,
): Promise<EncryptedFiles> {
  const found = await findEncryptedFiles(dir);
  const uses = loaded === undefined ? undefined : await encryptedFileUses(loaded, found);
  const files: EncryptedFileReport[] = [];
  let error: BerthError | undefined;
  for (const file of found) {
    const bytes = await readFile(file.file);
    const info = await decryptor.inspect(file.file, bytes);
    if (info === undefined) continue; // changed since it was detected
    const report: EncryptedFileReport = {
      path: file.path,
      format: info.format,
      recipients: info.recipients,
      opens: info.opens,
    };
    if (info.problem !== undefined) report.problem = info.problem;
    if (uses !== undefined) report.uses = uses.get(file.path) ?? [];
    files.push(report);
    // A file the stack does not use is reported, not held against the stack: it never deploys.
    const used = report.uses === undefined || report.uses.length > 0;
    if (!info.opens && used) error ??= await openingError(decryptor, file.file, bytes);
  }
  return error === undefined ? { files } : { files, error };
}

/** Loads a project for what it uses only, leaving its encrypted files closed. */
export type UsageLoader = (dir: string, stack: string) => Promise<LoadedProject>;

/**
 * When the stack loader fails (on a file no key opens, say), the project loaded again with
 * encrypted env files read as empty still says how the stack uses its files; interpolation
 * sees `env`, as the stack loader's does.
 */
export function createUsageLoader(env: Readonly<Record<string, string | undefined>>): UsageLoader {
  const copy = { ...env };
  return async (dir, stack) =>
    loadProject(dir, {
      projectName: stack,
      env: copy,
      readEnvFile: (_file, text) =>
        detectEncrypted(Buffer.from(text, 'utf8')) === undefined ? text : '',
      // The selection as the stack loader takes it; bad settings are reported on their own.
      ...(await selectionOptions(dir).catch(() => ({}))),
    });
}

/** The error decrypting gives (with its reason), which inspect reports only as text. */
async function openingError(
  decryptor: Decryptor,
  file: string,
  bytes: Uint8Array,
): Promise<BerthError | undefined> {
  try {
    await decryptor.decrypt(file, bytes);
    return undefined;
  } catch (err) {
    return err instanceof BerthError
      ? err
      : new StackError('SecretInvalid', `cannot open ${file}`, { cause: err, place: { file } });
  }
}

/** Whether `err` is about one of `files` that does not open (the report already says it). */
export function aboutClosedFile(
  err: unknown,
  dir: string,
  files: readonly EncryptedFileReport[],
): boolean {
  const file = err instanceof BerthError ? err.place.file : undefined;
  if (file === undefined) return false;
  return files.some((f) => !f.opens && path.join(dir, ...f.path.split('/')) === file);
}

/** "env_file of api", "secret db of api", "bind /run/x in api", ".env". */
export function describeUse(use: FileUse): string {
  const of = use.service === undefined ? '' : ` of ${use.service}`;
  switch (use.as) {
    case '.env':
      return '.env (interpolation)';
    case 'env_file':
      return `env_file${of}`;
    case 'bind':
      return `bind ${use.name ?? ''}${use.service === undefined ? '' : ` in ${use.service}`}`;
    default:
      return `${use.as} ${use.name ?? ''}${of}`;
  }
}

function usesCell(file: EncryptedFileReport): string {
  if (file.uses === undefined) return 'unknown (stack not loaded)';
  if (file.uses.length === 0) return 'not used';
  return file.uses.map(describeUse).join('; ');
}

/** One table over every stack's encrypted files, then a line per file that does not open. */
export function formatEncryptedFiles(
  stacks: { stack: string; files: EncryptedFileReport[] }[],
): string {
  const rows = stacks.flatMap(({ stack, files }) =>
    files.map((f) => [
      stack,
      f.path,
      f.format,
      f.opens ? 'yes' : 'NO',
      usesCell(f),
      f.recipients.length === 0 ? undefined : f.recipients.join(', '),
    ]),
  );
  if (rows.length === 0) return '';
  const lines = [
    formatTable(['STACK', 'ENCRYPTED FILE', 'FORMAT', 'OPENS', 'USED AS', 'RECIPIENTS'], rows),
  ];
  for (const { stack, files } of stacks)
    for (const f of files)
      if (!f.opens)
        lines.push(`${stack}: ${f.path} does not open: ${f.problem ?? 'unknown problem'}`);
  return lines.join('\n');
}
