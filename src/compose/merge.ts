import { isDeepStrictEqual } from 'node:util';
import { ComposeError } from '../errors.js';
import { resolveHostPath, parseShortVolume } from './volumes.js';
import { OverrideMarker, ResetMarker } from './yaml.js';

export type RawRecord = Record<string, unknown>;

export function isRecord(value: unknown): value is RawRecord {
  return (
    value !== null &&
    typeof value === 'object' &&
    !Array.isArray(value) &&
    !(value instanceof ResetMarker) &&
    !(value instanceof OverrideMarker)
  );
}

/** Drops `x-*` keys: Compose allows them anywhere as user extensions. */
export function withoutExtensions(value: RawRecord): RawRecord {
  const out: RawRecord = {};
  for (const [key, item] of Object.entries(value)) if (!key.startsWith('x-')) out[key] = item;
  return out;
}

export interface PrepareContext {
  file: string;
  service: string;
  baseDir: string;
  home?: string;
}

function listToMap(list: unknown[], emptyValue: null | string): RawRecord {
  const out: RawRecord = {};
  for (const item of list) {
    const text = String(item);
    const eq = text.indexOf('=');
    if (eq < 0) out[text] = emptyValue;
    else out[text.slice(0, eq)] = text.slice(eq + 1);
  }
  return out;
}

function isUrl(context: string): boolean {
  return /^(https?:\/\/|git@|git:\/\/|ssh:\/\/|github\.com\/)/.test(context);
}

/** Applies `convert` to a field value, looking through `!override` and leaving `!reset` alone. */
function convertField(value: unknown, convert: (value: unknown) => unknown): unknown {
  if (value instanceof ResetMarker) return value;
  if (value instanceof OverrideMarker) return new OverrideMarker(convert(value.value));
  return convert(value);
}

/**
 * Brings one service to a mergeable, path-resolved form: list-or-map fields become maps, short
 * volumes become long ones, relative paths become absolute against the file's project directory.
 * Values of unexpected shape are left as they are for validation to report.
 */
export function prepareService(raw: unknown, ctx: PrepareContext): RawRecord {
  if (raw === null || raw === undefined) return {};
  if (!isRecord(raw)) {
    throw new ComposeError(
      'ComposeFieldInvalid',
      `${ctx.file}: service "${ctx.service}": definition must be a mapping`,
      { place: { file: ctx.file, service: ctx.service } },
    );
  }
  const service = withoutExtensions(raw);
  const fields: Record<string, (value: unknown) => unknown> = {
    environment: (v) => (Array.isArray(v) ? listToMap(v, null) : v),
    labels: (v) => (Array.isArray(v) ? listToMap(v, '') : v),
    sysctls: (v) => (Array.isArray(v) ? listToMap(v, '') : v),
    networks: (v) =>
      Array.isArray(v) ? Object.fromEntries(v.map((name) => [String(name), null])) : v,
    depends_on: (v) =>
      Array.isArray(v)
        ? Object.fromEntries(v.map((name) => [String(name), { condition: 'service_started' }]))
        : v,
    extra_hosts: (v) => {
      if (!isRecord(v)) return v;
      return Object.entries(v).flatMap(([host, ip]) =>
        (Array.isArray(ip) ? ip : [ip]).map((one) => `${host}:${String(one)}`),
      );
    },
    dns: (v) => (typeof v === 'string' ? [v] : v),
    dns_search: (v) => (typeof v === 'string' ? [v] : v),
    tmpfs: (v) => (typeof v === 'string' ? [v] : v),
    secrets: (v) =>
      Array.isArray(v)
        ? (v as unknown[]).map((s) => (typeof s === 'string' ? { source: s } : s))
        : v,
    configs: (v) =>
      Array.isArray(v)
        ? (v as unknown[]).map((s) => (typeof s === 'string' ? { source: s } : s))
        : v,
    env_file: (v) => {
      const list = typeof v === 'string' ? [v] : v;
      if (!Array.isArray(list)) return v;
      return (list as unknown[]).map((entry) => {
        if (typeof entry === 'string') return resolveHostPath(entry, ctx.baseDir, ctx.home);
        if (isRecord(entry) && typeof entry.path === 'string')
          return { ...entry, path: resolveHostPath(entry.path, ctx.baseDir, ctx.home) };
        return entry;
      });
    },
    build: (v) => {
      const build = typeof v === 'string' ? { context: v } : v;
      if (!isRecord(build)) return v;
      const out = withoutExtensions(build);
      if (out.context === undefined) out.context = ctx.baseDir;
      else if (typeof out.context === 'string' && !isUrl(out.context))
        out.context = resolveHostPath(out.context, ctx.baseDir, ctx.home);
      if (Array.isArray(out.args)) out.args = listToMap(out.args, null);
      if (Array.isArray(out.labels)) out.labels = listToMap(out.labels, '');
      return out;
    },
    volumes: (v) => {
      if (!Array.isArray(v)) return v;
      return (v as unknown[]).map((entry, index) => {
        if (typeof entry === 'string') {
          const parsed = parseShortVolume(entry, ctx.baseDir, ctx.home);
          if (typeof parsed === 'string') {
            const field = `volumes[${index}]`;
            throw new ComposeError(
              'ComposeFieldInvalid',
              `${ctx.file}: service "${ctx.service}": field "${field}": ${parsed}`,
              { place: { file: ctx.file, service: ctx.service, field } },
            );
          }
          return parsed;
        }
        if (isRecord(entry) && entry.type === 'bind' && typeof entry.source === 'string')
          return { ...entry, source: resolveHostPath(entry.source, ctx.baseDir, ctx.home) };
        return entry;
      });
    },
    extends: (v) => {
      const ext = typeof v === 'string' ? { service: v } : v;
      if (isRecord(ext) && typeof ext.file === 'string')
        return { ...ext, file: resolveHostPath(ext.file, ctx.baseDir, ctx.home) };
      return ext;
    },
    deploy: (v) => (isRecord(v) ? withoutExtensions(v) : v),
    healthcheck: (v) => (isRecord(v) ? withoutExtensions(v) : v),
    logging: (v) => (isRecord(v) ? withoutExtensions(v) : v),
  };
  for (const [key, convert] of Object.entries(fields)) {
    if (key in service) service[key] = convertField(service[key], convert);
  }
  return service;
}

const REPLACED = new Set(['command', 'entrypoint', 'healthcheck.test']);

function appendUnique(base: unknown[], over: unknown[]): unknown[] {
  const out = [...base];
  for (const item of over)
    if (!out.some((existing) => isDeepStrictEqual(existing, item))) out.push(item);
  return out;
}

function mergeByKey(base: unknown[], over: unknown[], key: (item: unknown) => unknown): unknown[] {
  const out = [...base];
  for (const item of over) {
    const k = key(item);
    const at = k === undefined ? -1 : out.findIndex((existing) => key(existing) === k);
    if (at >= 0) out[at] = item;
    else out.push(item);
  }
  return out;
}

function field(item: unknown, name: string): unknown {
  return isRecord(item) ? item[name] : undefined;
}

/** Where a secret or config lands in the container, as Compose indexes them when merging. */
function mountTarget(item: unknown, dir: string): unknown {
  const target = field(item, 'target') ?? field(item, 'source');
  if (typeof target !== 'string') return target;
  return target.startsWith('/') ? target : `${dir}/${target}`;
}

/** Logging options belong to their driver: a different driver replaces the whole section. */
function mergeLogging(base: RawRecord, over: RawRecord, path: string): RawRecord {
  const driver = over.driver;
  if (driver !== undefined && base.driver !== undefined && driver !== base.driver) return over;
  return mergeRecords(base, over, path);
}

function mergeValue(base: unknown, over: unknown, path: string): unknown {
  if (over instanceof ResetMarker) return undefined;
  if (over instanceof OverrideMarker) return over.value;
  // As Compose: an empty entry (`networks: [front]` over `front: { aliases: [...] }`) keeps
  // the mapping it overrides; an empty scalar (`environment: { A: }`) still replaces.
  if (over === null && isRecord(base)) return base;
  if (REPLACED.has(path)) return over;
  if (Array.isArray(base) && Array.isArray(over)) {
    if (path === 'volumes') return mergeByKey(base, over, (v) => field(v, 'target'));
    if (path === 'secrets') return mergeByKey(base, over, (v) => mountTarget(v, '/run/secrets'));
    if (path === 'configs') return mergeByKey(base, over, (v) => mountTarget(v, ''));
    return appendUnique(base, over);
  }
  if (isRecord(base) && isRecord(over))
    return path === 'logging' ? mergeLogging(base, over, path) : mergeRecords(base, over, path);
  return over;
}

function mergeRecords(base: RawRecord, over: RawRecord, path: string): RawRecord {
  const out: RawRecord = { ...base };
  for (const [key, value] of Object.entries(over)) {
    const merged = mergeValue(base[key], value, path === '' ? key : `${path}.${key}`);
    if (merged === undefined) delete out[key];
    else out[key] = merged;
  }
  return out;
}

/**
 * Merges a service over the one it extends (or an override file's service over the base) with
 * Compose's rules: mappings merge key by key (environment, labels, sysctls, extra_hosts and
 * depends_on are mappings by then), sequences append without duplicates (ports, expose, dns,
 * ...; volumes by target, secrets and configs by where they land), command, entrypoint and
 * healthcheck test replace, a logging driver of its own brings only its own options, an empty
 * entry keeps an inherited mapping; `!reset` drops the inherited value and `!override`
 * replaces it whole.
 */
export function mergeService(base: RawRecord, over: RawRecord): RawRecord {
  return mergeRecords(base, over, '');
}

/** A path prefix no service field has, so a definition's keys get no service rule. */
const DEFINITION = '\u0000definition';

/**
 * Merges a top-level definition (`networks.x`, `volumes.x`, ...) of an override file over the
 * base's: key by key, so an override can add `internal: true` without repeating the driver.
 */
export function mergeDefinition(base: unknown, over: unknown): unknown {
  if (isRecord(base) && isRecord(over)) return mergeRecords(base, over, DEFINITION);
  return over ?? base;
}

/** Removes `!reset` fields and unwraps `!override` once nothing is left to merge. */
export function stripMarkers(value: unknown): unknown {
  if (value instanceof OverrideMarker) return stripMarkers(value.value);
  if (Array.isArray(value))
    return value.filter((item) => !(item instanceof ResetMarker)).map(stripMarkers);
  if (isRecord(value)) {
    const out: RawRecord = {};
    for (const [key, item] of Object.entries(value)) {
      if (!(item instanceof ResetMarker)) out[key] = stripMarkers(item);
    }
    return out;
  }
  return value;
}
