import { z } from 'zod';
import YAML from 'yaml';
import { SOURCE_KINDS } from '../source/registry.js';
import { ConfigFile, DEFAULT_SOURCE, isObject } from './schema.js';

/**
 * `BERTH_*` environment variables override config keys. The name after `BERTH_` is the key
 * path with `__` between levels, matched case-insensitively against the schema
 * (`BERTH_SOURCE__GIT__URL` -> source.git.url, `BERTH_DATADIR` -> dataDir). Values are
 * YAML scalars (`true`, `3`, `[a, b]`), except for string keys, which take the text as is so
 * a token of digits stays a string. Empty values count as unset.
 */
export const ENV_PREFIX = 'BERTH_';

/** Short names for the keys people set most; each source kind brings its own (BERTH_GIT_URL). */
export const ENV_ALIASES: Readonly<Record<string, readonly string[]>> = {
  BERTH_DATA_DIR: ['dataDir'],
  BERTH_LOG_LEVEL: ['log', 'level'],
  ...Object.fromEntries(
    SOURCE_KINDS.flatMap((kind) =>
      Object.entries(kind.env?.aliases ?? {}).map(([name, keys]) => [
        name,
        ['source', kind.configKey, ...keys],
      ]),
    ),
  ),
};

/** Variables with a BERTH_ name that are not config keys (read elsewhere). */
const NOT_KEYS = new Set(['BERTH_CONFIG']);

interface Exclusion {
  when: readonly string[];
  drop: readonly string[];
}

/**
 * Keys of a source section that exclude each other. When env sets `when` but nothing under
 * `drop`, the file's `drop` is removed, so `BERTH_GIT_URL` switches a `source.path` config to
 * git and `BERTH_GIT_TOKEN` replaces a `tokenFile`. Paths are below the section.
 */
const EXCLUSIVE: readonly Exclusion[] = SOURCE_KINDS.flatMap((kind): Exclusion[] => {
  const at = (keys: readonly string[]): string[] => [kind.configKey, ...keys];
  const selects = kind.env?.selects;
  const switches =
    selects === undefined
      ? []
      : SOURCE_KINDS.filter((other) => other.configKey !== kind.configKey).map((other) => ({
          when: at(selects),
          drop: [other.configKey],
        }));
  const own = (kind.env?.exclusive ?? []).map((e) => ({ when: at(e.when), drop: at(e.drop) }));
  return [...switches, ...own];
});

export interface EnvOverride {
  variable: string;
  path: string[];
  value: unknown;
}

export interface EnvOverrides {
  overrides: EnvOverride[];
  problems: string[];
}

function rank(variable: string): number {
  return variable in ENV_ALIASES ? 0 : 1;
}

/** Reads the overrides from an environment; aliases first, so the long form wins. */
export function readEnvOverrides(env: NodeJS.ProcessEnv): EnvOverrides {
  const overrides: EnvOverride[] = [];
  const problems: string[] = [];
  const names = Object.keys(env)
    .filter((name) => name.startsWith(ENV_PREFIX) && !NOT_KEYS.has(name))
    .sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
  for (const variable of names) {
    const text = env[variable];
    if (text === undefined || text === '') continue;
    const alias = ENV_ALIASES[variable];
    const segments = alias ?? variable.slice(ENV_PREFIX.length).split('__');
    const found = findKey(segments);
    if ('unknown' in found) {
      // A single-level name may belong to something else (BERTH_FIXTURE_IMAGE); a nested
      // one can only be meant for the config, so a typo there is reported.
      if (segments.length > 1) problems.push(`${variable}: no config key "${found.unknown}"`);
      continue;
    }
    const value = parseValue(text, found.leaf);
    if ('error' in value) {
      problems.push(`${variable}: ${found.path.join('.')}: ${value.error}`);
      continue;
    }
    overrides.push({ variable, path: found.path, value: value.value });
  }
  return { overrides, problems };
}

/**
 * With `sources:` in the file, the overrides of `source.…` keys (BERTH_GIT_URL, …) are meant
 * for the source named `default`: they are moved there, or refused, naming the variable, when
 * there is no such source. Without `sources:`, they stay as they are.
 */
export function routeSourceOverrides(
  raw: Record<string, unknown>,
  overrides: readonly EnvOverride[],
): EnvOverrides {
  const sources = raw.sources;
  if (!Array.isArray(sources)) return { overrides: [...overrides], problems: [] };
  const index = sources.findIndex((entry) => isObject(entry) && entry.name === DEFAULT_SOURCE);
  const routed: EnvOverride[] = [];
  const problems: string[] = [];
  for (const override of overrides) {
    if (override.path[0] !== 'source') routed.push(override);
    else if (index === -1)
      problems.push(
        `${override.variable}: sets ${override.path.join('.')}, but sources has no source named "${DEFAULT_SOURCE}" to apply it to`,
      );
    else routed.push({ ...override, path: ['sources', `${index}`, ...override.path.slice(1)] });
  }
  return { overrides: routed, problems };
}

/** Returns a copy of `raw` with the overrides set. */
export function applyEnvOverrides(
  raw: Record<string, unknown>,
  overrides: readonly EnvOverride[],
): Record<string, unknown> {
  const result = structuredClone(raw);
  const touched = (prefix: readonly string[]): boolean =>
    overrides.some((o) => prefix.every((key, i) => o.path[i] === key));
  for (const section of sectionsTouched(overrides)) {
    for (const { when, drop } of EXCLUSIVE) {
      if (touched([...section, ...when]) && !touched([...section, ...drop]))
        unset(result, [...section, ...drop]);
    }
  }
  for (const { path, value } of overrides) set(result, path, value);
  return result;
}

/** The source sections the overrides set keys in: `source`, or `sources.<i>`. */
function sectionsTouched(overrides: readonly EnvOverride[]): string[][] {
  const sections = new Map<string, string[]>();
  for (const { path } of overrides) {
    const section =
      path[0] === 'source' ? path.slice(0, 1) : path[0] === 'sources' ? path.slice(0, 2) : [];
    if (section.length > 0) sections.set(section.join('.'), section);
  }
  return [...sections.values()];
}

type Found = { path: string[]; leaf: z.ZodType } | { unknown: string };

function findKey(segments: readonly string[]): Found {
  let schema: z.ZodType = ConfigFile;
  const path: string[] = [];
  for (const segment of segments) {
    const object = unwrap(schema);
    const key =
      object instanceof z.ZodObject
        ? Object.keys(object.shape).find((k) => k.toLowerCase() === segment.toLowerCase())
        : undefined;
    if (key === undefined || !(object instanceof z.ZodObject))
      return { unknown: [...path, segment.toLowerCase()].join('.') };
    path.push(key);
    schema = (object.shape as Record<string, z.ZodType>)[key] as z.ZodType;
  }
  return { path, leaf: unwrap(schema) };
}

function unwrap(schema: z.ZodType): z.ZodType {
  let current = schema;
  for (;;) {
    if (
      current instanceof z.ZodOptional ||
      current instanceof z.ZodDefault ||
      current instanceof z.ZodPrefault ||
      current instanceof z.ZodNullable
    )
      current = current.unwrap() as z.ZodType;
    else if (current instanceof z.ZodPipe) current = current.in as z.ZodType;
    else return current;
  }
}

function parseValue(text: string, leaf: z.ZodType): { value: unknown } | { error: string } {
  if (leaf instanceof z.ZodString) return { value: text };
  try {
    return { value: YAML.parse(text) as unknown };
  } catch (err) {
    return { error: `not a YAML value: ${err instanceof Error ? err.message : String(err)}` };
  }
}

/** Objects and lists (the entries of `sources:`) are walked into; a list's keys are indexes. */
function isNested(value: unknown): value is Record<string, unknown> {
  return isObject(value) || Array.isArray(value);
}

function set(target: Record<string, unknown>, path: readonly string[], value: unknown): void {
  let node = target;
  for (const key of path.slice(0, -1)) {
    const next = node[key];
    if (!isNested(next)) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  const last = path[path.length - 1];
  if (last !== undefined) node[last] = value;
}

function unset(target: Record<string, unknown>, path: readonly string[]): void {
  let node: unknown = target;
  for (const key of path.slice(0, -1)) {
    node = isNested(node) ? node[key] : undefined;
  }
  const last = path[path.length - 1];
  if (isNested(node) && last !== undefined) delete node[last];
}
