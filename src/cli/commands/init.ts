import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_CONFIG_FILE, loadConfig } from '../../config/index.js';
import { ConfigError } from '../../errors.js';
import { parseListen, type WebhookProvider } from '../../server/schema.js';
import { STACK_NAME } from '../../stack/discover.js';
import type { CliContext } from '../context.js';
import { EXIT, UsageError, type ExitCode } from '../exit-codes.js';
import { deriveGlobs, findStackFolders } from '../init/stack-folders.js';
import { renderConfig, type InitSource } from '../init/template.js';
import { SECRET_FILE, providersFor, webhookHelp } from '../init/webhooks.js';

export interface InitOptions {
  git?: string;
  branch?: string;
  path?: string;
  paths?: string[];
  listen?: string;
  force?: boolean;
}

export const DEFAULT_LISTEN = '127.0.0.1:7070';
const DEFAULT_BRANCH = 'main';
const DEFAULT_DATA_DIR = './data';

/** How many detected stack folders the config's comment names. */
const NAMED_FOLDERS = 6;

/**
 * `berth init`: writes a commented berth.yaml where the other commands look for it (--config,
 * else $BERTH_CONFIG, else ./berth.yaml) and, for a git source, a webhook secret next to it.
 * The file is checked with berth's own config loader before it takes its place.
 */
export async function initCommand(ctx: CliContext, options: InitOptions): Promise<ExitCode> {
  if (options.git !== undefined && options.path !== undefined)
    throw new UsageError('give either --git URL or --path DIR, not both');
  if (options.branch !== undefined && options.git === undefined)
    throw new UsageError('--branch goes with --git URL');
  if (options.listen !== undefined && parseListen(options.listen) === undefined)
    throw new UsageError(`--listen ${options.listen}: expected host:port, e.g. 0.0.0.0:7070`);

  const cwd = process.cwd();
  const named = ctx.options.config ?? nonEmpty(ctx.env.BERTH_CONFIG);
  const file = path.resolve(cwd, named ?? DEFAULT_CONFIG_FILE);
  const dir = path.dirname(file);
  const source = await sourceOf(options, cwd, dir);
  const dataDir = nonEmpty(ctx.env.BERTH_DATA_DIR) ?? DEFAULT_DATA_DIR;
  const webhooks: WebhookProvider[] =
    source.written.kind === 'git' ? providersFor(source.written.url) : [];
  const secretFile = path.join(dir, SECRET_FILE);
  if (options.force !== true) {
    for (const existing of [file, ...(webhooks.length > 0 ? [secretFile] : [])])
      if (existsSync(existing))
        throw new UsageError(`${existing} exists: berth init overwrites it only with --force`);
  }

  const detected = await pathsOf(ctx, options, source, path.resolve(dir, dataDir));
  const listen = options.listen ?? DEFAULT_LISTEN;
  const text = renderConfig({
    schema: schemaFile(),
    source: source.written,
    paths: detected.paths,
    pathsNote: detected.note,
    dataDir,
    listen,
    webhooks,
    secretFile: `./${SECRET_FILE}`,
  });

  await mkdir(dir, { recursive: true });
  const staged = await stageChecked(file, text);
  let secret: string | undefined;
  try {
    if (webhooks.length > 0) {
      secret = randomBytes(32).toString('hex');
      await writeSecret(secretFile, secret);
    }
    await rename(staged, file);
  } finally {
    await rm(staged, { force: true });
  }

  ctx.out.result(
    {
      ok: true,
      file,
      source: source.written,
      paths: detected.paths,
      dataDir,
      ...(secret === undefined ? {} : { secretFile, secret, listen, webhooks }),
    },
    () =>
      summary({
        file,
        source: source.written,
        paths: detected.paths,
        secretFile,
        secret,
        listen,
        webhooks,
      }),
  );
  return EXIT.ok;
}

interface ResolvedSource {
  written: InitSource;
  /** The folder to look for stacks in: the local repository. */
  local?: string;
}

async function sourceOf(options: InitOptions, cwd: string, dir: string): Promise<ResolvedSource> {
  if (options.git !== undefined) {
    if (options.git.trim() === '') throw new UsageError('--git needs a repository URL');
    return { written: { kind: 'git', url: options.git, branch: options.branch ?? DEFAULT_BRANCH } };
  }
  const folder = path.resolve(cwd, options.path ?? '.');
  const info = await stat(folder).catch(() => undefined);
  if (info?.isDirectory() !== true) throw new UsageError(`--path ${folder} is not a folder`);
  const relative = path.relative(dir, folder);
  const written =
    relative === ''
      ? '.'
      : relative.startsWith('..') || path.isAbsolute(relative)
        ? folder
        : `./${relative.split(path.sep).join('/')}`;
  return { written: { kind: 'path', path: written }, local: folder };
}

async function pathsOf(
  ctx: CliContext,
  options: InitOptions,
  source: ResolvedSource,
  dataDir: string,
): Promise<{ paths: string[]; note: string }> {
  if (options.paths !== undefined && options.paths.length > 0)
    return { paths: options.paths, note: 'Given to berth init with --paths.' };
  if (source.local === undefined)
    return {
      paths: ['*'],
      note: 'Every top-level folder holding a compose file. Stacks elsewhere: e.g. stacks/*.',
    };
  const inside = path.relative(source.local, dataDir);
  const ignore =
    inside === '' || inside.startsWith('..') || path.isAbsolute(inside) ? [] : [inside];
  const folders = await findStackFolders(source.local, ignore);
  for (const folder of folders) {
    const name = path.posix.basename(folder);
    if (folder !== '.' && !STACK_NAME.test(name))
      ctx.out.note(
        `warning: stack folder ${folder}: "${name}" is not a valid stack name (lowercase letters, digits, "-" and "_")`,
      );
  }
  const stacks = folders.filter((f) => f !== '.');
  const paths = deriveGlobs(stacks);
  const lines: string[] = [];
  if (stacks.length === 0)
    lines.push('berth init found no stack folder; `*` takes every top-level one.');
  else {
    const names = stacks.slice(0, NAMED_FOLDERS).join(', ');
    const more = stacks.length > NAMED_FOLDERS ? `, and ${stacks.length - NAMED_FOLDERS} more` : '';
    lines.push(
      `berth init found ${stacks.length} stack folder${stacks.length === 1 ? '' : 's'}: ${names}${more}.`,
    );
  }
  if (folders.includes('.'))
    lines.push('The compose file at the top level is not a stack: a stack is a folder.');
  return { paths: paths.length > 0 ? paths : ['*'], note: lines.join('\n') };
}

/**
 * Writes `text` beside `file` and loads it with berth's config loader (without the
 * environment's overrides, which are not part of the file); returns the staged file.
 */
async function stageChecked(file: string, text: string): Promise<string> {
  const staged = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
  await writeFile(staged, text, { mode: 0o644 });
  try {
    await loadConfig({ file: staged, env: {}, cwd: path.dirname(file) });
  } catch (err) {
    await rm(staged, { force: true });
    if (!(err instanceof ConfigError)) throw err;
    // What the options asked for does not make a valid config (say, a URL with credentials).
    const problems = err.problems.map((p) =>
      p.startsWith(staged) ? p.slice(staged.length).replace(/^(:\d+)?: /, '') : p,
    );
    throw new UsageError(`berth init wrote nothing: ${problems.join('; ')}`);
  }
  return staged;
}

async function writeSecret(file: string, secret: string): Promise<void> {
  await writeFile(file, `${secret}\n`, { mode: 0o600 });
  // The mode applies only to a new file; --force may be replacing one.
  await chmod(file, 0o600);
}

/** The editor schema inside berth's installation: src/cli/commands and dist/cli/commands alike. */
function schemaFile(): string | undefined {
  const file = fileURLToPath(new URL('../../../schemas/berth.schema.json', import.meta.url));
  return existsSync(file) ? file : undefined;
}

function summary(result: {
  file: string;
  source: InitSource;
  paths: string[];
  secretFile: string;
  secret: string | undefined;
  listen: string;
  webhooks: WebhookProvider[];
}): string {
  const source =
    result.source.kind === 'git'
      ? `git ${result.source.url} (branch ${result.source.branch})`
      : `path ${result.source.path}`;
  const lines = [
    `wrote ${result.file}`,
    `  source  ${source}`,
    `  paths   ${result.paths.join(', ')}`,
  ];
  if (result.secret !== undefined) {
    lines.push(
      '',
      `wrote ${result.secretFile} (mode 0600), the webhook secret:`,
      '',
      `  ${result.secret}`,
      '',
      ...webhookHelp(result.webhooks, result.listen),
    );
  }
  lines.push(
    '',
    'Next: berth validate checks the file (and the stacks, once there is a checkout);',
    'berth reconcile --once deploys once; berth daemon keeps the host in sync.',
  );
  return lines.join('\n');
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}
