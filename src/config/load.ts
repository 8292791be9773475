import { access, readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import path from 'node:path';
import YAML, { LineCounter, isNode, type Document } from 'yaml';
import type { z } from 'zod';
import { ConfigError } from '../errors.js';
import {
  kindsSetIn,
  sourceSettings,
  type AnySourceKind,
  type SourceSettings,
} from '../source/registry.js';
import type { SourceConfigContext } from '../source/types.js';
import { DEFAULT_CANARY, type SettingsDefaults } from '../stack/types.js';
import {
  applyEnvOverrides,
  readEnvOverrides,
  routeSourceOverrides,
  type EnvOverride,
} from './env.js';
import type { NotifyConfig } from '../notify/schema.js';
import { normalizePolicy, type PolicySettings } from '../policy/index.js';
import type { ServerConfig } from '../server/schema.js';
import {
  ConfigFile,
  DEFAULT_SOURCE,
  crossCheck,
  isObject,
  type ConfigProblem,
  type DefaultsConfig,
  type LogLevel,
  type RegistryConfig,
  type SourceDefaultsConfig,
} from './schema.js';

/** The file looked for in the working directory when none is named. */
export const DEFAULT_CONFIG_FILE = 'berth.yaml';

export { DEFAULT_TOKEN_USERNAME, type GitAuth, type GitSettings } from '../source/git/index.js';
export type { SourceSettings };

/** One source of stacks: an entry of `sources:`, or the single `source:` (named `default`). */
export interface SourceEntry {
  name: string;
  source: SourceSettings;
  /**
   * When the daemon syncs it: its own `schedule`, else the top-level one when the config gives
   * one; undefined leaves the daemon's default.
   */
  schedule?: string;
  /** The top-level `defaults` with the source's own `defaults` merged over them key by key. */
  defaults: SettingsDefaults;
  /** Put before each of its stack names. */
  prefix?: string;
}

/** The loaded configuration: absolute paths, durations in ms, secrets read from their files. */
export interface BerthConfig {
  /** The config file read, absolute; undefined when the config came from env only. */
  file?: string;
  /** At least one, in the file's order; the legacy `source:` is `[{ name: 'default', … }]`. */
  sources: SourceEntry[];
  /**
   * @deprecated The first source's settings, for code not yet moved to `sources`; goes away
   * once nothing reads it.
   */
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
  /** Set only when the config has a `policy:` section; else the standard preset applies. */
  policy?: PolicySettings;
  /** Variables of berth's environment hooks get besides the allow-list (`hooks.env`). */
  hooks?: { env: string[] };
  /** The age identities for encrypted stack files: key files absolute, inline keys as given. */
  secrets?: { age: { keyFiles: string[]; keys: string[]; sopsDefaults: boolean } };
  /** Private registry logins; `passwordFile` absolute, read by readConfigSecrets. */
  registries?: RegistryConfig[];
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

  const read = readEnvOverrides(env);
  const fromEnv = routeSourceOverrides(raw, read.overrides);
  problems.push(...read.problems, ...fromEnv.problems);
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
  problems.push(...(await checkSourceKinds(merged, resolve)).map(describe));

  if (problems.length > 0 || !result.success) {
    throw new ConfigError(
      `invalid configuration (${problems.length} problem${problems.length === 1 ? '' : 's'}): ${problems.join('; ')}`,
      problems,
      { file },
    );
  }
  const config = normalize(
    result.data,
    file,
    resolve,
    await normalizeSources(result.data, resolve),
  );
  if (merged.schedule !== undefined)
    for (const entry of config.sources) entry.schedule ??= result.data.schedule;
  // Only keys that were given, so configs of the one-shot commands stay as they were.
  if (merged.schedule !== undefined) config.schedule = result.data.schedule;
  if (merged.concurrency !== undefined) config.concurrency = result.data.concurrency;
  if (result.data.server !== undefined) config.server = result.data.server;
  if (merged.notify !== undefined) config.notify = result.data.notify;
  if (result.data.policy !== undefined) config.policy = normalizePolicy(result.data.policy);
  if (merged.secrets !== undefined) {
    const { age } = result.data.secrets;
    const keyFiles = age.keyFiles.map((f, i) => resolve(['secrets', 'age', 'keyFiles', `${i}`], f));
    config.secrets = { age: { keyFiles, keys: age.keys, sopsDefaults: age.sopsDefaults } };
  }
  if (result.data.registries.length > 0)
    config.registries = result.data.registries.map((entry, i) =>
      entry.passwordFile === undefined
        ? entry
        : {
            ...entry,
            passwordFile: resolve(['registries', `${i}`, 'passwordFile'], entry.passwordFile),
          },
    );
  return config;
}

function normalize(
  data: ConfigFile,
  file: string | undefined,
  resolve: (keyPath: string[], value: string) => string,
  sources: SourceEntry[],
): BerthConfig {
  const [first] = sources;
  // crossCheck refused a config without a source before this runs.
  if (first === undefined) throw new Error('no source');
  const config: BerthConfig = {
    sources,
    source: first.source,
    dataDir: resolve(['dataDir'], data.dataDir),
    defaults: normalizeDefaults(data.defaults),
    prune: data.prune,
    log: { level: data.log.level },
    hooks: { env: data.hooks.env },
  };
  if (file !== undefined) config.file = file;
  return config;
}

/** The deploy defaults in the units berth works in. */
function normalizeDefaults(defaults: DefaultsConfig): SettingsDefaults {
  return {
    deploy: defaults.deploy,
    method: defaults.method,
    healthTimeoutMs: defaults.healthTimeout,
    stabilityMs: defaults.stabilityPeriod,
    markBad: defaults.markBad,
    redeployGood: defaults.redeployGood,
    hooks: { timeoutMs: defaults.hookTimeout },
    updates: { images: defaults.updates.images },
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
  };
}

/** A source's own defaults over the top-level ones: each key it sets wins, objects key by key. */
function mergeDefaults(top: DefaultsConfig, own: SourceDefaultsConfig | undefined): DefaultsConfig {
  if (own === undefined) return top;
  const { canary, updates, ...plain } = own;
  const merged: DefaultsConfig = { ...top, ...definedOnly(plain) };
  if (canary !== undefined) merged.canary = { ...top.canary, ...definedOnly(canary) };
  if (updates !== undefined) merged.updates = { ...top.updates, ...definedOnly(updates) };
  return merged;
}

function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** Where a source section sits in the file: `source` or `sources.<i>`. */
type Section = readonly string[];

/** The raw source sections of the merged input, with where they sit. */
function rawSections(merged: Record<string, unknown>): [Section, Record<string, unknown>][] {
  if (Array.isArray(merged.sources))
    return merged.sources.flatMap((entry: unknown, i): [Section, Record<string, unknown>][] =>
      isObject(entry) ? [[['sources', `${i}`], entry]] : [],
    );
  return isObject(merged.source) ? [[['source'], merged.source]] : [];
}

/** `sources:` as loaded; the legacy `source:` becomes one entry named `default`. */
async function normalizeSources(
  data: ConfigFile,
  resolve: (keyPath: string[], value: string) => string,
): Promise<SourceEntry[]> {
  if (data.sources === undefined) {
    // crossCheck refused a config with neither before this runs.
    if (data.source === undefined) throw new Error('no source');
    const source = await normalizeSection(data.source, ['source'], resolve);
    return [{ name: DEFAULT_SOURCE, source, defaults: normalizeDefaults(data.defaults) }];
  }
  return Promise.all(
    data.sources.map(async (entry, i): Promise<SourceEntry> => {
      const source = await normalizeSection(entry, ['sources', `${i}`], resolve);
      return {
        name: entry.name,
        source,
        ...(entry.schedule === undefined ? {} : { schedule: entry.schedule }),
        defaults: normalizeDefaults(mergeDefaults(data.defaults, entry.defaults)),
        ...(entry.prefix === undefined ? {} : { prefix: entry.prefix }),
      };
    }),
  );
}

/** A source section: the one kind it sets, normalized by the kind. */
async function normalizeSection(
  section: Record<string, unknown> & { paths: string[] },
  at: Section,
  resolve: (keyPath: string[], value: string) => string,
): Promise<SourceSettings> {
  const [kind] = kindsSetIn(section);
  // crossCheck refused a section without exactly one kind before this runs.
  if (kind === undefined) throw new Error('no source kind set');
  const settings = await kind.normalize(section[kind.configKey], kindContext(kind, at, resolve));
  return sourceSettings(kind, settings, section.paths);
}

/** Each set kind's own checks (rules across its keys, files it names), on the raw input. */
async function checkSourceKinds(
  merged: Record<string, unknown>,
  resolve: (keyPath: string[], value: string) => string,
): Promise<ConfigProblem[]> {
  const problems: ConfigProblem[] = [];
  for (const [at, section] of rawSections(merged)) {
    for (const kind of kindsSetIn(section)) {
      const context = kindContext(kind, at, resolve);
      const found = (await kind.check?.(section[kind.configKey], context)) ?? [];
      for (const problem of found)
        problems.push({
          path: [...at.map(keyOf), kind.configKey, ...problem.path],
          message: problem.message,
        });
    }
  }
  return problems;
}

/** A list index as zod reports it (a number), so problems find their line in the file. */
function keyOf(key: string): PropertyKey {
  return /^\d+$/.test(key) ? Number(key) : key;
}

function kindContext(
  kind: AnySourceKind,
  at: Section,
  resolve: (keyPath: string[], value: string) => string,
): SourceConfigContext {
  return {
    resolvePath: (keyPath, value) => resolve([...at, kind.configKey, ...keyPath], value),
  };
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
    // zod gives list indexes as numbers; override paths hold them as text.
    if (set.length <= keyPath.length && set.every((key, i) => String(keyPath[i]) === key))
      found = variable;
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
