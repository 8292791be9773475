import { access, readdir } from 'node:fs/promises';
import type { Dirent } from 'node:fs';
import { homedir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import type { z } from 'zod';
import { describeCap, MAX_INPUT_FILE_BYTES, readBoundedFileSync } from '../bounded-read.js';
import { confinementSync, type Confinement } from '../containment.js';
import { ComposeError, type ErrorPlace } from '../errors.js';
import type { Reason } from '../reasons.js';
import { dependencyLevels } from './dependencies.js';
import { parseDotenv, plainEnvFile, type EnvFileReader } from './dotenv.js';
import { interpolateValues, type Lookup } from './interpolate.js';
import {
  isRecord,
  mergeDefinition,
  mergeService,
  prepareService,
  stripMarkers,
  withoutExtensions,
  type RawRecord,
} from './merge.js';
import {
  normalizeFileDefinition,
  normalizeNetwork,
  normalizeService,
  normalizeVolume,
  type NormalizeContext,
} from './normalize.js';
import {
  parseRaw,
  RawFileDefinition,
  RawNetwork,
  RawService,
  RawTopLevel,
  RawVolume,
} from './schema.js';
import type { ComposeProject, LoadResult, ServiceConfig } from './types.js';
import { confinePath, relativeBindSource, resolveHostPath, type PathPlace } from './volumes.js';
import { OverrideMarker, parseComposeYaml } from './yaml.js';

/** The file names Compose looks for in a project directory, in its order of preference. */
export const COMPOSE_FILE_NAMES = [
  'compose.yaml',
  'compose.yml',
  'docker-compose.yaml',
  'docker-compose.yml',
] as const;

/**
 * The override files Compose merges over the compose file found by name, in its order of
 * preference (compose-go's DefaultOverrideFileNames): the first one present is used, whatever
 * the main file is called.
 */
export const COMPOSE_OVERRIDE_FILE_NAMES = [
  'compose.override.yml',
  'compose.override.yaml',
  'docker-compose.override.yml',
  'docker-compose.override.yaml',
] as const;

/**
 * The folder's entries by name, read once: asking for each candidate name with access() cost a
 * thrown error per missing name, eight per stack folder on every pass.
 */
async function listFolder(dir: string): Promise<Map<string, Dirent>> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  return new Map(entries.map((entry) => [entry.name, entry] as const));
}

/** The names there are, in the order given; a link counts only when what it names exists. */
async function present(
  dir: string,
  names: readonly string[],
  listed?: Map<string, Dirent>,
): Promise<string[]> {
  const entries = listed ?? (await listFolder(dir));
  const found: string[] = [];
  for (const name of names) {
    const entry = entries.get(name);
    if (entry === undefined) continue;
    const path = resolve(dir, name);
    if (
      entry.isSymbolicLink() &&
      !(await access(path).then(
        () => true,
        () => false,
      ))
    )
      continue;
    found.push(path);
  }
  return found;
}

/** Returns the absolute path of the folder's compose file, or undefined when it has none. */
export async function findComposeFile(dir: string): Promise<string | undefined> {
  return (await present(dir, COMPOSE_FILE_NAMES))[0];
}

/** The files Compose loads from a folder given no `-f`: main and override, and what it warns. */
interface DefaultSelection {
  files: string[];
  warnings: string[];
}

async function defaultSelection(dir: string): Promise<DefaultSelection> {
  const listed = await listFolder(dir);
  const [main] = await present(dir, COMPOSE_FILE_NAMES, listed);
  if (main === undefined) return { files: [], warnings: [] };
  const overrides = await present(dir, COMPOSE_OVERRIDE_FILE_NAMES, listed);
  const [override] = overrides;
  if (override === undefined) return { files: [main], warnings: [] };
  const warnings =
    overrides.length > 1
      ? [
          `several override files: ${overrides.map((f) => basename(f)).join(', ')}; using ${basename(override)}, as Compose does`,
        ]
      : [];
  return { files: [main, override], warnings };
}

/**
 * The compose files Compose uses in a folder given no `-f`: the first of COMPOSE_FILE_NAMES,
 * then the first of COMPOSE_OVERRIDE_FILE_NAMES when there is one. Empty when there is none.
 */
export async function findComposeFiles(dir: string): Promise<string[]> {
  return (await defaultSelection(resolve(dir))).files;
}

/** Normalizes a project name as Compose does: lowercase, only [a-z0-9_-], starting with a letter or digit. */
export function normalizeProjectName(name: string): string {
  return name
    .toLowerCase()
    .replace(/[^a-z0-9_-]/g, '')
    .replace(/^[_-]+/, '');
}

export interface LoadOptions {
  /** Overrides the top-level `name:` and the folder name. */
  projectName?: string;
  /**
   * Compose files relative to `dir`, merged in order as Compose merges `-f` files (the first
   * is the base, each next one an override). Omitted or empty: findComposeFiles's.
   */
  files?: string[];
  /**
   * Env files relative to `dir` that interpolation reads instead of `.env` (Compose's
   * `--env-file`), later files winning.
   */
  envFiles?: string[];
  /** Environment for interpolation; defaults to process.env. Wins over `.env` (or envFiles). */
  env?: Record<string, string | undefined>;
  /** Active profiles; defaults to COMPOSE_PROFILES. */
  profiles?: string[];
  /**
   * Keep every file the project names inside `dir` (default true): env files, extends and
   * include files, secret and config files, build contexts and Dockerfiles, relative bind
   * mount sources. false only to compare with docker compose, which has no such rule.
   */
  confine?: boolean;
  /** How the `.env` and env files are read (e.g. decrypted); as they are by default. */
  readEnvFile?: EnvFileReader;
}

/**
 * How much `${VAR}` interpolation may add to one compose file: a variable named many times
 * would otherwise multiply an env file's size into memory.
 */
const MAX_INTERPOLATED = 4 * MAX_INPUT_FILE_BYTES;

interface Entry<T> {
  value: T;
  file: string;
  baseDir: string;
}

interface Model {
  name?: string;
  services: Map<string, Entry<RawRecord>>;
  networks: Map<string, Entry<unknown>>;
  volumes: Map<string, Entry<unknown>>;
  secrets: Map<string, Entry<unknown>>;
  configs: Map<string, Entry<unknown>>;
  extensions: RawRecord;
}

type Section = 'networks' | 'volumes' | 'secrets' | 'configs';
const SECTIONS: Section[] = ['networks', 'volumes', 'secrets', 'configs'];

interface LoadState {
  warnings: string[];
  files: string[];
  home: string;
  /** The process environment (no `.env`), for included projects' own interpolation. */
  osEnv: Record<string, string | undefined>;
  /** Prepared services of files read for `extends`, by file. */
  extendsCache: Map<string, Map<string, RawRecord>>;
  /** The stack folder every referenced file must stay in; undefined: not confined. */
  confine?: Confinement;
  readEnvFile: EnvFileReader;
}

interface Document {
  top: RawTopLevel;
  extensions: RawRecord;
}

function warn(state: LoadState, message: string): void {
  if (!state.warnings.includes(message)) state.warnings.push(message);
}

function placeAt(file: string): (path: string[]) => ErrorPlace {
  return (path) =>
    path[0] === 'services' && path.length >= 2
      ? { file, service: path[1], field: path.slice(2).join('.') || undefined }
      : { file, field: path.join('.') || undefined };
}

/** The error for a file berth will not read: too large, or not a regular file. */
function refusal(
  place: ErrorPlace,
  unreadable: Reason,
): (detail: string, tooLarge: boolean) => ComposeError {
  return (detail, tooLarge) =>
    new ComposeError(tooLarge ? 'FileTooLarge' : unreadable, detail, { place });
}

function readText(file: string, place: ErrorPlace, what: string): string {
  try {
    return readBoundedFileSync(file, what, refusal(place, 'ComposeFileUnreadable'));
  } catch (err) {
    if (err instanceof ComposeError) throw err;
    throw new ComposeError('ComposeFileUnreadable', `cannot read ${what} ${file}`, {
      cause: err,
      place,
    });
  }
}

/** Counts what interpolation substitutes into one file, refusing past MAX_INTERPOLATED. */
function budgeted(lookup: Lookup, file: string): Lookup {
  let used = 0;
  return (name) => {
    const value = lookup(name);
    used += value?.length ?? 0;
    if (used > MAX_INTERPOLATED)
      throw new ComposeError(
        'ComposeInterpolation',
        `${file}: variables expand to more than ${describeCap(MAX_INTERPOLATED)}`,
        { place: { file } },
      );
    return value;
  };
}

/** Refuses a file reference leaving the stack folder (when loading is confined). */
function confine(state: LoadState, path: string, place: PathPlace, given?: string): void {
  confinePath(state.confine, path, place, given);
}

function readDocument(state: LoadState, file: string, lookup: Lookup): Document {
  const parsed = parseComposeYaml(readText(file, { file }, 'compose file'), file);
  // As compose-go: an empty file is a mistake (a truncated commit), not a stack of no services.
  if (parsed === null || parsed === undefined) {
    throw new ComposeError('ComposeFieldInvalid', `${file}: empty compose file`, {
      place: { file },
    });
  }
  if (!isRecord(parsed)) {
    throw new ComposeError('ComposeFieldInvalid', `${file}: the top level must be a mapping`, {
      place: { file },
    });
  }
  const interpolated = interpolateValues(
    parsed,
    {
      lookup: budgeted(lookup, file),
      place: { file },
      path: '',
      onUnset: (name, path) =>
        warn(state, `${file}: ${path}: variable "${name}" is not set, using an empty string`),
    },
    placeAt(file),
  ) as RawRecord;
  const extensions: RawRecord = {};
  for (const [key, value] of Object.entries(interpolated))
    if (key.startsWith('x-')) extensions[key] = stripMarkers(value);
  const top = parseRaw(RawTopLevel, stripTopMarkers(withoutExtensions(interpolated)), {
    file,
    what: 'top level',
  });
  return { top, extensions };
}

/** Markers only matter inside services; elsewhere they reduce to their plain meaning. */
function stripTopMarkers(top: RawRecord): RawRecord {
  const out: RawRecord = {};
  for (const [key, value] of Object.entries(top))
    out[key] = key === 'services' ? value : stripMarkers(value);
  return out;
}

function prepareServices(
  state: LoadState,
  services: Record<string, unknown> | null | undefined,
  file: string,
  baseDir: string,
): Map<string, RawRecord> {
  const out = new Map<string, RawRecord>();
  for (const [name, raw] of Object.entries(services ?? {})) {
    confineServiceFiles(state, raw, { file, service: name }, baseDir);
    out.set(name, prepareService(raw, { file, service: name, baseDir, home: state.home }));
  }
  return out;
}

/** A field's value, looking through `!override`. */
function plain(value: unknown): unknown {
  return value instanceof OverrideMarker ? value.value : value;
}

/**
 * The files a service names stay in the stack folder. Checked before the service is prepared,
 * while its paths are still as written (errors quote them so) and say which bind sources were
 * relative: absolute bind sources are left to policy. Builds are checked once normalized.
 */
function confineServiceFiles(
  state: LoadState,
  raw: unknown,
  place: { file: string; service: string },
  baseDir: string,
): void {
  if (state.confine === undefined || !isRecord(raw)) return;
  const check = (given: string, field: string): void =>
    confine(state, resolveHostPath(given, baseDir, state.home), { ...place, field }, given);
  const volumes = plain(raw.volumes);
  for (const [index, entry] of (Array.isArray(volumes) ? (volumes as unknown[]) : []).entries()) {
    const source = relativeBindSource(entry);
    if (source !== undefined)
      check(source, typeof entry === 'string' ? `volumes[${index}]` : `volumes[${index}].source`);
  }
  const envFile = plain(raw.env_file);
  const envFiles: unknown[] =
    typeof envFile === 'string' ? [envFile] : Array.isArray(envFile) ? envFile : [];
  for (const [index, entry] of envFiles.entries()) {
    const given = isRecord(entry) ? entry.path : entry;
    if (typeof given === 'string') check(given, `env_file[${index}]`);
  }
  const ext = plain(raw.extends);
  if (isRecord(ext) && typeof ext.file === 'string') check(ext.file, 'extends.file');
}

function extendsError(file: string, service: string, field: string, message: string): ComposeError {
  return new ComposeError(
    'ComposeExtendsInvalid',
    `${file}: service "${service}": field "${field}": ${message}`,
    { place: { file, service, field } },
  );
}

function resolveExtends(
  state: LoadState,
  services: Map<string, RawRecord>,
  name: string,
  where: { file: string; lookup: Lookup },
  chain: string[],
): RawRecord | undefined {
  const service = services.get(name);
  if (service === undefined) return undefined;
  if (!('extends' in service)) return service;
  const { extends: ext, ...local } = service;
  if (!isRecord(ext) || typeof ext.service !== 'string')
    throw extendsError(where.file, name, 'extends', 'expected a service name or {service, file}');
  for (const key of Object.keys(ext)) {
    if (key !== 'service' && key !== 'file')
      throw extendsError(where.file, name, `extends.${key}`, 'unsupported field');
  }
  const self = `${where.file}#${name}`;
  if (chain.includes(self))
    throw extendsError(
      where.file,
      name,
      'extends',
      `circular extends: ${[...chain, self].join(' -> ')}`,
    );
  let base: RawRecord | undefined;
  if (typeof ext.file === 'string') {
    const other = ext.file;
    confine(state, other, { file: where.file, service: name, field: 'extends.file' }, other);
    let prepared = state.extendsCache.get(other);
    if (prepared === undefined) {
      const doc = readDocument(state, other, where.lookup);
      if (!state.files.includes(other)) state.files.push(other);
      prepared = prepareServices(state, doc.top.services, other, dirname(other));
      state.extendsCache.set(other, prepared);
    }
    base = resolveExtends(state, prepared, ext.service, { file: other, lookup: where.lookup }, [
      ...chain,
      self,
    ]);
    if (base === undefined)
      throw extendsError(
        where.file,
        name,
        'extends.service',
        `service "${ext.service}" not found in ${other}`,
      );
  } else {
    base = resolveExtends(state, services, ext.service, where, [...chain, self]);
    if (base === undefined)
      throw extendsError(where.file, name, 'extends.service', `service "${ext.service}" not found`);
  }
  // Markers the base kept for its own merges mean nothing to what extends it.
  const merged = mergeService(stripMarkers(base) as RawRecord, local);
  services.set(name, merged);
  return merged;
}

function lookupIn(...sources: Record<string, string | undefined>[]): Lookup {
  return (name) => {
    for (const source of sources) {
      const value = source[name];
      if (value !== undefined) return value;
    }
    return undefined;
  };
}

function readEnvFile(
  path: string,
  required: boolean,
  lookup: Lookup,
  place: ErrorPlace,
  reader: EnvFileReader,
): Record<string, string> {
  let text: string;
  try {
    text = readBoundedFileSync(path, 'env file', refusal(place, 'ComposeFileUnreadable'));
  } catch (err) {
    if (err instanceof ComposeError) throw err;
    if (!required && (err as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new ComposeError('ComposeFileUnreadable', `cannot read env file ${path}`, {
      cause: err,
      place,
    });
  }
  return parseDotenv(reader(path, text), path, lookup);
}

/**
 * Merges `from` into `into`: as an override file (`override`, Compose's `-f` order and an
 * include's list of paths) or as an include, where defining anything twice is a conflict.
 * Services keep their `!reset`/`!override` markers until here: they apply to this merge.
 */
function mergeModels(into: Model, from: Model, file: string, override: boolean): void {
  if (override) {
    if (from.name !== undefined) into.name = from.name;
    // As compose-go: a top-level x- key of an override replaces the base's whole.
    Object.assign(into.extensions, from.extensions);
  }
  for (const [name, entry] of from.services) {
    const existing = into.services.get(name);
    if (existing !== undefined && !override) {
      throw new ComposeError(
        'ComposeIncludeConflict',
        `${file}: service "${name}" from ${entry.file} conflicts with the one in ${existing.file}`,
        { place: { file, service: name } },
      );
    }
    into.services.set(
      name,
      existing === undefined
        ? entry
        : { ...entry, value: mergeService(stripMarkers(existing.value) as RawRecord, entry.value) },
    );
  }
  for (const section of SECTIONS) {
    for (const [key, entry] of from[section]) {
      const existing = into[section].get(key);
      if (existing !== undefined && !override && !isDeepStrictEqual(existing.value, entry.value)) {
        throw new ComposeError(
          'ComposeIncludeConflict',
          `${file}: ${section}.${key} from ${entry.file} conflicts with the one in ${existing.file}`,
          { place: { file, field: `${section}.${key}` } },
        );
      }
      into[section].set(
        key,
        existing === undefined
          ? entry
          : { ...entry, value: mergeDefinition(existing.value, entry.value) },
      );
    }
  }
}

/** A top-level definition without extensions; a secret's or config's file made absolute. */
function definitionOf(
  state: LoadState,
  section: Section,
  key: string,
  raw: unknown,
  at: { file: string; baseDir: string },
): unknown {
  const value: unknown = raw ?? {};
  if (!isRecord(value)) return value;
  const definition = withoutExtensions(value);
  const given = definition.file;
  if ((section === 'secrets' || section === 'configs') && typeof given === 'string') {
    const path = resolveHostPath(given, at.baseDir, state.home);
    confine(state, path, { file: at.file, field: `${section}.${key}.file` }, given);
    definition.file = path;
  }
  return definition;
}

type Include = NonNullable<RawTopLevel['include']>[number];

/** The env values an include interpolates with: its env files, else its project's `.env`. */
function includeEnv(
  state: LoadState,
  at: { file: string; baseDir: string; field: string },
  envFile: string | string[] | undefined,
  projectDir: string,
): Record<string, string> {
  const place = { file: at.file, field: `${at.field}.env_file` };
  const osLookup = lookupIn(state.osEnv);
  if (envFile === undefined) {
    const dotenv = join(projectDir, '.env');
    confine(state, dotenv, place, dotenv);
    return readEnvFile(dotenv, false, osLookup, place, state.readEnvFile);
  }
  const values: Record<string, string> = {};
  for (const given of typeof envFile === 'string' ? [envFile] : envFile) {
    const path = resolveHostPath(given, at.baseDir, state.home);
    confine(state, path, place, given);
    Object.assign(values, readEnvFile(path, true, osLookup, place, state.readEnvFile));
  }
  return values;
}

/** Loads one `include` entry: its files merged as override files, in their project directory. */
function loadInclude(
  state: LoadState,
  at: { file: string; baseDir: string; index: number },
  include: Include,
  chain: string[],
): Model {
  const { file, baseDir } = at;
  const field = `include[${at.index}]`;
  const long = typeof include === 'string' ? { path: include } : include;
  const given = typeof long.path === 'string' ? [long.path] : long.path;
  const paths = given.map((p) => resolveHostPath(p, baseDir, state.home));
  paths.forEach((path, i) => confine(state, path, { file, field: `${field}.path` }, given[i]));
  const first = paths[0];
  if (first === undefined) {
    throw new ComposeError(
      'ComposeIncludeInvalid',
      `${file}: field "${field}.path": no file given`,
      {
        place: { file, field: `${field}.path` },
      },
    );
  }
  let projectDir = dirname(first);
  if (long.project_directory !== undefined) {
    projectDir = resolveHostPath(long.project_directory, baseDir, state.home);
    const place = { file, field: `${field}.project_directory` };
    confine(state, projectDir, place, long.project_directory);
  }
  const envValues = includeEnv(state, { file, baseDir, field }, long.env_file, projectDir);
  const includeLookup = lookupIn(state.osEnv, envValues);
  const included = loadModel(state, first, projectDir, includeLookup, [...chain, file]);
  for (const path of paths.slice(1)) {
    const override = loadModel(state, path, projectDir, includeLookup, [...chain, file]);
    mergeModels(included, override, path, true);
  }
  return included;
}

function loadModel(
  state: LoadState,
  file: string,
  baseDir: string,
  lookup: Lookup,
  chain: string[],
): Model {
  if (chain.includes(file)) {
    throw new ComposeError(
      'ComposeIncludeInvalid',
      `${file}: circular include: ${[...chain, file].join(' -> ')}`,
      {
        place: { file },
      },
    );
  }
  state.files.push(file);
  const { top, extensions } = readDocument(state, file, lookup);
  const prepared = prepareServices(state, top.services, file, baseDir);
  const model: Model = {
    services: new Map(),
    networks: new Map(),
    volumes: new Map(),
    secrets: new Map(),
    configs: new Map(),
    extensions,
  };
  if (top.name !== undefined) model.name = top.name;
  for (const name of [...prepared.keys()]) {
    const value = resolveExtends(state, prepared, name, { file, lookup }, []) ?? {};
    // Markers stay for an override file's merge; load strips them once all files are merged.
    model.services.set(name, { value, file, baseDir });
  }
  for (const section of SECTIONS) {
    for (const [key, raw] of Object.entries(top[section] ?? {}))
      model[section].set(key, {
        value: definitionOf(state, section, key, raw, { file, baseDir }),
        file,
        baseDir,
      });
  }
  for (const [index, include] of (top.include ?? []).entries())
    mergeModels(model, loadInclude(state, { file, baseDir, index }, include, chain), file, false);
  return model;
}

const SERVICE_NAME = /^[a-zA-Z0-9][a-zA-Z0-9._-]*$/;

/** Validates every definition of a top-level section, used or not, so nothing wrong goes unnoticed. */
function validateSection<T extends z.ZodType>(
  model: Model,
  section: Section,
  schema: T,
  what: string,
): Map<string, { raw: z.infer<T>; file: string }> {
  const out = new Map<string, { raw: z.infer<T>; file: string }>();
  for (const [key, entry] of model[section]) {
    const raw = parseRaw(schema, entry.value, {
      file: entry.file,
      prefix: `${section}.${key}`,
      what: `${what} "${key}"`,
    });
    out.set(key, { raw, file: entry.file });
  }
  return out;
}

function isEnabled(profiles: unknown, active: Set<string>): boolean {
  if (!Array.isArray(profiles) || profiles.length === 0) return true;
  if (active.has('*')) return true;
  return profiles.some((profile) => active.has(String(profile)));
}

/**
 * Loads a compose project from a stack folder into the normalized form the engine consumes.
 * Throws ComposeError naming the file, the service and the field of the first problem.
 */
export async function loadProject(dir: string, options: LoadOptions = {}): Promise<LoadResult> {
  try {
    return await load(dir, options);
  } catch (err) {
    // The caller knows the stack by its project name; put it on the error for its messages.
    if (err instanceof ComposeError && options.projectName !== undefined)
      err.place.stack ??= options.projectName;
    throw err;
  }
}

/** The compose files to merge, absolute, each inside the folder and present. */
async function selectFiles(
  workingDir: string,
  given: string[] | undefined,
  confined: Confinement | undefined,
): Promise<DefaultSelection> {
  if (given === undefined || given.length === 0) {
    const found = await defaultSelection(workingDir);
    if (found.files.length === 0)
      throw new ComposeError(
        'ComposeFileNotFound',
        `no compose file in ${workingDir} (looked for ${COMPOSE_FILE_NAMES.join(', ')})`,
        { place: { file: workingDir } },
      );
    // Found by name, a compose file can still be a link out of the folder.
    for (const file of found.files) confinePath(confined, file, { file });
    return found;
  }
  const files = given.map((name) => resolve(workingDir, name));
  for (const [index, file] of files.entries()) {
    confinePath(confined, file, { file }, given[index]);
    try {
      await access(file);
    } catch (err) {
      throw new ComposeError('ComposeFileNotFound', `compose file ${file} does not exist`, {
        cause: err,
        place: { file },
      });
    }
  }
  return { files, warnings: [] };
}

/**
 * What interpolation reads besides the environment: the folder's `.env` when present, or
 * the env files given instead (Compose's `--env-file`: each required, later ones winning).
 */
function interpolationValues(
  workingDir: string,
  options: LoadOptions,
  osEnv: Record<string, string | undefined>,
  confined: Confinement | undefined,
): Record<string, string> {
  const reader = options.readEnvFile ?? plainEnvFile;
  const given = options.envFiles ?? [];
  if (given.length === 0) {
    const envPath = join(workingDir, '.env');
    confinePath(confined, envPath, { file: envPath });
    return readEnvFile(envPath, false, lookupIn(osEnv), { file: envPath }, reader);
  }
  const values: Record<string, string> = {};
  for (const name of given) {
    const path = resolve(workingDir, name);
    confinePath(confined, path, { file: path }, name);
    Object.assign(values, readEnvFile(path, true, lookupIn(osEnv, values), { file: path }, reader));
  }
  return values;
}

/** The project name: the caller's, the files' `name:`, else the folder's, normalized. */
function projectNameOf(
  options: LoadOptions,
  model: Model,
  workingDir: string,
  file: string,
): string {
  const name = normalizeProjectName(options.projectName ?? model.name ?? basename(workingDir));
  if (name === '')
    throw new ComposeError(
      'ComposeProjectNameInvalid',
      `${file}: project name is empty after normalization`,
      { place: { file, field: 'name' } },
    );
  return name;
}

function activeProfiles(options: LoadOptions, lookup: Lookup): Set<string> {
  return new Set(
    options.profiles ??
      (lookup('COMPOSE_PROFILES') ?? '')
        .split(',')
        .map((p) => p.trim())
        .filter((p) => p !== ''),
  );
}

type Declared = NormalizeContext['declared'];

function declaredIn(model: Model): Declared {
  return {
    networks: new Set(model.networks.keys()),
    volumes: new Set(model.volumes.keys()),
    secrets: new Set(model.secrets.keys()),
    configs: new Set(model.configs.keys()),
  };
}

/** One service entry of the merged model, normalized; undefined when its profiles are off. */
function normalizeEntry(
  name: string,
  entry: Entry<RawRecord>,
  base: Omit<NormalizeContext, 'file' | 'service' | 'baseDir'>,
  active: Set<string>,
  named: Set<string>,
): ServiceConfig | undefined {
  const place = { file: entry.file, service: name };
  if (!SERVICE_NAME.test(name))
    throw new ComposeError(
      'ComposeFieldInvalid',
      `${entry.file}: service "${name}": invalid service name, use [a-zA-Z0-9._-]`,
      { place },
    );
  const raw = parseRaw(RawService, stripMarkers(entry.value), { ...place, what: 'service' });
  for (const profile of raw.profiles ?? []) named.add(String(profile));
  if (!isEnabled(raw.profiles, active)) return undefined;
  const service = normalizeService({ ...base, ...place, baseDir: entry.baseDir }, raw);
  if (service.containerName !== undefined && service.replicas > 1)
    throw new ComposeError(
      'ComposeFieldInvalid',
      `${entry.file}: service "${name}": field "container_name": a fixed container name allows only one replica`,
      { place: { ...place, field: 'container_name' } },
    );
  return service;
}

/** The enabled services, normalized; warns about profiles asked for that no service has. */
function normalizeServices(
  state: LoadState,
  model: Model,
  base: Omit<NormalizeContext, 'file' | 'service' | 'baseDir'>,
  options: LoadOptions,
): Record<string, ServiceConfig> {
  const active = activeProfiles(options, base.lookup);
  const services: Record<string, ServiceConfig> = {};
  const named = new Set<string>();
  for (const [name, entry] of model.services) {
    const service = normalizeEntry(name, entry, base, active, named);
    if (service !== undefined) services[name] = service;
  }
  // A profile asked for by name that no service has is a typo more often than not.
  for (const profile of options.profiles ?? [])
    if (profile !== '*' && !named.has(profile))
      warn(state, `profile "${profile}" is not used by any service`);
  return services;
}

/** A required dependency must be a service that is defined and enabled. */
function checkDependencies(
  services: Record<string, ServiceConfig>,
  model: Model,
  file: string,
): void {
  for (const service of Object.values(services)) {
    for (const [dependency, config] of Object.entries(service.dependsOn)) {
      if (!config.required || services[dependency] !== undefined) continue;
      const where = model.services.get(service.name)?.file ?? file;
      const field = `depends_on.${dependency}`;
      throw new ComposeError(
        'ComposeFieldInvalid',
        `${where}: service "${service.name}": field "${field}": service "${dependency}" is ${model.services.has(dependency) ? 'not enabled by the active profiles' : 'not defined'}`,
        { place: { file: where, service: service.name, field } },
      );
    }
  }
}

/** The top-level keys the enabled services use: only those are part of the project. */
function usedKeys(services: Record<string, ServiceConfig>): Record<Section, Set<string>> {
  const used = {
    networks: new Set<string>(),
    volumes: new Set<string>(),
    secrets: new Set<string>(),
    configs: new Set<string>(),
  };
  for (const service of Object.values(services)) {
    for (const key of Object.keys(service.networks)) used.networks.add(key);
    for (const volume of service.volumes)
      if (volume.type === 'volume' && volume.source !== undefined) used.volumes.add(volume.source);
    for (const ref of service.secrets) used.secrets.add(ref.source);
    for (const ref of service.configs) used.configs.add(ref.source);
  }
  return used;
}

/** Every top-level definition, checked whether a service uses it or not (as Compose does). */
function validateDefinitions(model: Model): {
  networks: Map<string, { raw: RawNetwork; file: string }>;
  volumes: Map<string, { raw: RawVolume; file: string }>;
  secrets: Map<string, { raw: RawFileDefinition; file: string }>;
  configs: Map<string, { raw: RawFileDefinition; file: string }>;
} {
  return {
    networks: validateSection(model, 'networks', RawNetwork, 'network'),
    volumes: validateSection(model, 'volumes', RawVolume, 'volume'),
    secrets: validateSection(model, 'secrets', RawFileDefinition, 'secret'),
    configs: validateSection(model, 'configs', RawFileDefinition, 'config'),
  };
}

/** The project's networks, volumes, secrets and configs: the used ones, normalized. */
function addDefinitions(
  state: LoadState,
  project: ComposeProject,
  definitions: ReturnType<typeof validateDefinitions>,
  lookup: Lookup,
): void {
  const used = usedKeys(project.services);
  // Only `default` can be undeclared here: other undeclared networks were rejected with their service.
  for (const key of used.networks)
    project.networks[key] = normalizeNetwork(
      project.name,
      key,
      definitions.networks.get(key)?.raw ?? {},
    );
  for (const key of used.volumes) {
    const definition = definitions.volumes.get(key);
    if (definition !== undefined)
      project.volumes[key] = normalizeVolume(project.name, key, definition.raw);
  }
  for (const kind of ['secrets', 'configs'] as const) {
    for (const key of used[kind]) {
      const definition = definitions[kind].get(key);
      if (definition === undefined) continue;
      project[kind][key] = normalizeFileDefinition(
        { file: definition.file, kind, key },
        definition.raw,
        lookup,
        (message) => warn(state, message),
      );
    }
  }
}

async function load(dir: string, options: LoadOptions): Promise<LoadResult> {
  const workingDir = resolve(dir);
  const confined = options.confine === false ? undefined : confinementSync(workingDir);
  const selected = await selectFiles(workingDir, options.files, confined);
  const osEnv = options.env ?? process.env;
  const lookup = lookupIn(osEnv, interpolationValues(workingDir, options, osEnv, confined));
  const state: LoadState = {
    warnings: [...selected.warnings],
    files: [],
    home: osEnv.HOME ?? homedir(),
    osEnv,
    extendsCache: new Map(),
    readEnvFile: options.readEnvFile ?? plainEnvFile,
  };
  if (confined !== undefined) state.confine = confined;
  const [file, ...overrides] = selected.files as [string, ...string[]];
  // Every file's relative paths resolve against the project folder, as Compose's do.
  const model = loadModel(state, file, workingDir, lookup, []);
  for (const override of overrides)
    mergeModels(model, loadModel(state, override, workingDir, lookup, []), override, true);

  const name = projectNameOf(options, model, workingDir, file);
  const definitions = validateDefinitions(model);
  const services = normalizeServices(
    state,
    model,
    {
      lookup,
      declared: declaredIn(model),
      readEnvFile: state.readEnvFile,
      ...(confined === undefined ? {} : { confine: confined }),
    },
    options,
  );
  checkDependencies(services, model, file);
  const project: ComposeProject = {
    name,
    workingDir,
    configFiles: state.files,
    services,
    networks: {},
    volumes: {},
    secrets: {},
    configs: {},
    extensions: model.extensions,
  };
  addDefinitions(state, project, definitions, lookup);
  // Compose refuses a cycle when it loads the file; so does validate, before any deploy.
  try {
    dependencyLevels(project);
  } catch (err) {
    if (err instanceof ComposeError) err.place.file ??= file;
    throw err;
  }
  return { project, warnings: state.warnings };
}
