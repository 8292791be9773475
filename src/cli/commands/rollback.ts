import type { DeploymentRecord } from '../../state/types.js';
import type { CliContext } from '../context.js';
import { EXIT, UsageError, type ExitCode } from '../exit-codes.js';
import { formatError, shortHash } from '../format.js';
import { outcomeToJson } from './reconcile.js';

export interface RollbackCommandOptions {
  to?: string;
}

/** `berth rollback STACK [--to VERSION]`: deploy the good version, or a named earlier one, again. */
export async function rollbackCommand(
  ctx: CliContext,
  stack: string,
  options: RollbackCommandOptions,
): Promise<ExitCode> {
  const app = await ctx.openApp();
  if (app.store.getStack(stack) === undefined) {
    throw new UsageError(`berth knows no stack named ${stack}`, { stack });
  }
  const to =
    options.to === undefined
      ? undefined
      : resolveVersion(app.store.listDeployments(stack, 200), stack, options.to);
  ctx.out.progress(`${stack}: rolling back${to === undefined ? '' : ` to ${shortHash(to)}`}…`);
  const outcome = await app.reconciler.rollback(stack, { to });
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
  const versions = [...new Set(history.map((d) => d.version))].filter((v) => v.startsWith(to));
  if (versions.length > 1) {
    throw new UsageError(
      `version ${to} matches ${versions.length} versions of ${stack}; give more digits`,
      {
        stack,
      },
    );
  }
  return versions[0] ?? to;
}
