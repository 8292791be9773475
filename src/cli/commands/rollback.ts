import { outcomeToJson } from '../../control/protocol.js';
import { BerthError } from '../../errors.js';
import { ROLLBACK_HISTORY_LIMIT, versionByPrefix } from '../../reconciler/rollback.js';
import type { DeploymentRecord } from '../../state/types.js';
import type { CliContext } from '../context.js';
import { EXIT, type ExitCode } from '../exit-codes.js';
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
      : resolveVersion(
          reader.store.listDeployments(stack, ROLLBACK_HISTORY_LIMIT),
          stack,
          options.to,
        );
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

/**
 * Lets --to take the short hashes status and history print, refusing a short or ambiguous
 * prefix here (exit 2); an unknown one passes through for the writer to report.
 */
function resolveVersion(history: DeploymentRecord[], stack: string, to: string): string {
  try {
    return versionByPrefix(history, stack, to).version;
  } catch (err) {
    if (err instanceof BerthError && err.reason === 'VersionNotFound') return to;
    throw err;
  }
}
