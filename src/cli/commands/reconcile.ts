import { passToJson } from '../../control/protocol.js';
import type { PassResult, SourceResult, StackOutcome } from '../../reconciler/types.js';
import { DEFAULT_SOURCE } from '../../source/index.js';
import type { CliContext } from '../context.js';
import { EXIT, type ExitCode } from '../exit-codes.js';
import { formatError, formatTable, shortHash } from '../format.js';
import { withWriter } from '../writer.js';

export interface ReconcileCommandOptions {
  dryRun?: boolean;
  stack?: string[];
  /** `--source NAME`, repeatable or comma-separated: sync and plan only these sources. */
  source?: string[];
  waitMs?: number;
}

/** `--source a,b --source c` → [a, b, c]; undefined when none is given. */
export function sourceNames(given: readonly string[] | undefined): string[] | undefined {
  const names = (given ?? []).flatMap((value) =>
    value
      .split(',')
      .map((name) => name.trim())
      .filter((name) => name !== ''),
  );
  return names.length === 0 ? undefined : [...new Set(names)];
}

/**
 * `berth reconcile --once`: one full pass, through the daemon when one holds the data dir.
 * `--dry-run` prints the plan and changes nothing (it still fetches the source).
 */
export async function reconcileCommand(
  ctx: CliContext,
  options: ReconcileCommandOptions,
): Promise<ExitCode> {
  const dryRun = options.dryRun === true;
  const stacks =
    options.stack !== undefined && options.stack.length > 0 ? options.stack : undefined;
  const sources = sourceNames(options.source);
  ctx.out.progress(sources === undefined ? 'syncing source…' : `syncing ${sources.join(', ')}…`);
  const command = `reconcile ${dryRun ? '--dry-run' : '--once'}`;
  const result = await withWriter(ctx, command, options.waitMs, (w) =>
    w.ops.reconcile({
      dryRun,
      ...(stacks === undefined ? {} : { stacks }),
      ...(sources === undefined ? {} : { sources }),
      trigger: ctx.trigger(),
      onProgress: (event) => ctx.out.progress(progressLine(event)),
    }),
  );
  ctx.out.result({ ...passToJson(result), dryRun }, () =>
    dryRun ? formatDryRun(result) : formatPass(result),
  );
  return result.ok ? EXIT.ok : EXIT.failed;
}

function progressLine(event: { stack?: string; step: string; detail?: string }): string {
  const who = event.stack === undefined ? '' : `${event.stack}: `;
  const detail =
    event.detail === undefined
      ? ''
      : ` ${/^[0-9a-f]{40,64}$/.test(event.detail) ? shortHash(event.detail) : event.detail}`;
  return `${who}${event.step}${detail}…`;
}

/** One line per source synced: its commit, or why it could not be synced. */
function revisionLine(result: PassResult): string[] {
  // A daemon older than several sources answers with the one revision only.
  const sources: SourceResult[] =
    result.sources.length > 0
      ? result.sources
      : [
          {
            name: '',
            ...(result.revision === undefined ? {} : { revision: result.revision }),
            ...(result.sourceError === undefined ? {} : { error: result.sourceError }),
          },
        ];
  // One source named `default` (the single `source:`) reads as it always did.
  const named = sources.length > 1 || sources.some((s) => s.name !== DEFAULT_SOURCE);
  return sources.flatMap((source) => sourceLines(source, named));
}

function sourceLines(source: SourceResult, named: boolean): string[] {
  const label = named ? `source ${source.name}` : 'source';
  const lines: string[] = [];
  if (source.revision !== undefined) {
    const { ref, commit, dir } = source.revision;
    lines.push(`${label}${named ? ':' : ''} ${ref} @ ${shortHash(commit, 7) ?? '-'} (${dir})`);
  }
  if (source.error !== undefined) {
    const kept =
      source.revision === undefined
        ? 'no fetched revision, its stacks are left as they are'
        : 'using the last fetched revision';
    lines.push(`warning: ${label} unavailable, ${kept}\n${formatError(source.error)}`);
  }
  return lines;
}

function formatPass(result: PassResult): string {
  const lines = revisionLine(result);
  if (result.stacks.length === 0) {
    lines.push('no stacks found');
    return lines.join('\n');
  }
  lines.push(
    formatTable(
      ['STACK', 'RESULT', 'VERSION', 'MESSAGE'],
      result.stacks.map((s) => [s.stack, s.result, shortHash(s.version), s.message]),
    ),
  );
  for (const s of result.stacks) {
    if (s.error !== undefined && !s.message.includes(s.error.message)) {
      lines.push(`${s.stack}: ${formatError(s.error)}`);
    }
  }
  lines.push(summary(result.stacks));
  return lines.join('\n');
}

function formatDryRun(result: PassResult): string {
  const lines = revisionLine(result);
  if (result.plan.length === 0) lines.push('no stacks found');
  else {
    lines.push(
      formatTable(
        ['STACK', 'ACTION', 'REASON'],
        result.plan.map((entry) => [entry.subject, entry.action, entry.reason]),
      ),
    );
    for (const entry of result.plan) {
      if (entry.details === undefined || entry.details.length === 0) continue;
      lines.push('', `${entry.subject}:`);
      for (const d of entry.details) lines.push(`  ${d.action} ${d.subject}: ${d.reason}`);
    }
  }
  lines.push('dry run: nothing was changed');
  return lines.join('\n');
}

function summary(stacks: StackOutcome[]): string {
  const counts = new Map<string, number>();
  for (const s of stacks) counts.set(s.result, (counts.get(s.result) ?? 0) + 1);
  const parts = [...counts].map(([result, n]) => `${n} ${result}`);
  return `${stacks.length} stack${stacks.length === 1 ? '' : 's'}: ${parts.join(', ')}`;
}
