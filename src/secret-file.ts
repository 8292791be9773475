import { readFile } from 'node:fs/promises';
import { isAbsolute, resolve } from 'node:path';
import { ConfigError, describeError } from './errors.js';

/** Shared secrets berth checks (API tokens, webhook secrets) must be at least this long. */
export const MIN_SECRET_LENGTH = 16;
export const SECRET_TOO_SHORT = `must be at least ${MIN_SECRET_LENGTH} characters`;

export interface SecretFileOptions {
  /** Folder relative paths are resolved against (the config file's folder). */
  baseDir?: string;
  /** The config file, named in errors. */
  file?: string;
  /** Refuse a shorter secret (MIN_SECRET_LENGTH for secrets berth checks). */
  minLength?: number;
}

/**
 * Reads a secret from a `…File` key. `field` is the key path named in errors
 * (e.g. `server.tokens[0].tokenFile`); the secret itself never appears in one.
 */
export async function readSecretFile(
  path: string,
  field: string,
  options: SecretFileOptions = {},
): Promise<string> {
  const full = isAbsolute(path) ? path : resolve(options.baseDir ?? process.cwd(), path);
  let text: string;
  try {
    text = await readFile(full, 'utf8');
  } catch (cause) {
    throw new ConfigError(`cannot read ${field}`, [`${field}: cannot read ${full}`], {
      cause,
      file: options.file,
    });
  }
  // Files written by editors and `echo` end with a newline that is not part of the secret.
  const secret = text.replace(/[\r\n]+$/, '');
  if (secret === '') {
    throw new ConfigError(`${field} is empty`, [`${field}: ${full} is empty`], {
      file: options.file,
    });
  }
  if (options.minLength !== undefined && secret.length < options.minLength) {
    const problem = `must be at least ${options.minLength} characters`;
    throw new ConfigError(`${field}: ${problem}`, [`${field}: the secret in ${full} ${problem}`], {
      file: options.file,
    });
  }
  return secret;
}

/**
 * Awaits every read and, when any failed, throws one ConfigError listing each problem (not
 * only the first), so a person fixes every `…File` key in one go.
 */
export async function settleSecretReads<T>(
  reads: readonly Promise<T>[],
  file: string | undefined,
  where?: string,
): Promise<T[]> {
  const results = await Promise.allSettled(reads);
  const problems = results.flatMap((result) => {
    if (result.status === 'fulfilled') return [];
    const reason: unknown = result.reason;
    const found = reason instanceof ConfigError ? reason.problems : [describeError(reason)];
    return where === undefined ? found : found.map((problem) => `${where}: ${problem}`);
  });
  if (problems.length > 0) {
    const count = `${problems.length} problem${problems.length === 1 ? '' : 's'}`;
    throw new ConfigError(`invalid configuration (${count}): ${problems.join('; ')}`, problems, {
      file,
    });
  }
  return results.map((result) => (result as PromiseFulfilledResult<T>).value);
}
