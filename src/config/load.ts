import { constants as fsConstants } from 'node:fs';
import { access, readFile, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import path from 'node:path';
import YAML, { LineCounter, isNode, type Document } from 'yaml';
import type { z } from 'zod';
import { ConfigError } from '../errors.js';
import { DEFAULT_CANARY, type SettingsDefaults } from '../stack/types.js';
import { applyEnvOverrides, readEnvOverrides, type EnvOverride } from './env.js';
import type { NotifyConfig } from '../notify/schema.js';
import type { ServerConfig } from '../server/schema.js';
import { ConfigFile, crossCheck, isObject, type ConfigProblem, type LogLevel } from './schema.js';

/** The file looked for in the working directory when none is named. */
export const DEFAULT_CONFIG_FILE = 'berth.yaml';

/** Username sent with a token when none is configured; GitHub, Gitea and GitLab accept it. */
export const DEFAULT_TOKEN_USERNAME = 'x-access-token';

export interface GitAuth {
  username?: string;
  /** The token itself, also when it was read from `tokenFile`. */
  token?: string;
  sshKeyFile?: string;
  knownHostsFile?: string;
}

export interface GitSettings {
  url: string;
  /** Set unless `tag` is: the branch followed (default main). */
  branch?: string;
  /** A glob over tag names: the newest matching semver tag is followed. */
  tag?: string;
  /** 0 = full history. */
  depth: number;
  auth?: GitAuth;
}

export type SourceSettings =
  | { kind: 'git'; git: GitSettings; paths: string[] }
  | { kind: 'local'; path: string; paths: string[] };

/** The loaded configuration: absolute paths, durations in ms, secrets read from their files. */
export interface BerthConfig {
  /** The config file read, absolute; undefined when the config came from env only. */
  file?: string;
  source: SourceSettings;
  /** Holds repo/, running_stacks/, good_stacks/ and berth.db. */
  dataDir: string;
  defaults: SettingsDefaults;
  prune: boolean;
  log: { level: LogLevel };
  /** Daemon keys; set only when the file or env gave them (the daemon has the defaults). */
  schedule?: string;
  concurrency?: number;
  /** As written: `…File` secrets are read when the daemon starts the listener. */
  server?: ServerConfig;
  notify?: NotifyConfig;
}

export interface LoadConfigOptions {
  /** The config file; else $BERTH_CONFIG, else ./berth.yaml when it exists, else env only. */
  file?: string;
  env?: NodeJS.ProcessEnv;
  /** Where ./berth.yaml is looked for and env paths are relative to; process.cwd() by default. */
  cwd?: string;
}

interface Origins {
  file: string | undefined;
  overrides: readonly EnvOverride[];
}

/**
 * Loads and checks the configuration. A broken config is refused with a ConfigError that
 * lists every problem found (YAML, schema, cross-key rules, unreadable files), each naming
 * where the value came from (file and line, or env variable) and the key path.
 */
export async function loadConfig(options: LoadConfigOptions = {}): Promise<BerthConfig> {
  const env = options.env ?? process.env;
  const cwd = options.cwd ?? process.cwd();
  const file = await pickFile(options.file ?? nonEmpty(env.BERTH_CONFIG), cwd);
  const problems: string[] = [];

  let raw: Record<string, unknown> = {};
  let doc: Document | undefined;
  const lines = new LineCounter();
  if (file !== undefined) {
    const text = await readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
      problems.push(`${file}: cannot read the config file (${err.code ?? err.message})`);
      return '';
    });
    doc = YAML.parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
    for (const error of doc.errors) {
      const at = lines.linePos(error.pos[0]);
      problems.push(`${file}:${at.line}:${at.col}: ${firstLine(error.message)}`);
    }
    if (doc.errors.length === 0) {
      const parsed: unknown = doc.toJS();
      if (isObject(parsed)) raw = parsed;
      else if (parsed !== null && parsed !== undefined)
        problems.push(`${file}: the top level must be a mapping of keys`);
    }
  }

  const fromEnv = readEnvOverrides(env);
  problems.push(...fromEnv.problems);
  const merged = applyEnvOverrides(raw, fromEnv.overrides);
  const origins: Origins = { file, overrides: fromEnv.overrides };
  const describe = (problem: ConfigProblem): string => formatProblem(problem, origins, doc, lines);

  const result = ConfigFile.safeParse(merged, {
    error: (issue) =>
      issue.code === 'invalid_type' && issue.input === undefined ? 'required' : undefined,
  });
  if (!result.success) problems.push(...issueProblems(result.error.issues).map(describe));
  problems.push(...crossCheck(merged).map(describe));

  const resolve = (keyPath: string[], value: string): string =>
    resolvePath(value, fromEnvVariable(keyPath, origins) ? cwd : file ? path.dirname(file) : cwd);
  const files = await checkFiles(merged, resolve);
  problems.push(...files.problems.map(describe));

  if (problems.length > 0 || !result.success) {
    throw new ConfigError(
      `invalid configuration (${problems.length} problem${problems.length === 1 ? '' : 's'}): ${problems.join('; ')}`,
      problems,
      { file },
    );
  }
  const config = normalize(result.data, file, resolve, files.token);
  // Only keys that were given, so configs of the one-shot commands stay as they were.
  if (merged.schedule !== undefined) config.schedule = result.data.schedule;
  if (merged.concurrency !== undefined) config.concurrency = result.data.concurrency;
  if (result.data.server !== undefined) config.server = result.data.server;
  if (merged.notify !== undefined) config.notify = result.data.notify;
  return config;
}

function normalize(
  data: ConfigFile,
  file: string | undefined,
  resolve: (keyPath: string[], value: string) => string,
  token: string | undefined,
): BerthConfig {
  const { source, defaults } = data;
  let settings: SourceSettings;
  if (source.git) {
    const { url, branch, tag, depth, auth } = source.git;
    const gitAuth: GitAuth = {};
    const secret = auth?.token ?? token;
    if (secret !== undefined) {
      gitAuth.token = secret;
      gitAuth.username = auth?.username ?? DEFAULT_TOKEN_USERNAME;
    } else if (auth?.username !== undefined) gitAuth.username = auth.username;
    if (auth?.sshKeyFile !== undefined)
      gitAuth.sshKeyFile = resolve(['source', 'git', 'auth', 'sshKeyFile'], auth.sshKeyFile);
    if (auth?.knownHostsFile !== undefined)
      gitAuth.knownHostsFile = resolve(
        ['source', 'git', 'auth', 'knownHostsFile'],
        auth.knownHostsFile,
      );
    const git: GitSettings = { url, depth };
    if (tag !== undefined) git.tag = tag;
    else git.branch = branch ?? 'main';
    if (Object.keys(gitAuth).length > 0) git.auth = gitAuth;
    settings = { kind: 'git', git, paths: source.paths };
  } else {
    settings = {
      kind: 'local',
      path: resolve(['source', 'path'], source.path ?? '.'),
      paths: source.paths,
    };
  }
  const config: BerthConfig = {
    source: settings,
    dataDir: resolve(['dataDir'], data.dataDir),
    defaults: {
      deploy: defaults.deploy,
      method: defaults.method,
      healthTimeoutMs: defaults.healthTimeout,
      stabilityMs: defaults.stabilityPeriod,
      markBad: defaults.markBad,
      redeployGood: defaults.redeployGood,
      hooks: { timeoutMs: defaults.hookTimeout },
      ...(defaults.drain === undefined ? {} : { drainMs: defaults.drain }),
      ...(defaults.canary === undefined
        ? {}
        : {
            canary: {
              batch: defaults.canary.batch ?? DEFAULT_CANARY.batch,
              windowMs: defaults.canary.window ?? DEFAULT_CANARY.windowMs,
              ...(defaults.canary.probe === undefined ? {} : { probe: defaults.canary.probe }),
            },
          }),
    },
    prune: data.prune,
    log: { level: data.log.level },
  };
  if (file !== undefined) config.file = file;
  return config;
}

/** Reads `tokenFile` and checks that the other files and folders named exist. */
async function checkFiles(
  merged: Record<string, unknown>,
  resolve: (keyPath: string[], value: string) => string,
): Promise<{ problems: ConfigProblem[]; token?: string }> {
  const problems: ConfigProblem[] = [];
  const source = isObject(merged.source) ? merged.source : {};
  const auth = isObject(source.git) && isObject(source.git.auth) ? source.git.auth : {};
  let token: string | undefined;

  const keyPath = ['source', 'git', 'auth', 'tokenFile'];
  if (typeof auth.tokenFile === 'string' && auth.tokenFile !== '') {
    const tokenFile = resolve(keyPath, auth.tokenFile);
    try {
      token = (await readFile(tokenFile, 'utf8')).replace(/[\r\n]+$/, '');
      if (token === '') problems.push({ path: keyPath, message: `${tokenFile} is empty` });
    } catch (err) {
      problems.push({ path: keyPath, message: `cannot read ${tokenFile} (${errorCode(err)})` });
    }
  }
  for (const key of ['sshKeyFile', 'knownHostsFile']) {
    const value = auth[key];
    if (typeof value !== 'string' || value === '') continue;
    const at = ['source', 'git', 'auth', key];
    const target = resolve(at, value);
    await access(target, fsConstants.R_OK).catch((err: unknown) => {
      problems.push({ path: at, message: `cannot read ${target} (${errorCode(err)})` });
    });
  }
  if (typeof source.path === 'string' && source.path !== '') {
    const at = ['source', 'path'];
    const folder = resolve(at, source.path);
    const info = await stat(folder).catch((err: unknown) => errorCode(err));
    if (typeof info === 'string')
      problems.push({ path: at, message: `cannot read ${folder} (${info})` });
    else if (!info.isDirectory()) problems.push({ path: at, message: `${folder} is not a folder` });
  }
  return token === undefined ? { problems } : { problems, token };
}

function issueProblems(issues: readonly z.core.$ZodIssue[]): ConfigProblem[] {
  return issues.flatMap((issue): ConfigProblem[] =>
    issue.code === 'unrecognized_keys'
      ? issue.keys.map((key) => ({ path: [...issue.path, key], message: 'unknown key' }))
      : [{ path: issue.path, message: issue.message }],
  );
}

function formatProblem(
  problem: ConfigProblem,
  origins: Origins,
  doc: Document | undefined,
  lines: LineCounter,
): string {
  const keyPath = formatKeyPath(problem.path);
  const variable = fromEnvVariable(problem.path, origins);
  if (variable !== undefined) return `${variable}: ${keyPath}: ${problem.message}`;
  if (origins.file === undefined) return `env: ${keyPath}: ${problem.message}`;
  const line = doc ? lineOf(doc, lines, problem.path) : undefined;
  return `${origins.file}${line === undefined ? '' : `:${line}`}: ${keyPath}: ${problem.message}`;
}

/** The env variable that set the value at keyPath (or a key above it), if any. */
function fromEnvVariable(keyPath: readonly PropertyKey[], origins: Origins): string | undefined {
  let found: string | undefined;
  for (const { variable, path: set } of origins.overrides) {
    if (set.length <= keyPath.length && set.every((key, i) => keyPath[i] === key)) found = variable;
  }
  return found;
}

/** The line of the deepest node on the key path that exists in the file. */
function lineOf(
  doc: Document,
  lines: LineCounter,
  keyPath: readonly PropertyKey[],
): number | undefined {
  for (let depth = keyPath.length; depth > 0; depth--) {
    const node: unknown = doc.getIn(keyPath.slice(0, depth), true);
    if (isNode(node) && node.range) return lines.linePos(node.range[0]).line;
  }
  return undefined;
}

function formatKeyPath(keyPath: readonly PropertyKey[]): string {
  if (keyPath.length === 0) return '(top level)';
  return keyPath
    .map((key, i) => (typeof key === 'number' ? `[${key}]` : `${i === 0 ? '' : '.'}${String(key)}`))
    .join('');
}

async function pickFile(file: string | undefined, cwd: string): Promise<string | undefined> {
  if (file !== undefined) return path.resolve(cwd, file);
  const fallback = path.resolve(cwd, DEFAULT_CONFIG_FILE);
  return (await access(fallback).then(
    () => true,
    () => false,
  ))
    ? fallback
    : undefined;
}

function resolvePath(value: string, base: string): string {
  const expanded =
    value === '~' || value.startsWith('~/') ? path.join(homedir(), value.slice(1)) : value;
  return path.resolve(base, expanded);
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}

function firstLine(text: string): string {
  return text.split('\n')[0] ?? text;
}

function errorCode(err: unknown): string {
  if (err instanceof Error) return (err as NodeJS.ErrnoException).code ?? err.message;
  return String(err);
}
