import { BerthError, StackError } from '../../errors.js';
import type { LoadedProject } from '../../stack/encrypted-files.js';
import type { BrokenStack, DiscoveredStack } from '../../stack/types.js';
import type { CliContext } from '../context.js';
import { EXIT, type ExitCode } from '../exit-codes.js';
import { errorToJson, formatError, type ErrorJson } from '../format.js';
import {
  aboutClosedFile,
  formatEncryptedFiles,
  inspectEncryptedFiles,
  type EncryptedFileReport,
} from './encrypted-report.js';
import { resolveTargets, stacksOfTargets, type Target } from './validate.js';

interface StackSecrets {
  stack: string;
  dir: string;
  files: EncryptedFileReport[];
  /** The stack could not be read: a deploy of it would fail. */
  error?: ErrorJson;
}

interface Looked {
  entry: StackSecrets;
  err?: BerthError;
}

/**
 * `berth secrets [STACK]`: which stacks use which encrypted files, in what format, and whether
 * the configured keys open them. Read-only: no lock, no Docker, no plaintext printed. Exit 0
 * when every file opens and every stack loads, 1 otherwise.
 */
export async function secretsCommand(ctx: CliContext, name: string | undefined): Promise<ExitCode> {
  const targets = await resolveTargets(ctx, undefined);
  const all = await stacksOfTargets(targets, name);
  const looked: Looked[] = [];
  for (const { target, stack } of all) {
    ctx.out.progress(`looking at ${stack.name}…`);
    looked.push(await lookAt(target, stack));
  }
  const stacks = looked.map((l) => l.entry);
  const ok = stacks.every((s) => s.error === undefined && s.files.every((f) => f.opens));
  ctx.out.result({ ok, root: targets[0]!.root, stacks }, () => formatSecrets(name, looked));
  return ok ? EXIT.ok : EXIT.failed;
}

/**
 * One stack's encrypted files. The stack loader says whether the stack loads (it opens what the
 * stack uses); when it does not, the project loaded with its encrypted files closed says how
 * they are used. A folder discovery refused for a link has no version and is not walked.
 */
async function lookAt(target: Target, stack: DiscoveredStack | BrokenStack): Promise<Looked> {
  let loaded: LoadedProject | undefined;
  let err: BerthError | undefined;
  if ('error' in stack) err = stack.error;
  else {
    try {
      loaded = await target.loadStack(stack.dir, stack.name);
    } catch (caught) {
      err =
        caught instanceof BerthError
          ? caught
          : new StackError('ComposeUnreadable', `cannot load ${stack.name}`, { cause: caught });
    }
  }
  const entry: StackSecrets = { stack: stack.name, dir: stack.dir, files: [] };
  if (err !== undefined) entry.error = errorToJson(err);
  if (stack.version === undefined) return { entry, ...(err === undefined ? {} : { err }) };
  loaded ??= await target.loadUses(stack.dir, stack.name).catch(() => undefined);
  entry.files = (await inspectEncryptedFiles(stack.dir, loaded, target.decryptor)).files;
  return { entry, ...(err === undefined ? {} : { err }) };
}

function formatSecrets(name: string | undefined, looked: Looked[]): string {
  const stacks = looked.map((l) => l.entry);
  const holding = stacks.filter((s) => s.files.length > 0);
  const lines: string[] = [];
  const table = formatEncryptedFiles(holding);
  if (table !== '') lines.push(table);
  for (const { entry, err } of looked)
    if (err !== undefined && !aboutClosedFile(err, entry.dir, entry.files))
      lines.push(`${entry.stack}: ${formatError(err)}`);
  const count = holding.reduce((n, s) => n + s.files.length, 0);
  const closed = holding.reduce((n, s) => n + s.files.filter((f) => !f.opens).length, 0);
  const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;
  if (name !== undefined && count === 0) lines.push(`${name} holds no encrypted file`);
  else
    lines.push(
      `${plural(count, 'encrypted file')} in ${holding.length} of ${plural(stacks.length, 'stack')}` +
        (closed === 0 ? '' : `; ${closed} ${closed === 1 ? 'does' : 'do'} not open`),
    );
  return lines.join('\n');
}
