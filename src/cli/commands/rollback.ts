import { outcomeToJson } from '../../control/protocol.js';
import type { DeploymentRecord } from '../../state/types.js';
import type { CliContext } from '../context.js';
import { EXIT, UsageError, type ExitCode } from '../exit-codes.js';
import { formatError, shortHash } from '../format.js';
import { withWriter } from '../writer.js';
import { assertKnownStack } from './suspend.js';

export interface RollbackCommandOptions {
  to?: string;
  waitMs?: number;
}

/**
 * `berth rollback STACK [--to VERSION]`: deploy the good version, or a named earlier one,
 * again; the version rolled away from is marked bad until `berth unmark` or a new commit.
 */
export async function rollbackCommand(
  ctx: CliContext,
  stack: string,
  options: RollbackCommandOptions,
): Promise<ExitCode> {
  await assertKnownStack(ctx, stack);
  const reader = await ctx.openReader();
  const to =
    options.to === undefined
      ? undefined
      : resolveVersion(reader.store.listDeployments(stack, 200), stack, options.to);
  ctx.out.progress(`${stack}: rolling back${to === undefined ? '' : ` to ${shortHash(to)}`}…`);
  const outcome = await withWriter(ctx, `rollback ${stack}`, options.waitMs, (w) =>
    w.ops.rollback(stack, ctx.trigger(), to),
  );
  const ok = outcome.result === 'deployed' || outcome.result === 'unchanged';
  ctx.out.result({ ok, ...outcomeToJson(outcome) }, () => {
    const head = `${stack}: ${outcome.result}${
      outcome.version === undefined ? '' : ` ${shortHash(outcome.version)}`
    } — ${outcome.message}`;
    return outcome.error === undefined ? head : `${head}\n${formatError(outcome.error)}`;
  });
  return ok ? EXIT.ok : EXIT.failed;
}

/** Lets --to take the short hashes status and history print; unknown versions pass through. */
function resolveVersion(history: DeploymentRecord[], stack: string, to: string): string {
  const versions = [...new Set(history.map((d) => d.version))].filter(
    (v) => v !== '' && v.startsWith(to),
  );
  if (versions.length > 1) {
    throw new UsageError(
      `version ${to} matches ${versions.length} versions of ${stack}; give more digits`,
      { stack },
    );
  }
  return versions[0] ?? to;
}
