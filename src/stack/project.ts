import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { parseDotenv, type EnvFileReader } from '../compose/dotenv.js';
import { loadProject, type LoadOptions } from '../compose/load.js';
import type { LoadResult } from '../compose/types.js';
import { BerthError, ComposeError } from '../errors.js';
import {
  createDecryptor,
  detectEncrypted,
  type Decryptor,
  type EncryptedFormat,
} from '../secrets/index.js';
import { decryptProjectFiles, type DecryptedFiles } from './decrypted.js';
import { readComposeSelection } from './settings.js';

/** A loaded stack: the compose project, with the encrypted files it uses opened. */
export interface StackLoadResult extends LoadResult {
  /**
   * The encrypted files the project hands to Docker as files, already pointed at where their
   * plaintext goes; written only by `materialize`, which deploys call. Env files and `.env`
   * are decrypted into the project's environment and need nothing on disk.
   */
  decrypted?: DecryptedFiles;
  /**
   * The plaintext values of the variables in the decrypted env files the project read
   * (service env files, `.env` or the envFiles of its settings), so what prints the project
   * can mask them. Empty when it read none.
   */
  sensitiveValues: string[];
}

/**
 * Loads a stack's compose project the one way berth does everywhere (validate, plan, prepare,
 * deploy, recovery, diff), so what is checked is what is deployed: the compose files, env
 * files and profiles the folder's own deploy settings select (readComposeSelection), so a
 * copy in running_stacks/ loads as the checkout does.
 */
export type StackLoader = (dir: string, stack: string) => Promise<StackLoadResult>;

/** The compose loader's options for a stack folder's selection. Throws SettingsError. */
export async function selectionOptions(
  dir: string,
): Promise<Pick<LoadOptions, 'files' | 'envFiles' | 'profiles'>> {
  const selection = await readComposeSelection(dir);
  return {
    ...(selection.files === undefined ? {} : { files: selection.files }),
    ...(selection.envFiles === undefined ? {} : { envFiles: selection.envFiles }),
    ...(selection.profiles === undefined ? {} : { profiles: selection.profiles }),
  };
}

export interface StackLoaderOptions {
  /**
   * What `${VAR}` interpolation may read besides the stack's own `.env`: the process
   * environment without berth's own secrets (see interpolationEnv in src/config/).
   */
  env: Readonly<Record<string, string | undefined>>;
  /** Opens the stacks' encrypted files; without it (no identities), none opens. */
  decryptor?: Decryptor;
  /** Where plaintext files go when a deploy needs them on disk: `<dataDir>/decrypted`. */
  decryptedDir?: string;
}

/**
 * An env file may change what interpolation sees and so which env files are read next: the
 * loader runs again with each newly found encrypted env file opened, this many times at most.
 */
const MAX_ROUNDS = 8;

export function createStackLoader(options: StackLoaderOptions): StackLoader {
  const env = { ...options.env };
  const decryptor = options.decryptor ?? createDecryptor([]);
  const root = options.decryptedDir ?? path.resolve('data', 'decrypted');
  return async (dir, stack) => {
    try {
      return await loadDecrypting(dir, stack, { env, decryptor, root });
    } catch (err) {
      if (err instanceof BerthError) err.place.stack ??= stack;
      throw err;
    }
  };
}

interface LoadContext {
  env: Record<string, string | undefined>;
  decryptor: Decryptor;
  root: string;
}

/**
 * The compose loader reads env files synchronously and decryption is not: a round that meets
 * an encrypted env file reads it as empty and notes it; the file is opened and the project
 * loaded again. A round that fails only for want of such a file is not an error.
 */
async function loadDecrypting(
  dir: string,
  stack: string,
  ctx: LoadContext,
): Promise<StackLoadResult> {
  const selection = await selectionOptions(dir);
  const opened = new Map<string, string>();
  for (let round = 0; round < MAX_ROUNDS; round++) {
    const wanted = new Map<string, Buffer>();
    const readEnvFile: EnvFileReader = (envFile, text) => {
      const known = opened.get(envFile);
      if (known !== undefined) return known;
      if (detectEncrypted(Buffer.from(text, 'utf8')) === undefined) return text;
      // Read again as bytes: a binary age file does not survive being read as text.
      wanted.set(envFile, readFileSync(envFile));
      return '';
    };
    let result: LoadResult | undefined;
    try {
      result = await loadProject(dir, {
        projectName: stack,
        env: ctx.env,
        readEnvFile,
        ...selection,
      });
    } catch (err) {
      if (wanted.size === 0) throw withheld(err, opened);
    }
    if (wanted.size === 0 && result !== undefined) {
      const decrypted = await decryptProjectFiles(result.project, {
        stack,
        root: ctx.root,
        decrypt: (f, bytes) => ctx.decryptor.decrypt(f, bytes),
      });
      return { ...result, decrypted, sensitiveValues: sensitiveValues(opened, ctx.env) };
    }
    for (const [envFile, bytes] of wanted)
      opened.set(envFile, await envFileText(ctx.decryptor, envFile, bytes));
  }
  throw new ComposeError(
    'ComposeEnvFileInvalid',
    `${dir}: encrypted env files name each other more than ${MAX_ROUNDS} levels deep`,
    { place: { file: dir } },
  );
}

/**
 * The values the decrypted env files define, as the loader read them: interpolated from the
 * environment, each file alone (a value built from another file's is still its own secret).
 */
function sensitiveValues(
  opened: ReadonlyMap<string, string>,
  env: Readonly<Record<string, string | undefined>>,
): string[] {
  const values = new Set<string>();
  for (const [file, text] of opened) {
    let parsed: Record<string, string>;
    try {
      parsed = parseDotenv(text, file, (name) => env[name]);
    } catch {
      // `${VAR:?}` naming a variable only the project's other files set: none to add here.
      continue;
    }
    for (const value of Object.values(parsed)) if (value !== '') values.add(value);
  }
  return [...values];
}

/**
 * An error about a decrypted env file's content (`invalid line "…"`) would quote a secret into
 * the logs and the stack's status: it names the file and the line only.
 */
function withheld(err: unknown, opened: ReadonlyMap<string, string>): unknown {
  if (!(err instanceof ComposeError) || err.reason !== 'ComposeEnvFileInvalid') return err;
  const file = err.place.file;
  if (file === undefined || !opened.has(file)) return err;
  const where = err.place.field === undefined ? '' : ` (${err.place.field})`;
  return new ComposeError(
    'ComposeEnvFileInvalid',
    `${file}${where}: the decrypted env file is not valid dotenv; the line is not shown, it may hold a secret`,
    { place: err.place },
  );
}

/** An encrypted env file as dotenv text; formats that are no env file are refused. */
async function envFileText(decryptor: Decryptor, file: string, bytes: Buffer): Promise<string> {
  const { format, plaintext } = await decryptor.decrypt(file, bytes);
  const text = Buffer.from(plaintext).toString('utf8');
  switch (format) {
    case 'age':
    case 'sops-dotenv':
    case 'sops-binary':
      return text;
    case 'sops-yaml':
    case 'sops-json':
      return flatDotenv(file, format, text);
    default:
      throw notAnEnvFile(file, format, 'use a dotenv file (sops encrypt .env) or an age file');
  }
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_.-]*$/;

/**
 * A SOPS YAML or JSON file used as an env file: Compose has no such thing, but a flat mapping
 * of names to strings, numbers and booleans reads one way only. Values are written quoted,
 * so none is interpolated or cut at a `#`.
 */
function flatDotenv(file: string, format: EncryptedFormat, text: string): string {
  let data: unknown;
  try {
    data = parse(text);
  } catch {
    data = undefined;
  }
  if (data === null || typeof data !== 'object' || Array.isArray(data))
    throw notAnEnvFile(file, format, 'it is not a mapping of names to values');
  const lines: string[] = [];
  for (const [key, value] of Object.entries(data as Record<string, unknown>)) {
    if (!ENV_NAME.test(key)) throw notAnEnvFile(file, format, `"${key}" is not a variable name`);
    if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean')
      throw notAnEnvFile(file, format, `the value of ${key} is not a string, number or boolean`);
    lines.push(`${key}="${escapeDoubleQuoted(String(value))}"`);
  }
  return lines.join('\n');
}

function escapeDoubleQuoted(value: string): string {
  return value.replace(/[\\"$\n\r\t]/g, (c) => {
    switch (c) {
      case '\n':
        return '\\n';
      case '\r':
        return '\\r';
      case '\t':
        return '\\t';
      default:
        return `\\${c}`;
    }
  });
}

function notAnEnvFile(file: string, format: EncryptedFormat, why: string): ComposeError {
  return new ComposeError(
    'ComposeEnvFileInvalid',
    `${file}: a ${format} file cannot be used as an env file: ${why}`,
    { place: { file } },
  );
}
