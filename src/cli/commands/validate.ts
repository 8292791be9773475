import { stat } from 'node:fs/promises';
import path from 'node:path';
import { ageIdentitiesOf, readConfigSecrets } from '../../config/index.js';
import { withoutBerthSecrets } from '../../config/interpolation-env.js';
import { DefaultsConfig } from '../../config/schema.js';
import { BerthError, StackError } from '../../errors.js';
import { sourceRoot, stackLoaderFor } from '../../main.js';
import { withPrefix } from '../../reconciler/discovery.js';
import { DEFAULT_SOURCE } from '../../source/registry.js';
import { assertPolicy, resolvePolicy, type Policy } from '../../policy/index.js';
import { createDecryptor, type Decryptor } from '../../secrets/index.js';
import type { StackLoader } from '../../stack/project.js';
import type {
  BrokenStack,
  DeployMethod,
  DiscoveredStack,
  Discovery,
  SettingsDefaults,
} from '../../stack/types.js';
import { discoverStacks } from '../../stack/discover.js';
import { assertExclusiveVolumesDeclared } from '../../stack/settings.js';
import type { CliContext } from '../context.js';
import { EXIT, UsageError, type ExitCode } from '../exit-codes.js';
import { errorToJson, formatError, formatTable, shortHash, type ErrorJson } from '../format.js';
import { methodNames } from '../../strategies/index.js';
import {
  aboutClosedFile,
  createUsageLoader,
  formatEncryptedFiles,
  inspectEncryptedFiles,
  type EncryptedFileReport,
  type UsageLoader,
} from './encrypted-report.js';

/** Globs used for `validate DIR` when no config names any. */
export const FALLBACK_PATHS = ['*', 'stacks/*'];

export interface StackValidation {
  stack: string;
  dir: string;
  valid: boolean;
  version?: string;
  method?: DeployMethod;
  /** Where the deploy settings came from: deploy.yaml, x-berth, comment or defaults. */
  settingsOrigin?: string;
  settingsFile?: string;
  services?: string[];
  /** Every encrypted file of the stack: format, recipients, whether the keys open it, its uses. */
  encrypted: EncryptedFileReport[];
  warnings: string[];
  error?: ErrorJson;
}

/**
 * `berth validate [DIR]`: discovery, deploy settings and the full compose load of every
 * stack, without Docker. Exit 0 when every stack is valid, 1 when one is not (or none was
 * found): a bad stack is a finding about the repository, not a misuse of the command.
 */
export async function validateCommand(ctx: CliContext, dir: string | undefined): Promise<ExitCode> {
  // The config first: when it is wrong, that is the finding (exit 2), whatever the stacks say.
  const targets = await resolveTargets(ctx, dir);
  if (targets.length === 1) return validateOne(ctx, targets[0]!, dir);
  // Several sources: each checked as one would be; a checkout not made yet is only noted.
  const checked: { target: Target; results: StackValidation[]; failures: Failure[] }[] = [];
  for (const target of targets) {
    const info = await stat(target.root).catch(() => undefined);
    if (info?.isDirectory() === true) checked.push({ target, ...(await validateIn(ctx, target)) });
    else checked.push({ target, results: [], failures: [] });
  }
  const results = checked.flatMap((c) => c.results);
  const ok = results.length > 0 && results.every((r) => r.valid);
  const sources = checked.map(({ target, results: stacks }) => ({
    name: target.source,
    root: target.root,
    paths: target.paths,
    stacks,
  }));
  ctx.out.result({ ok, config: targets[0]!.config, sources, stacks: results }, () =>
    [
      configLine(targets[0]!.config),
      ...checked.map(({ target, results: r, failures }) =>
        [
          `source ${target.source}:`,
          r.length === 0 && failures.length === 0
            ? `  stacks not checked: no checkout at ${target.root} yet`
            : formatValidation(target.root, target.paths, r, failures),
        ].join('\n'),
      ),
    ].join('\n'),
  );
  return ok ? EXIT.ok : EXIT.failed;
}

/** validate with one source (or DIR): the output as it always was. */
async function validateOne(
  ctx: CliContext,
  target: Target,
  dir: string | undefined,
): Promise<ExitCode> {
  const info = await stat(target.root).catch(() => undefined);
  if (info === undefined || !info.isDirectory()) {
    if (dir === undefined && target.cloned) return noCheckoutYet(ctx, target);
    throw new UsageError(
      dir === undefined
        ? `no checkout at ${target.root} yet: run berth reconcile --once first, or pass DIR`
        : `${target.root} is not a folder`,
    );
  }
  const { results, failures } = await validateIn(ctx, target);
  const ok = results.length > 0 && results.every((r) => r.valid);
  ctx.out.result(
    { ok, config: target.config, root: target.root, paths: target.paths, stacks: results },
    () =>
      [
        configLine(target.config),
        formatValidation(target.root, target.paths, results, failures),
      ].join('\n'),
  );
  return ok ? EXIT.ok : EXIT.failed;
}

/** Every stack of one target's checkout: discovered, settings read, project loaded. */
async function validateIn(
  ctx: CliContext,
  target: Target,
): Promise<{ results: StackValidation[]; failures: Failure[] }> {
  ctx.out.progress(`validating stacks in ${target.root}…`);
  const discovery = await discoverTarget(target);
  const results: StackValidation[] = [];
  const failures: Failure[] = [];
  for (const broken of discovery.broken) {
    failures.push({ stack: broken.name, err: broken.error });
    results.push(await validateBroken(target, broken));
  }
  for (const stack of discovery.stacks) {
    ctx.out.progress(`validating ${stack.name}…`);
    const result = await validateStack(target, stack);
    results.push(result.validation);
    if (result.error !== undefined) failures.push({ stack: stack.name, err: result.error });
  }
  results.sort((a, b) => a.stack.localeCompare(b.stack) || a.dir.localeCompare(b.dir));
  return { results, failures };
}

async function validateBroken(target: Target, broken: BrokenStack): Promise<StackValidation> {
  // A folder that is a link, or holds a link out of it, has no version and is not walked.
  let files: EncryptedFileReport[] = [];
  if (broken.version !== undefined) {
    const uses = await target.loadUses(broken.dir, broken.name).catch(() => undefined);
    ({ files } = await inspectEncryptedFiles(broken.dir, uses, target.decryptor));
  }
  return {
    stack: broken.name,
    dir: broken.dir,
    valid: false,
    version: broken.version,
    encrypted: files,
    warnings: [],
    error: errorToJson(broken.error),
  };
}

/**
 * One stack: the full compose load (which opens the encrypted files it uses), the checks on
 * the loaded project, then every encrypted file of the folder: one no key opens, used or not,
 * makes the stack invalid.
 */
async function validateStack(
  target: Target,
  stack: DiscoveredStack,
): Promise<{ validation: StackValidation; error?: BerthError }> {
  const base = {
    stack: stack.name,
    dir: stack.dir,
    version: stack.version,
    method: stack.settings.method,
    settingsOrigin: stack.settings.origin,
    settingsFile: stack.settings.file,
  };
  let loaded: Awaited<ReturnType<StackLoader>> | undefined;
  let error: BerthError | undefined;
  try {
    loaded = await target.loadStack(stack.dir, stack.name);
    assertExclusiveVolumesDeclared(loaded.project, stack.settings, stack.name);
    assertPolicy(loaded.project, target.policy, stack.name);
  } catch (err) {
    error =
      err instanceof BerthError
        ? err
        : new StackError('ComposeUnreadable', `cannot load ${stack.composeFiles.join(', ')}`, {
            cause: err,
            place: { file: stack.composeFiles[0], stack: stack.name },
          });
  }
  const uses = loaded ?? (await target.loadUses(stack.dir, stack.name).catch(() => undefined));
  const encrypted = await inspectEncryptedFiles(stack.dir, uses, target.decryptor);
  error ??= encrypted.error;
  if (error !== undefined) {
    const validation = { ...base, valid: false, encrypted: encrypted.files, warnings: [] };
    return { validation: { ...validation, error: errorToJson(error) }, error };
  }
  const services = loaded === undefined ? [] : Object.keys(loaded.project.services);
  const warnings = loaded?.warnings ?? [];
  return { validation: { ...base, valid: true, services, encrypted: encrypted.files, warnings } };
}

/** A git source before its first sync: the config is all there is to check. */
function noCheckoutYet(ctx: CliContext, target: Target): ExitCode {
  ctx.out.result(
    { ok: true, config: target.config, root: target.root, paths: target.paths, stacks: [] },
    () =>
      [
        configLine(target.config),
        `stacks not checked: no checkout at ${target.root} yet`,
        '(berth reconcile --once clones the repository; berth validate DIR checks a local clone)',
      ].join('\n'),
  );
  return EXIT.ok;
}

/**
 * berth's own configuration, valid once validate got past it; null when none was used
 * (validate DIR without a config).
 */
type ConfigCheck = { valid: true; file: string | null } | null;

function configLine(config: ConfigCheck): string {
  if (config === null) return 'config: none (validate DIR with built-in defaults)';
  return `config ok: ${config.file ?? 'from the environment (no file)'}`;
}

interface Failure {
  stack: string;
  err: unknown;
}

export interface Target {
  /** The `sources:` entry it checks (`default` for one source or DIR). */
  source: string;
  /** Put before the source's folder names to make its stack names. */
  prefix?: string;
  config: ConfigCheck;
  /** The source is cloned into the data dir (git), so the root exists only after a sync. */
  cloned: boolean;
  root: string;
  paths: string[];
  defaults: SettingsDefaults;
  loadStack: StackLoader;
  policy: Policy;
  /** Opens the stacks' encrypted files with the configured keys (validate DIR: SOPS's own). */
  decryptor: Decryptor;
  /** How the stacks use their encrypted files when the stack loader fails. */
  loadUses: UsageLoader;
}

/** One target per source of the config (one for DIR), sharing the config's keys and loader. */
export async function resolveTargets(ctx: CliContext, dir: string | undefined): Promise<Target[]> {
  // With DIR, a config is optional: used when named (or ./berth.yaml exists), else defaults.
  const named = ctx.options.config ?? ctx.env.BERTH_CONFIG;
  const fallbackExists = await stat('berth.yaml').then(
    (s) => s.isFile(),
    () => false,
  );
  if (dir === undefined || named !== undefined || fallbackExists) {
    const config = await ctx.loadConfig();
    // Every `…File` secret, read once: a problem there is the config's, not the stacks'.
    const secrets = await readConfigSecrets(config, ctx.env);
    const shared = {
      config: { valid: true as const, file: config.file ?? null },
      loadStack: stackLoaderFor(config, secrets),
      policy: resolvePolicy(config.policy, config.dataDir),
      decryptor: createDecryptor(secrets.identities),
      loadUses: createUsageLoader(withoutBerthSecrets(ctx.env, secrets)),
    };
    const entries = dir === undefined ? config.sources : config.sources.slice(0, 1);
    return entries.map((entry) => ({
      ...shared,
      source: entry.name,
      ...(entry.prefix === undefined ? {} : { prefix: entry.prefix }),
      cloned: entry.source.kind === 'git',
      root: dir === undefined ? sourceRoot(config, entry.name) : path.resolve(dir),
      paths: entry.source.paths,
      defaults: entry.defaults,
    }));
  }
  return [
    {
      source: DEFAULT_SOURCE,
      config: null,
      cloned: false,
      root: path.resolve(dir),
      paths: FALLBACK_PATHS,
      defaults: builtInDefaults(),
      loadStack: stackLoaderFor(),
      policy: resolvePolicy(undefined),
      decryptor: createDecryptor(await ageIdentitiesOf(undefined, ctx.env)),
      loadUses: createUsageLoader(withoutBerthSecrets(ctx.env)),
    },
  ];
}

/** A target's stacks under their names in berth (the source's prefix put before each). */
function discoverTarget(target: Target): Promise<Discovery> {
  return discoverStacks(target.root, target.paths, target.defaults, methodNames()).then((d) =>
    withPrefix(d, target.prefix),
  );
}

/**
 * The stacks of every target (or the one named), for the read-only commands that take a
 * STACK (`config`, `secrets`): a checkout that is not there yet is a usage error.
 */
export async function stacksOfTargets(
  targets: Target[],
  name: string | undefined,
): Promise<{ target: Target; stack: DiscoveredStack | BrokenStack }[]> {
  const found: { target: Target; stack: DiscoveredStack | BrokenStack }[] = [];
  for (const target of targets) {
    const info = await stat(target.root).catch(() => undefined);
    if (info === undefined || !info.isDirectory())
      throw new UsageError(
        target.cloned
          ? `no checkout at ${target.root} yet: run berth reconcile --once first`
          : `${target.root} is not a folder`,
      );
    const discovery = await discoverTarget(target);
    for (const stack of [...discovery.stacks, ...discovery.broken])
      if (name === undefined || stack.name === name) found.push({ target, stack });
  }
  found.sort(
    (a, b) => a.stack.name.localeCompare(b.stack.name) || a.stack.dir.localeCompare(b.stack.dir),
  );
  if (name !== undefined && found.length === 0)
    throw new StackError(
      'StackNotFound',
      `no stack named ${name} in ${targets.map((t) => t.root).join(', ')}`,
      { place: { stack: name } },
    );
  return found;
}

/** The config schema's defaults, so validate DIR judges stacks as a default berth would. */
function builtInDefaults(): SettingsDefaults {
  const d = DefaultsConfig.parse({});
  return {
    deploy: d.deploy,
    method: d.method,
    healthTimeoutMs: d.healthTimeout,
    stabilityMs: d.stabilityPeriod,
    markBad: d.markBad,
    redeployGood: d.redeployGood,
    hooks: { timeoutMs: d.hookTimeout },
    updates: { images: d.updates.images },
  };
}

function formatValidation(
  root: string,
  paths: string[],
  results: StackValidation[],
  failures: Failure[],
): string {
  if (results.length === 0) {
    return `no stacks found in ${root} (paths ${paths.join(', ')}): a stack is a folder holding compose.yaml`;
  }
  const lines = [
    formatTable(
      ['STACK', 'RESULT', 'VERSION', 'METHOD', 'SERVICES', 'SETTINGS'],
      results.map((r) => [
        r.stack,
        r.valid ? 'ok' : 'invalid',
        shortHash(r.version),
        r.method,
        r.services?.join(','),
        settingsLabel(root, r),
      ]),
    ),
  ];
  const encrypted = formatEncryptedFiles(
    results.map((r) => ({ stack: r.stack, files: r.encrypted })),
  );
  if (encrypted !== '') lines.push('', encrypted, '');
  for (const r of results) {
    for (const w of r.warnings) lines.push(`${r.stack}: warning: ${w}`);
  }
  for (const f of failures)
    if (!saidAbove(f, results)) lines.push(`${f.stack}: ${formatError(f.err)}`);
  const invalid = results.filter((r) => !r.valid).length;
  lines.push(
    invalid === 0
      ? `${results.length} stack${results.length === 1 ? '' : 's'} valid`
      : `${invalid} of ${results.length} stack${results.length === 1 ? '' : 's'} invalid`,
  );
  return lines.join('\n');
}

/** An error about an encrypted file that does not open: its line under the table says it. */
function saidAbove(failure: Failure, results: StackValidation[]): boolean {
  return results.some(
    (r) => r.stack === failure.stack && aboutClosedFile(failure.err, r.dir, r.encrypted),
  );
}

function settingsLabel(root: string, r: StackValidation): string | undefined {
  if (r.settingsOrigin === undefined) return undefined;
  if (r.settingsFile === undefined) return r.settingsOrigin;
  const file = path.relative(root, r.settingsFile);
  return r.settingsOrigin === 'deploy.yaml' ? file : `${r.settingsOrigin} in ${file}`;
}
