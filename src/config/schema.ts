import { validate as validateCron } from 'node-cron';
import { z } from 'zod';
import { BoundedDuration } from '../duration.js';
import { normalizeRegistry } from '../engine/registry-auth.js';
import { NotifyConfig } from '../notify/schema.js';
import { PolicyConfig } from '../policy/schema.js';
import { ServerConfig } from '../server/schema.js';
import { CanaryInput } from '../stack/settings.js';
import { DEFAULT_SOURCE, SOURCE_KINDS, kindsSetIn } from '../source/registry.js';

/**
 * The config file as written (YAML), before paths are resolved and secrets read.
 * Every object is strict: a misspelt key is an error, not a silently ignored setting.
 *
 * Adding a section (server, notify, schedule, ...): define its schema below the existing
 * ones, add it to `ConfigFile`, normalize it in load.ts (`normalize`) and document it in
 * config.example.yaml. Env overrides (`BERTH_<SECTION>__<KEY>`) follow from the schema.
 * Source kinds are not defined here: each brings its key, schema and checks along
 * (src/source/registry.ts).
 */

/** "120s", "2m", "1h30m" or a bare number of seconds; parsed to milliseconds, at most 576h. */
export const Duration = BoundedDuration;
export type Duration = z.infer<typeof Duration>;

export const LogLevel = z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);
export type LogLevel = z.infer<typeof LogLevel>;

export const DeployMethodName = z.enum(['blind', 'simple', 'blue-green', 'canary']);
export type DeployMethodName = z.infer<typeof DeployMethodName>;

/** Globs may be given as one string; the normalized config always holds a list. */
const Globs = z
  .union([z.string().min(1), z.array(z.string().min(1)).min(1)])
  .transform((value) => (typeof value === 'string' ? [value] : value));

type KindKeys = {
  [K in (typeof SOURCE_KINDS)[number] as K['configKey']]: z.ZodOptional<K['schema']>;
};

/** One optional key per source kind (source.git, source.path), its schema from the kind. */
function kindKeys(): KindKeys {
  return Object.fromEntries(
    SOURCE_KINDS.map((kind) => [kind.configKey, kind.schema.optional()]),
  ) as KindKeys;
}

export const SourceConfig = z.strictObject({
  ...kindKeys(),
  paths: Globs.default(['*']),
});
export type SourceConfig = z.infer<typeof SourceConfig>;

/** A source's name (`sources[].name`): it names a folder in the data dir and metric labels. */
export const SOURCE_NAME = /^[a-z0-9][a-z0-9_-]*$/;
export { DEFAULT_SOURCE };

export const DefaultsConfig = z.strictObject({
  deploy: z.boolean().default(true),
  method: DeployMethodName.default('simple'),
  healthTimeout: Duration.prefault('120s'),
  stabilityPeriod: Duration.prefault('10s'),
  markBad: z.boolean().default(true),
  redeployGood: z.boolean().default(true),
  hookTimeout: Duration.prefault('5m'),
  /** blue-green and canary: how long an old container drains after leaving the aliases. */
  drain: Duration.optional(),
  canary: CanaryInput.optional(),
  /** `images: true`: a new registry digest behind a stack's image tag is a new version. */
  updates: z.strictObject({ images: z.boolean().default(false) }).prefault({}),
});
export type DefaultsConfig = z.infer<typeof DefaultsConfig>;

/**
 * A source's own `defaults`: the keys it sets replace the top-level ones (`canary` and
 * `updates` key by key), so nothing here has a default of its own.
 */
export const SourceDefaultsConfig = z.strictObject({
  deploy: z.boolean().optional(),
  method: DeployMethodName.optional(),
  healthTimeout: Duration.optional(),
  stabilityPeriod: Duration.optional(),
  markBad: z.boolean().optional(),
  redeployGood: z.boolean().optional(),
  hookTimeout: Duration.optional(),
  drain: Duration.optional(),
  canary: CanaryInput.optional(),
  updates: z.strictObject({ images: z.boolean().optional() }).optional(),
});
export type SourceDefaultsConfig = z.infer<typeof SourceDefaultsConfig>;

export const LogConfig = z.strictObject({
  level: LogLevel.default('info'),
});
export type LogConfig = z.infer<typeof LogConfig>;

/** Every minute; the daemon adds a little jitter so many hosts do not fetch at once. */
export const DEFAULT_SCHEDULE = '* * * * *';
export const DEFAULT_CONCURRENCY = 2;

/** A cron expression: five fields, or six with seconds first. */
export const Schedule = z
  .string()
  .min(1)
  .refine((text) => validateCron(text), {
    message: 'expected a cron expression like "* * * * *" (or six fields, seconds first)',
  });
export type Schedule = z.infer<typeof Schedule>;

/**
 * One entry of `sources:`: what `source:` holds (one kind's key and `paths`), a name, and
 * optionally its own schedule, deploy defaults and a prefix for its stack names.
 */
export const SourceEntryConfig = z.strictObject({
  name: z.string().regex(SOURCE_NAME, {
    message:
      'expected a name of lowercase letters, digits, "-" and "_", starting with a letter or digit',
  }),
  ...kindKeys(),
  paths: Globs.default(['*']),
  /** When the daemon syncs this source; the top-level `schedule` by default. */
  schedule: Schedule.optional(),
  /** Merged key by key over the top-level `defaults`. */
  defaults: SourceDefaultsConfig.optional(),
  /** Stack name = prefix + folder name, so two sources may hold folders of the same name. */
  prefix: z
    .string()
    .regex(SOURCE_NAME, {
      message: 'expected lowercase letters, digits, "-" and "_", starting with a letter or digit',
    })
    .optional(),
});
export type SourceEntryConfig = z.infer<typeof SourceEntryConfig>;

/**
 * Config key `hooks`: what berth's own environment passes on to hook scripts. Hooks get a
 * fixed allow-list (PATH, HOME, locale, ...) and the BERTH_* hook contract; `env` names the
 * further variables the operator chooses to hand them.
 */
export const HooksConfig = z.strictObject({
  env: z
    .array(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'expected an environment variable name'))
    .default([]),
});
export type HooksConfig = z.infer<typeof HooksConfig>;

/**
 * Config key `secrets`: the keys that open the SOPS- and age-encrypted files stacks commit.
 * `keyFiles` are keys.txt files (one `AGE-SECRET-KEY-1…` a line), relative to the config
 * file's folder; `keys` holds identities inline (discouraged: the config file then is a
 * secret; redacted wherever the config is shown). `sopsDefaults` adds SOPS's own places:
 * SOPS_AGE_KEY, SOPS_AGE_KEY_FILE and $XDG_CONFIG_HOME/sops/age/keys.txt.
 */
export const AgeSecretsConfig = z.strictObject({
  keyFiles: z.array(z.string().min(1)).default([]),
  keys: z.array(z.string().min(1)).default([]),
  sopsDefaults: z.boolean().default(true),
});
export type AgeSecretsConfig = z.infer<typeof AgeSecretsConfig>;

export const SecretsConfig = z.strictObject({
  age: AgeSecretsConfig.prefault({}),
});
export type SecretsConfig = z.infer<typeof SecretsConfig>;

/**
 * One entry of `registries`: a login for a private registry, used for every pull, build and
 * digest look-up of an image on that server before the Docker config.json is consulted.
 * `server` as people write it (`registry.example.com:5000`, `https://ghcr.io`, `docker.io`);
 * the password inline or, better, in a file (`passwordFile`, relative to the config's folder).
 */
export const RegistryConfig = z
  .strictObject({
    server: z
      .string()
      .min(1)
      .refine((server) => /^[^\s/@]+$/.test(normalizeRegistry(server)), {
        message: 'expected a registry host, e.g. registry.example.com:5000 or ghcr.io',
      }),
    username: z.string().min(1),
    password: z.string().min(1).optional(),
    passwordFile: z.string().min(1).optional(),
  })
  .refine((entry) => (entry.password === undefined) !== (entry.passwordFile === undefined), {
    message: 'set either password or passwordFile',
  });
export type RegistryConfig = z.infer<typeof RegistryConfig>;

/** Each server once: two logins for one registry would leave which one is used to chance. */
export const RegistriesConfig = z.array(RegistryConfig).superRefine((entries, ctx) => {
  const seen = new Map<string, number>();
  entries.forEach((entry, i) => {
    const registry = normalizeRegistry(entry.server);
    const first = seen.get(registry);
    if (first === undefined) seen.set(registry, i);
    else
      ctx.addIssue({
        code: 'custom',
        path: [i, 'server'],
        message: `${registry} is listed twice (also registries[${first}])`,
      });
  });
});

export const ConfigFile = z.strictObject({
  /** One source, named `default`; or `sources:`, never both (crossCheck). */
  source: SourceConfig.optional(),
  /** Several sources, each with its own name, schedule, paths and credentials. */
  sources: z.array(SourceEntryConfig).min(1).optional(),
  dataDir: z.string().min(1).default('./data'),
  defaults: DefaultsConfig.prefault({}),
  prune: z.boolean().default(false),
  log: LogConfig.prefault({}),
  /** When the daemon syncs (cron); webhooks, the API and the file watcher sync on demand too. */
  schedule: Schedule.default(DEFAULT_SCHEDULE),
  /** Stacks the daemon deploys at once; one deployment at a time per stack regardless. */
  concurrency: z.number().int().min(1).max(64).default(DEFAULT_CONCURRENCY),
  /** The HTTP listener (webhooks, API, metrics); off when the key is absent. */
  server: ServerConfig.optional(),
  notify: NotifyConfig,
  /** What the repository's compose files may ask Docker for (set here, never in the repo). */
  policy: PolicyConfig.optional(),
  hooks: HooksConfig.prefault({}),
  /** Keys for the encrypted files of the stacks. */
  secrets: SecretsConfig.prefault({}),
  /** Logins for private registries; the Docker config.json is read after them. */
  registries: RegistriesConfig.default([]),
});
export type ConfigFile = z.infer<typeof ConfigFile>;

/** A problem at a key path, before it is tied to the file or env variable that set it. */
export interface ConfigProblem {
  path: readonly PropertyKey[];
  message: string;
}

/**
 * Rules across keys. They run on the raw input even when other keys are broken, because
 * zod skips an object's refinements once a field inside it fails, and a refused config
 * must list every problem at once.
 */
export function crossCheck(input: unknown): ConfigProblem[] {
  const source = field(input, 'source');
  const sources = field(input, 'sources');
  if (source !== undefined && sources !== undefined)
    return [{ path: ['sources'], message: 'set either source or sources, not both' }];
  // `required` as zod words it, so the hint for a config with no source stays one.
  if (source === undefined && sources === undefined)
    return [{ path: ['source'], message: 'required' }];
  if (sources === undefined)
    return isObject(source) ? checkSection(source, ['source'], 'source') : [];
  if (!Array.isArray(sources)) return [];
  return [
    ...sources.flatMap((entry, i) =>
      isObject(entry) ? checkSection(entry, ['sources', i], `sources[${i}]`) : [],
    ),
    ...duplicateNames(sources),
  ];
}

/** One source section (`source:` or an entry of `sources:`): one kind, paths inside it. */
function checkSection(
  section: Record<string, unknown>,
  at: readonly PropertyKey[],
  label: string,
): ConfigProblem[] {
  const problems = checkOneKind(section, at, label);
  for (const [i, glob] of (asList(field(section, 'paths')) ?? []).entries()) {
    if (typeof glob === 'string' && !isRelativeInside(glob))
      problems.push({
        path: [...at, 'paths', i],
        message: 'must be relative to the source root and stay inside it',
      });
  }
  return problems;
}

/** Each source name once: it names the source's checkout folder. */
function duplicateNames(sources: readonly unknown[]): ConfigProblem[] {
  const seen = new Map<string, number>();
  const problems: ConfigProblem[] = [];
  sources.forEach((entry, i) => {
    const name = field(entry, 'name');
    if (typeof name !== 'string') return;
    const first = seen.get(name);
    if (first === undefined) seen.set(name, i);
    else
      problems.push({
        path: ['sources', i, 'name'],
        message: `source name "${name}" is used twice (also sources[${first}])`,
      });
  });
  return problems;
}

/** Exactly one kind of source: one of the kinds' keys (source.git, source.path) is set. */
function checkOneKind(
  section: Record<string, unknown>,
  at: readonly PropertyKey[],
  label: string,
): ConfigProblem[] {
  const keys = (kinds: readonly { configKey: string }[]): string[] =>
    kinds.map((kind) => `${label}.${kind.configKey}`);
  const set = keys(kindsSetIn(section));
  if (set.length === 0) return [{ path: at, message: `set one of ${orList(keys(SOURCE_KINDS))}` }];
  if (set.length === 1) return [];
  const message =
    set.length === 2 ? `set either ${orList(set)}, not both` : `set only one of ${orList(set)}`;
  return [{ path: at, message }];
}

/** "a or b", "a, b or c". */
function orList(items: readonly string[]): string {
  return items.length <= 1
    ? items.join('')
    : `${items.slice(0, -1).join(', ')} or ${items[items.length - 1]}`;
}

function isRelativeInside(glob: string): boolean {
  if (glob.startsWith('/') || /^[a-zA-Z]:[\\/]/.test(glob)) return false;
  return !glob.split(/[\\/]/).includes('..');
}

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function field(value: unknown, key: string): unknown {
  return isObject(value) ? value[key] : undefined;
}

function asList(value: unknown): unknown[] | undefined {
  if (typeof value === 'string') return [value];
  return Array.isArray(value) ? value : undefined;
}
