import { diffStacks, type StackDiff } from '../../reconciler/diff.js';
import type { CliContext } from '../context.js';
import { EXIT, UsageError, type ExitCode } from '../exit-codes.js';
import { formatTable, shortHash } from '../format.js';

/**
 * `berth diff [STACK]`: desired state (the checkout, not fetched) against observed state
 * (running version, records, containers). Exit 0 when nothing differs, 1 when something does.
 */
export async function diffCommand(ctx: CliContext, stack: string | undefined): Promise<ExitCode> {
  const app = await ctx.openReader();
  const diffs = await diffStacks(
    {
      sources: app.sources,
      engine: app.engine,
      store: app.store,
      folders: app.folders,
      loadStack: app.loadStack,
    },
    stack === undefined ? undefined : [stack],
  );
  const unknown = diffs.find((d) => d.status === 'unknown');
  if (stack !== undefined && unknown !== undefined) {
    throw new UsageError(`berth knows no stack named ${stack}`, { stack });
  }
  const differs = diffs.some((d) => d.differs);
  ctx.out.result({ differs, stacks: diffs }, () => formatDiffs(diffs));
  return differs ? EXIT.failed : EXIT.ok;
}

function formatDiffs(diffs: StackDiff[]): string {
  if (diffs.length === 0) return 'no stacks';
  const table = formatTable(
    ['STACK', 'STATUS', 'DESIRED', 'RUNNING', 'RECORDED', 'NOTES'],
    diffs.map((d) => [
      d.stack,
      d.status,
      shortHash(d.desiredVersion),
      shortHash(d.running?.version),
      shortHash(d.recorded?.version),
      [d.suspended ? 'suspended' : '', d.disabled ? 'deploy: false' : '', d.bad ? 'bad' : '']
        .filter((n) => n !== '')
        .join(', ') || undefined,
    ]),
  );
  const details = diffs
    .filter((d) => d.differences.length > 0)
    .map((d) => [`${d.stack}:`, ...d.differences.map((line) => `  ${line}`)].join('\n'));
  return [table, ...details].join('\n\n');
}
