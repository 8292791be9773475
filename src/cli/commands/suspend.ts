import { resumeStack, suspendStack, type SuspendResult } from '../../reconciler/stack-admin.js';
import type { CliContext } from '../context.js';
import { EXIT, UsageError, type ExitCode } from '../exit-codes.js';

/** Who asked, as recorded in the stack's conditions: the CLI and the local user. */
export function cliTrigger(ctx: CliContext): string {
  const user = ctx.env.USER ?? ctx.env.LOGNAME;
  return user === undefined || user === '' ? 'cli' : `cli:${user}`;
}

/** Runs suspend or resume on a stack the store knows; an unknown name is a usage error. */
export async function setSuspended(
  ctx: CliContext,
  stack: string,
  suspend: boolean,
): Promise<SuspendResult> {
  const app = await ctx.openApp();
  if (app.store.getStack(stack) === undefined) {
    throw new UsageError(`berth knows no stack named ${stack}`, { stack });
  }
  const deps = { store: app.store, logger: ctx.logger, clock: app.clock };
  return suspend
    ? suspendStack(deps, stack, cliTrigger(ctx))
    : resumeStack(deps, stack, cliTrigger(ctx));
}

/** `berth suspend STACK`: stop reconciling it; changes made by hand are left alone. */
export async function suspendCommand(ctx: CliContext, stack: string): Promise<ExitCode> {
  const result = await setSuspended(ctx, stack, true);
  ctx.out.result(result, () =>
    result.changed
      ? `${stack}: suspended; berth leaves it alone until berth resume ${stack}`
      : `${stack}: already suspended`,
  );
  return EXIT.ok;
}
