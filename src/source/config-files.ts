import { constants as fsConstants } from 'node:fs';
import { access, readFile, stat } from 'node:fs/promises';

/** The errno code of a failed file operation (ENOENT), else its message. */
function errorCode(err: unknown): string {
  if (err instanceof Error) return (err as NodeJS.ErrnoException).code ?? err.message;
  return String(err);
}

/** Why a file the config names cannot be read, or undefined when it can. */
export async function unreadable(file: string): Promise<string | undefined> {
  return access(file, fsConstants.R_OK).then(
    () => undefined,
    (err: unknown) => `cannot read ${file} (${errorCode(err)})`,
  );
}

/** Why a folder the config names is no folder berth can use, or undefined when it is one. */
export async function notAFolder(folder: string): Promise<string | undefined> {
  const info = await stat(folder).catch((err: unknown) => errorCode(err));
  if (typeof info === 'string') return `cannot read ${folder} (${info})`;
  return info.isDirectory() ? undefined : `${folder} is not a folder`;
}

/**
 * A secret kept in a file: its text without the newline editors and `echo` end it with, or
 * why there is none to use.
 */
export async function readSecret(file: string): Promise<{ secret: string } | { problem: string }> {
  try {
    const secret = (await readFile(file, 'utf8')).replace(/[\r\n]+$/, '');
    return secret === '' ? { problem: `${file} is empty` } : { secret };
  } catch (err) {
    return { problem: `cannot read ${file} (${errorCode(err)})` };
  }
}

/** Why a secret file gives no secret, or undefined when it does. */
export async function unreadableSecret(file: string): Promise<string | undefined> {
  const read = await readSecret(file);
  return 'problem' in read ? read.problem : undefined;
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
