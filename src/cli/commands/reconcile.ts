import { passToJson } from '../../control/protocol.js';
import type { PassResult, StackOutcome } from '../../reconciler/types.js';
import type { CliContext } from '../context.js';
import { EXIT, type ExitCode } from '../exit-codes.js';
import { formatError, formatTable, shortHash } from '../format.js';
import { withWriter } from '../writer.js';

export interface ReconcileCommandOptions {
  dryRun?: boolean;
  stack?: string[];
  waitMs?: number;
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
  ctx.out.progress('syncing source…');
  const command = `reconcile ${dryRun ? '--dry-run' : '--once'}`;
  const result = await withWriter(ctx, command, options.waitMs, (w) =>
    w.ops.reconcile({
      dryRun,
      ...(stacks === undefined ? {} : { stacks }),
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

function revisionLine(result: PassResult): string[] {
  const lines: string[] = [];
  if (result.revision !== undefined) {
    const { ref, commit, dir } = result.revision;
    lines.push(`source ${ref} @ ${shortHash(commit, 7) ?? '-'} (${dir})`);
  }
  if (result.sourceError !== undefined) {
    lines.push(
      `warning: source unavailable, using the last fetched revision\n${formatError(result.sourceError)}`,
    );
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
