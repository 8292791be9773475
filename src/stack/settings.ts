import { stat } from 'node:fs/promises';
import { basename, isAbsolute, join, resolve } from 'node:path';
import { LineCounter, parseDocument, type Document } from 'yaml';
import { z } from 'zod';
import { readBoundedFile } from '../bounded-read.js';
import type { ComposeProject } from '../compose/types.js';
import { duplicateKey } from '../compose/yaml.js';
import { confinement, escape } from '../containment.js';
import { BoundedDuration } from '../duration.js';
import { SettingsError } from '../errors.js';
import { detectEncrypted } from '../secrets/index.js';
import {
  DEFAULT_CANARY,
  type BatchSize,
  type CanarySettings,
  type DeploySettings,
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
});
export type DeploySettingsInput = z.infer<typeof DeploySettingsInput>;

interface Found {
  origin: DeploySettings['origin'];
  file: string;
  raw: unknown;
}

function fail(file: string, problems: { field: string; message: string }[]): SettingsError {
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

async function locate(stackDir: string, composeFile: string): Promise<Found | undefined> {
  for (const name of DEPLOY_FILE_NAMES) {
    const file = join(stackDir, name);
    const text = await readIfExists(file, 'deploy settings file');
    if (text === undefined) continue;
    refuseEncrypted(text, file, 'deploy settings file');
    return { origin: 'deploy.yaml', file, raw: parseYaml(text, file, 'deploy settings') };
  }
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
 * Why a hook script cannot be used, or undefined. The same line as the hook runner's: inside
 * the stack folder as written and once links are followed, compared real path to real path.
 */
async function checkHook(stackDir: string, script: string): Promise<string | undefined> {
  const dir = resolve(stackDir);
  const abs = resolve(dir, script);
  if (isAbsolute(script) || abs === dir) return `${script} is outside the stack folder`;
  const where = await escape(await confinement(dir), abs);
  if (where?.how === 'lexical') return `${script} is outside the stack folder`;
  if (where !== undefined) return `${script} resolves to ${where.real}, outside the stack folder`;
  try {
    if (!(await stat(abs)).isFile()) return `${script} is not a file`;
  } catch {
    return `${script} does not exist in the stack folder`;
  }
  return undefined;
}

/**
 * Reads a stack's deploy settings from the first location that has them: deploy.yaml (or
 * .yml), the compose file's `x-berth:` block, seed 002's comment block. Locations are not
 * merged with each other; the one found is merged over `defaults`.
 * Throws SettingsError naming the file and every bad key.
 */
export async function readDeploySettings(
  stackDir: string,
  composeFile: string,
  defaults: SettingsDefaults,
  /** The deploy methods there are: the strategy registry's names, handed down to this layer. */
  methods: readonly string[],
): Promise<DeploySettings> {
  const found = await locate(stackDir, resolve(stackDir, composeFile));
  if (found === undefined) return { ...defaults, hooks: { ...defaults.hooks }, origin: 'defaults' };

  const raw = found.raw ?? {};
  if (typeof raw !== 'object' || Array.isArray(raw))
    throw fail(found.file, [{ field: '', message: 'settings must be a mapping of keys' }]);

  const problems: { field: string; message: string }[] = [];
  const parsed = DeploySettingsInput.safeParse(raw);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const base = issue.path.map(String).join('.');
      if (issue.code === 'unrecognized_keys')
        for (const key of issue.keys)
          problems.push({ field: base === '' ? key : `${base}.${key}`, message: 'unknown key' });
      else problems.push({ field: base, message: issue.message });
    }
  }
  const input = parsed.success ? parsed.data : undefined;
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
    const problem = await checkHook(stackDir, script);
    if (problem !== undefined) problems.push({ field: `hooks.${key}`, message: problem });
  }
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
    origin: found.origin,
    file: found.file,
  };
}

/**
 * `exclusiveVolumes` can only be checked against the compose file, which the settings reader
 * does not load: the strategy and `berth validate` call this once they have the project.
 */
export function assertExclusiveVolumesDeclared(
  project: ComposeProject,
  settings: DeploySettings,
  stack: string,
): void {
  const unknown = (settings.exclusiveVolumes ?? []).filter((v) => project.volumes[v] === undefined);
  if (unknown.length === 0) return;
  throw new SettingsError(
    'SettingsInvalid',
    `exclusiveVolumes names ${unknown.join(', ')}, which the compose file does not declare`,
    { place: { stack, file: settings.file, field: 'exclusiveVolumes' } },
  );
}
