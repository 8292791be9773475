import { stat } from 'node:fs/promises';
import { basename, isAbsolute, join, resolve } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { LineCounter, parseDocument, type Document } from 'yaml';
import { z } from 'zod';
import { readBoundedFile } from '../bounded-read.js';
import { findComposeFile } from '../compose/load.js';
import { splitShellWords } from '../compose/shellwords.js';
import type { ComposeProject } from '../compose/types.js';
import { duplicateKey } from '../compose/yaml.js';
import { confinement, escape } from '../containment.js';
import { BoundedDuration } from '../duration.js';
import { SettingsError } from '../errors.js';
import { detectEncrypted } from '../secrets/index.js';
import {
  DEFAULT_CANARY,
  DEFAULT_MIGRATION_TIMEOUT_MS,
  STACK_NAME,
  type BatchSize,
  type CanarySettings,
  type ComposeSelection,
  type DeploySettings,
  type MigrationJob,
  type SettingsDefaults,
} from './types.js';

const DEPLOY_FILE_NAMES = ['deploy.yaml', 'deploy.yml'] as const;
const COMMENT_START = /^\s*#\s*Deploy Start\s*#\s*$/;
const COMMENT_END = /^\s*#\s*Deploy End\s*#\s*$/;
/** Bounds alias expansion ("billion laughs"); settings never need many aliases. */
const MAX_ALIAS_COUNT = 100;
/** The comment block's first line, anywhere in a file. */
const COMMENT_START_ANYWHERE = /^\s*#\s*Deploy Start\s*#\s*$/m;
/** Cheap pre-check so the compose YAML is only parsed when it can hold the block. */
const X_BERTH_KEY = /^["']?x-berth["']?\s*:/m;

/** Bounded, so no timer set from a stack's settings (hooks, health, drain, canary) overflows. */
const Duration = BoundedDuration;

const PositiveDuration = Duration.refine((ms) => ms > 0, { error: 'must be longer than 0' });

/** A strategy name; which ones exist is the registry's to say (see `readDeploySettings`). */
const Method = z.string().min(1);

/** `canary.batch`: a count of containers (2) or a share of the replicas ("25%"). */
export const BatchSizeInput = z
  .union([z.number(), z.string()])
  .transform((value, ctx): BatchSize => {
    if (typeof value === 'number') {
      if (Number.isInteger(value) && value >= 1) return { count: value };
    } else {
      const percent = /^\s*(\d+(?:\.\d+)?)\s*%\s*$/.exec(value);
      if (percent !== null) {
        const share = Number(percent[1]);
        if (share > 0 && share <= 100) return { percent: share };
      } else if (/^\s*\d+\s*$/.test(value) && Number(value) >= 1) {
        return { count: Number(value) };
      }
    }
    ctx.addIssue({
      code: 'custom',
      message: `${JSON.stringify(value)} is not a batch size (use a count such as 2 or a share such as "25%")`,
    });
    return z.NEVER;
  });

export const CanaryInput = z.strictObject({
  batch: BatchSizeInput.optional(),
  window: Duration.optional(),
  probe: z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' }).optional(),
});

/** A command as Compose takes one: a list, or a string split into words as Compose splits it. */
const CommandInput = z
  .union([z.string().min(1), z.array(z.string()).min(1)])
  .transform((value, ctx): string[] => {
    if (Array.isArray(value)) return value;
    const words = splitShellWords(value);
    if (words !== undefined && words.length > 0) return words;
    ctx.addIssue({ code: 'custom', message: `${JSON.stringify(value)} is not a command line` });
    return z.NEVER;
  });

/** A job name: it names a journal step and part of a container name. */
const JobName = z
  .string()
  .regex(
    /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/,
    'not a job name ([a-zA-Z0-9_.-], starting with a letter or digit)',
  );

/** One `migrations` entry; which services exist is checked against the compose project. */
export const MigrationInput = z.strictObject({
  name: JobName.optional(),
  service: z.string().min(1),
  command: CommandInput.optional(),
  timeout: PositiveDuration.optional(),
});

/** Files relative to the stack folder (checked inside it when settings are read). */
const RelativeFiles = z.array(z.string().min(1)).min(1);

/** A Compose profile name (compose-spec's pattern), or `*` for every profile. */
const ProfileName = z
  .string()
  .regex(/^(\*|[a-zA-Z0-9][a-zA-Z0-9_.-]*)$/, 'not a profile name ([a-zA-Z0-9_.-], or *)');

const ProjectName = z
  .string()
  .regex(
    STACK_NAME,
    'not a stack name (lowercase letters, digits, "-" and "_", starting with a letter or digit)',
  );

/** The compose selection keys, each with the snake_case spelling doco-cd uses. */
const SELECTION_KEYS = {
  composeFiles: RelativeFiles.optional(),
  compose_files: RelativeFiles.optional(),
  envFiles: RelativeFiles.optional(),
  env_files: RelativeFiles.optional(),
  profiles: z.array(ProfileName).optional(),
  projectName: ProjectName.optional(),
  project_name: ProjectName.optional(),
};

/** The selection keys alone, other keys left for readDeploySettings to judge. */
const SelectionInput = z.object(SELECTION_KEYS);
type SelectionInput = z.infer<typeof SelectionInput>;

/** camelCase key, snake_case alias. */
const ALIASES = [
  ['composeFiles', 'compose_files'],
  ['envFiles', 'env_files'],
  ['projectName', 'project_name'],
] as const;

/** A stack's deploy settings as written in deploy.yaml, `x-berth:` or the comment block. */
export const DeploySettingsInput = z.strictObject({
  deploy: z.boolean().optional(),
  method: Method.optional(),
  /** Seed 002's spelling. */
  methode: Method.optional(),
  healthTimeout: PositiveDuration.optional(),
  stabilityPeriod: Duration.optional(),
  markBad: z.boolean().optional(),
  redeployGood: z.boolean().optional(),
  drain: Duration.optional(),
  canary: CanaryInput.optional(),
  exclusiveVolumes: z.array(z.string().min(1)).optional(),
  hooks: z
    .strictObject({
      preDeploy: z.string().min(1).optional(),
      postDeploy: z.string().min(1).optional(),
      timeout: PositiveDuration.optional(),
    })
    .optional(),
  ...SELECTION_KEYS,
  updates: z.strictObject({ images: z.boolean().optional() }).optional(),
  migrations: z.array(MigrationInput).optional(),
});
export type DeploySettingsInput = z.infer<typeof DeploySettingsInput>;

interface Problem {
  field: string;
  message: string;
}

interface Found {
  origin: DeploySettings['origin'];
  file: string;
  raw: unknown;
}

function fail(file: string, problems: Problem[]): SettingsError {
  const first = problems[0];
  const text = problems
    .map((p) => (p.field === '' ? p.message : `${p.field}: ${p.message}`))
    .join('; ');
  return new SettingsError('SettingsInvalid', `invalid deploy settings in ${file}: ${text}`, {
    place: { file, stack: basename(resolve(file, '..')), field: first?.field },
  });
}

function parseYaml(text: string, file: string, what: string): unknown {
  const lineCounter = new LineCounter();
  // Unique keys are checked in one pass: the yaml library's own check is quadratic.
  const doc = parseDocument(text, { uniqueKeys: false, lineCounter });
  let cause: unknown = doc.errors[0];
  let problem = doc.errors[0]?.message ?? duplicateKey(doc, lineCounter);
  if (problem === undefined) {
    try {
      return doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT }) as unknown;
    } catch (err) {
      cause = err;
      problem = `YAML aliases expand more than ${MAX_ALIAS_COUNT} times (an alias bomb?)`;
    }
  }
  throw new SettingsError('SettingsInvalid', `${what} in ${file} is not valid YAML: ${problem}`, {
    cause,
    place: { file, stack: basename(resolve(file, '..')) },
  });
}

async function readIfExists(file: string, what: string): Promise<string | undefined> {
  const refuse = (detail: string, tooLarge: boolean): SettingsError =>
    new SettingsError(tooLarge ? 'FileTooLarge' : 'SettingsInvalid', detail, {
      place: { file, stack: basename(resolve(file, '..')) },
    });
  try {
    return await readBoundedFile(file, what, refuse);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** Seed 002's block: `# Deploy Start #` … `# Deploy End #`, each line's `#` and one space cut. */
export function extractCommentBlock(text: string, file: string): string | undefined {
  const lines = text.split(/\r?\n/);
  const start = lines.findIndex((line) => COMMENT_START.test(line));
  if (start === -1) return undefined;
  const body: string[] = [];
  for (let i = start + 1; i < lines.length; i++) {
    const line = lines[i] ?? '';
    if (COMMENT_END.test(line)) return body.join('\n');
    const match = /^\s*#(.*)$/.exec(line);
    if (match === null) {
      if (line.trim() === '') {
        body.push('');
        continue;
      }
      throw fail(file, [
        {
          field: '',
          message: `line ${i + 1} inside the "# Deploy Start #" block is not a comment`,
        },
      ]);
    }
    const rest = match[1] ?? '';
    body.push(rest.startsWith(' ') ? rest.slice(1) : rest);
  }
  throw fail(file, [
    { field: '', message: `"# Deploy Start #" on line ${start + 1} has no "# Deploy End #"` },
  ]);
}

/** The compose file as plain data; aliases are bounded, so an alias bomb is an error here. */
function xBerthContents(doc: Document, file: string): unknown {
  try {
    return doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (err) {
    throw new SettingsError(
      'SettingsInvalid',
      `x-berth in ${file} cannot be read: YAML aliases expand more than ${MAX_ALIAS_COUNT} times (an alias bomb?)`,
      { cause: err, place: { file, stack: basename(resolve(file, '..')), field: 'x-berth' } },
    );
  }
}

/**
 * Settings decide whether and how a stack deploys, before any key is at hand (validate, plan,
 * a host without the keys): they are never read from an encrypted file.
 */
function refuseEncrypted(text: string, file: string, what: string): void {
  const format = detectEncrypted(Buffer.from(text, 'utf8'));
  if (format === undefined) return;
  throw new SettingsError(
    'SettingsEncrypted',
    `${what} ${file} is encrypted (${format}): deploy settings must be readable without keys; keep them in plain text and encrypt only the files that hold secrets`,
    { place: { file, stack: basename(resolve(file, '..')) } },
  );
}

/**
 * The settings' location: deploy.yaml (or .yml), else the compose file found by name (never
 * one the settings select: they cannot come from a file they choose).
 */
async function locate(
  stackDir: string,
  composeFile: string | undefined,
): Promise<Found | undefined> {
  for (const name of DEPLOY_FILE_NAMES) {
    const file = join(stackDir, name);
    const text = await readIfExists(file, 'deploy settings file');
    if (text === undefined) continue;
    refuseEncrypted(text, file, 'deploy settings file');
    return { origin: 'deploy.yaml', file, raw: parseYaml(text, file, 'deploy settings') };
  }
  if (composeFile === undefined) return undefined;
  const text = await readIfExists(composeFile, 'compose file');
  if (text === undefined) return undefined;
  // An encrypted compose file holding settings (x-berth or the comment block) is refused;
  // one without them is the compose loader's to report.
  if (X_BERTH_KEY.test(text) || COMMENT_START_ANYWHERE.test(text))
    refuseEncrypted(text, composeFile, 'compose file with deploy settings');
  if (X_BERTH_KEY.test(text)) {
    // Top level only: interpolation, includes and the rest belong to the compose loader.
    // Duplicate keys and the rest are the compose loader's to report, with their line.
    const doc = parseDocument(text, { merge: true, uniqueKeys: false });
    if (doc.errors.length === 0) {
      const contents = xBerthContents(doc, composeFile);
      if (contents !== null && typeof contents === 'object' && 'x-berth' in contents)
        return { origin: 'x-berth', file: composeFile, raw: contents['x-berth'] };
    }
    // A compose file that is not YAML is reported by the compose loader, with its line.
  }
  const block = extractCommentBlock(text, composeFile);
  if (block !== undefined)
    return {
      origin: 'comment',
      file: composeFile,
      raw: parseYaml(block, composeFile, 'the "# Deploy Start #" block'),
    };
  return undefined;
}

function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}

/** The stack's canary keys over the defaults' (each key on its own), over berth's defaults. */
function mergeCanary(
  input: DeploySettingsInput['canary'],
  defaults: CanarySettings | undefined,
): CanarySettings | undefined {
  if (input === undefined) return defaults;
  const base = defaults ?? DEFAULT_CANARY;
  const probe = input.probe ?? base.probe;
  return {
    batch: input.batch ?? base.batch,
    windowMs: input.window ?? base.windowMs,
    ...(probe === undefined ? {} : { probe }),
  };
}

/**
 * The jobs with their defaults: a job without a name takes its service's, numbered from the
 * second job of that service on (`migrate`, `migrate-2`). Two jobs of one name are a problem.
 */
function migrationsOf(
  input: DeploySettingsInput['migrations'],
  problems: Problem[],
): MigrationJob[] | undefined {
  if (input === undefined) return undefined;
  const seen = new Map<string, number>();
  const names = new Set<string>();
  return input.map((job, index): MigrationJob => {
    const count = (seen.get(job.service) ?? 0) + 1;
    seen.set(job.service, count);
    const name = job.name ?? (count === 1 ? job.service : `${job.service}-${count}`);
    if (names.has(name))
      problems.push({
        field: `migrations[${index}].name`,
        message: `another job is named ${name}; give each job its own name`,
      });
    names.add(name);
    return {
      name,
      service: job.service,
      ...optional('command', job.command),
      timeoutMs: job.timeout ?? DEFAULT_MIGRATION_TIMEOUT_MS,
    };
  });
}

/**
 * Why a file the settings name (a hook script, a compose or env file) cannot be used, or
 * undefined. The same line as the hook runner's and the compose loader's: inside the stack
 * folder as written and once links are followed, compared real path to real path.
 */
async function checkFile(stackDir: string, given: string): Promise<string | undefined> {
  const dir = resolve(stackDir);
  const abs = resolve(dir, given);
  if (isAbsolute(given) || abs === dir) return `${given} is outside the stack folder`;
  const where = await escape(await confinement(dir), abs);
  if (where?.how === 'lexical') return `${given} is outside the stack folder`;
  if (where !== undefined) return `${given} resolves to ${where.real}, outside the stack folder`;
  try {
    if (!(await stat(abs)).isFile()) return `${given} is not a file`;
  } catch {
    return `${given} does not exist in the stack folder`;
  }
  return undefined;
}

/** checkFile, and a compose file must be plain text: berth decrypts env files, not compose files. */
async function checkComposeFile(stackDir: string, given: string): Promise<string | undefined> {
  const problem = await checkFile(stackDir, given);
  if (problem !== undefined) return problem;
  const abs = resolve(stackDir, given);
  // Too large or unreadable is the compose loader's to report, with its reason.
  const text = await readBoundedFile(abs, 'compose file', (detail) => new Error(detail)).catch(
    () => undefined,
  );
  const format = text === undefined ? undefined : detectEncrypted(Buffer.from(text, 'utf8'));
  if (format === undefined) return undefined;
  return `${given} is encrypted (${format}): compose files must be plain text; keep secrets in encrypted env files or secret files`;
}

/** The selection keys, each alias folded into its camelCase key; a disagreement is a problem. */
function selectionOf(input: SelectionInput, problems: Problem[]): ComposeSelection {
  const pick = <K extends (typeof ALIASES)[number]>([camel, snake]: K): SelectionInput[K[0]] => {
    const a = input[camel];
    const b = input[snake];
    if (a !== undefined && b !== undefined && !isDeepStrictEqual(a, b))
      problems.push({ field: snake, message: `${camel} and ${snake} disagree; write only one` });
    return (a ?? b) as SelectionInput[K[0]];
  };
  const [files, envFiles, projectName] = ALIASES.map((pair) => pick(pair)) as [
    string[] | undefined,
    string[] | undefined,
    string | undefined,
  ];
  return {
    ...optional('files', files),
    ...optional('envFiles', envFiles),
    ...optional('profiles', input.profiles),
    ...optional('projectName', projectName),
  };
}

/** The key a list was given under, for problems: the camelCase one unless only the alias was. */
function keyOf(input: SelectionInput, camel: 'composeFiles' | 'envFiles'): string {
  const snake = camel === 'composeFiles' ? 'compose_files' : 'env_files';
  return input[camel] === undefined && input[snake] !== undefined ? snake : camel;
}

/** Compose and env files inside the stack folder, present, compose files not encrypted. */
async function checkSelection(
  stackDir: string,
  input: SelectionInput,
  selection: ComposeSelection,
  problems: Problem[],
): Promise<void> {
  const lists = [
    { key: keyOf(input, 'composeFiles'), files: selection.files ?? [], check: checkComposeFile },
    { key: keyOf(input, 'envFiles'), files: selection.envFiles ?? [], check: checkFile },
  ];
  for (const { key, files, check } of lists) {
    for (const [index, given] of files.entries()) {
      const problem = await check(stackDir, given);
      if (problem !== undefined) problems.push({ field: `${key}[${index}]`, message: problem });
    }
  }
}

/** zod's issues as problems, one per unknown key. */
function problemsOf(error: z.ZodError): Problem[] {
  const problems: Problem[] = [];
  for (const issue of error.issues) {
    const base = issue.path
      .map((key) => (typeof key === 'number' ? `[${key}]` : `.${String(key)}`))
      .join('')
      .replace(/^\./, '');
    if (issue.code === 'unrecognized_keys')
      for (const key of issue.keys)
        problems.push({ field: base === '' ? key : `${base}.${key}`, message: 'unknown key' });
    else problems.push({ field: base, message: issue.message });
  }
  return problems;
}

/**
 * The compose selection of a stack folder (its compose files, env files, profiles and project
 * name) from its deploy settings, for the stack loader: a copy in running_stacks/ loads as the
 * checkout does. Reads only those keys and checks only their form: readDeploySettings checks
 * the rest, and the loader confines and opens the files. Throws SettingsError.
 */
export async function readComposeSelection(stackDir: string): Promise<ComposeSelection> {
  const found = await locate(stackDir, await findComposeFile(stackDir));
  if (found === undefined) return {};
  const raw = found.raw ?? {};
  const parsed = SelectionInput.safeParse(raw);
  if (!parsed.success) throw fail(found.file, problemsOf(parsed.error));
  const problems: Problem[] = [];
  const selection = selectionOf(parsed.data, problems);
  if (problems.length > 0) throw fail(found.file, problems);
  return selection;
}

/** The settings of a stack that has none of its own. */
export function defaultSettings(defaults: SettingsDefaults): DeploySettings {
  return {
    ...defaults,
    hooks: { ...defaults.hooks },
    updates: { ...defaults.updates },
    compose: {},
    origin: 'defaults',
  };
}

/**
 * Reads a stack's deploy settings from the first location that has them: deploy.yaml (or
 * .yml), the compose file's `x-berth:` block, seed 002's comment block. Locations are not
 * merged with each other; the one found is merged over `defaults`.
 * Throws SettingsError naming the file and every bad key.
 */
export async function readDeploySettings(
  stackDir: string,
  /** The compose file found by name (findComposeFile), whose x-berth or comment block counts. */
  composeFile: string | undefined,
  defaults: SettingsDefaults,
  /** The deploy methods there are: the strategy registry's names, handed down to this layer. */
  methods: readonly string[],
): Promise<DeploySettings> {
  const main = composeFile === undefined ? undefined : resolve(stackDir, composeFile);
  const found = await locate(stackDir, main);
  if (found === undefined) return defaultSettings(defaults);

  const raw = found.raw ?? {};
  if (typeof raw !== 'object' || Array.isArray(raw))
    throw fail(found.file, [{ field: '', message: 'settings must be a mapping of keys' }]);

  const parsed = DeploySettingsInput.safeParse(raw);
  const problems = parsed.success ? [] : problemsOf(parsed.error);
  const input = parsed.success ? parsed.data : undefined;
  // Checked on their own too, so a bad key elsewhere does not hide a missing compose file.
  const selectionInput = SelectionInput.safeParse(raw);
  let selection: ComposeSelection = {};
  if (selectionInput.success) {
    selection = selectionOf(selectionInput.data, problems);
    await checkSelection(stackDir, selectionInput.data, selection, problems);
  }
  for (const field of ['method', 'methode'] as const) {
    const method = input?.[field];
    if (method !== undefined && !methods.includes(method)) {
      const known = methods.map((m) => JSON.stringify(m)).join('|');
      problems.push({ field, message: `Invalid option: expected one of ${known}` });
    }
  }
  if (input?.method !== undefined && input.methode !== undefined && input.method !== input.methode)
    problems.push({ field: 'methode', message: 'method and methode disagree; write only method' });

  for (const key of ['preDeploy', 'postDeploy'] as const) {
    const script = (raw as { hooks?: Record<string, unknown> }).hooks?.[key];
    if (typeof script !== 'string' || script === '') continue;
    const problem = await checkFile(stackDir, script);
    if (problem !== undefined) problems.push({ field: `hooks.${key}`, message: problem });
  }
  const migrations = migrationsOf(input?.migrations, problems);
  if (problems.length > 0 || input === undefined) throw fail(found.file, problems);

  return {
    deploy: input.deploy ?? defaults.deploy,
    method: input.method ?? input.methode ?? defaults.method,
    healthTimeoutMs: input.healthTimeout ?? defaults.healthTimeoutMs,
    stabilityMs: input.stabilityPeriod ?? defaults.stabilityMs,
    markBad: input.markBad ?? defaults.markBad,
    redeployGood: input.redeployGood ?? defaults.redeployGood,
    ...optional('drainMs', input.drain ?? defaults.drainMs),
    ...optional('canary', mergeCanary(input.canary, defaults.canary)),
    ...optional('exclusiveVolumes', input.exclusiveVolumes ?? defaults.exclusiveVolumes),
    hooks: {
      preDeploy: input.hooks?.preDeploy ?? defaults.hooks.preDeploy,
      postDeploy: input.hooks?.postDeploy ?? defaults.hooks.postDeploy,
      timeoutMs: input.hooks?.timeout ?? defaults.hooks.timeoutMs,
    },
    compose: selection,
    updates: { images: input.updates?.images ?? defaults.updates.images },
    ...optional('migrations', migrations),
    origin: found.origin,
    file: found.file,
  };
}

/**
 * `exclusiveVolumes` and the migration jobs' services can only be checked against the compose
 * file, which the settings reader does not load: the strategy and `berth validate` call this
 * once they have the project (so both keys are checked here, under this one name).
 */
export function assertExclusiveVolumesDeclared(
  project: ComposeProject,
  settings: DeploySettings,
  stack: string,
): void {
  const unknown = (settings.exclusiveVolumes ?? []).filter((v) => project.volumes[v] === undefined);
  if (unknown.length > 0)
    throw new SettingsError(
      'SettingsInvalid',
      `exclusiveVolumes names ${unknown.join(', ')}, which the compose file does not declare`,
      { place: { stack, file: settings.file, field: 'exclusiveVolumes' } },
    );
  assertMigrationServicesDeclared(project, settings, stack);
}

/** Every migration job names a service of the project (a disabled profile's does not count). */
export function assertMigrationServicesDeclared(
  project: ComposeProject,
  settings: DeploySettings,
  stack: string,
): void {
  const index = (settings.migrations ?? []).findIndex(
    (job) => project.services[job.service] === undefined,
  );
  if (index === -1) return;
  const job = settings.migrations![index]!;
  const known = Object.keys(project.services).sort().join(', ');
  throw new SettingsError(
    'SettingsInvalid',
    `invalid deploy settings in ${settings.file ?? 'the deploy settings'} of stack ${stack}: migrations[${index}].service: ${job.service} is not a service of the stack (its services: ${known})`,
    { place: { stack, file: settings.file, field: `migrations[${index}].service` } },
  );
}
