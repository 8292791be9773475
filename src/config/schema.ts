import { validate as validateCron } from 'node-cron';
import { z } from 'zod';
import { parseDuration } from '../duration.js';
import { NotifyConfig } from '../notify/schema.js';
import { ServerConfig } from '../server/schema.js';
import { CanaryInput } from '../stack/settings.js';

/**
 * The config file as written (YAML), before paths are resolved and secrets read.
 * Every object is strict: a misspelt key is an error, not a silently ignored setting.
 *
 * Adding a section (server, notify, schedule, ...): define its schema below the existing
 * ones, add it to `ConfigFile`, normalize it in load.ts (`normalize`) and document it in
 * config.example.yaml. Env overrides (`BERTH_<SECTION>__<KEY>`) follow from the schema.
 */

/** "120s", "2m", "1h30m" or a bare number of seconds; parsed to milliseconds. */
export const Duration = z.unknown().transform((value, ctx): number => {
  const ms =
    typeof value === 'string' || typeof value === 'number' ? parseDuration(value) : undefined;
  if (ms === undefined) {
    ctx.addIssue({
      code: 'custom',
      message: `expected a duration like 30s, 2m, 1h30m or a number of seconds, got ${JSON.stringify(value)}`,
    });
    return z.NEVER;
  }
  return ms;
});
export type Duration = z.infer<typeof Duration>;

export const LogLevel = z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);
export type LogLevel = z.infer<typeof LogLevel>;

export const DeployMethodName = z.enum(['blind', 'simple', 'blue-green', 'canary']);
export type DeployMethodName = z.infer<typeof DeployMethodName>;

/** https://, http://, ssh://, file:// or scp-like user@host:path. */
const GIT_URL = /^(?:(?:https?|ssh|file):\/\/.+|[\w.-]+@[\w.-]+:.+)$/;

export const GitAuthConfig = z.strictObject({
  /** Defaults to x-access-token when a token is given (GitHub, Gitea and GitLab accept it). */
  username: z.string().min(1).optional(),
  token: z.string().min(1).optional(),
  tokenFile: z.string().min(1).optional(),
  sshKeyFile: z.string().min(1).optional(),
  knownHostsFile: z.string().min(1).optional(),
});
export type GitAuthConfig = z.infer<typeof GitAuthConfig>;

export const GitConfig = z.strictObject({
  url: z
    .string()
    .regex(GIT_URL, 'expected an https://, http://, ssh://, file:// or user@host:path url'),
  branch: z.string().min(1).optional(),
  /** A glob over tag names; the newest matching semver tag is followed. */
  tag: z.string().min(1).optional(),
  depth: z.number().int().min(0).default(1),
  auth: GitAuthConfig.optional(),
});
export type GitConfig = z.infer<typeof GitConfig>;

/** Globs may be given as one string; the normalized config always holds a list. */
const Globs = z
  .union([z.string().min(1), z.array(z.string().min(1)).min(1)])
  .transform((value) => (typeof value === 'string' ? [value] : value));

export const SourceConfig = z.strictObject({
  git: GitConfig.optional(),
  path: z.string().min(1).optional(),
  paths: Globs.default(['*']),
});
export type SourceConfig = z.infer<typeof SourceConfig>;

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
});
export type DefaultsConfig = z.infer<typeof DefaultsConfig>;

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

export const ConfigFile = z.strictObject({
  source: SourceConfig,
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
  const problems: ConfigProblem[] = [];
  const source = field(input, 'source');
  if (isObject(source)) {
    const git = field(source, 'git');
    const hasGit = git !== undefined && git !== null;
    const hasPath = field(source, 'path') !== undefined;
    if (hasGit && hasPath)
      problems.push({
        path: ['source'],
        message: 'set either source.git or source.path, not both',
      });
    if (!hasGit && !hasPath)
      problems.push({ path: ['source'], message: 'set one of source.git or source.path' });
    for (const [i, glob] of (asList(field(source, 'paths')) ?? []).entries()) {
      if (typeof glob === 'string' && !isRelativeInside(glob))
        problems.push({
          path: ['source', 'paths', i],
          message: 'must be relative to the source root and stay inside it',
        });
    }
    if (isObject(git)) problems.push(...checkGit(git));
  }
  return problems;
}

function checkGit(git: Record<string, unknown>): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const at = (...keys: string[]): string[] => ['source', 'git', ...keys];
  if (git.branch !== undefined && git.tag !== undefined)
    problems.push({ path: at('tag'), message: 'branch and tag are mutually exclusive' });
  const url = typeof git.url === 'string' ? git.url : undefined;
  if (url !== undefined && /^[a-z]+:\/\/[^/@]*@/i.test(url) && !/^ssh:\/\/[^/:@]+@/i.test(url))
    problems.push({
      path: at('url'),
      message: 'must not contain credentials: use source.git.auth.token or tokenFile',
    });
  const auth = git.auth;
  if (!isObject(auth)) return problems;
  if (auth.token !== undefined && auth.tokenFile !== undefined)
    problems.push({
      path: at('auth', 'tokenFile'),
      message: 'token and tokenFile are mutually exclusive',
    });
  if (url === undefined) return problems;
  const http = /^https?:\/\//i.test(url);
  for (const key of ['token', 'tokenFile', 'username'] as const) {
    if (auth[key] !== undefined && !http)
      problems.push({ path: at('auth', key), message: 'only used with http(s) urls' });
  }
  const ssh = /^ssh:\/\//i.test(url) || !/^[a-z]+:\/\//i.test(url);
  for (const key of ['sshKeyFile', 'knownHostsFile'] as const) {
    if (auth[key] !== undefined && !ssh)
      problems.push({ path: at('auth', key), message: 'only used with ssh urls' });
  }
  return problems;
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
