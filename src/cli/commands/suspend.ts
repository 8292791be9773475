import type { SuspendResult } from '../../reconciler/admin.js';
import type { CliContext } from '../context.js';
import { EXIT, UsageError, type ExitCode } from '../exit-codes.js';
import { withWriter } from '../writer.js';

/** Fails with a usage error unless the state knows the stack. */
export async function assertKnownStack(ctx: CliContext, stack: string): Promise<void> {
  const reader = await ctx.openReader();
  if (reader.store.getStack(stack) === undefined) {
    throw new UsageError(`berth knows no stack named ${stack}`, { stack });
  }
}

/** Runs suspend or resume on a stack the state knows; an unknown name is a usage error. */
export async function setSuspended(
  ctx: CliContext,
  stack: string,
  suspend: boolean,
  waitMs: number | undefined,
): Promise<SuspendResult> {
  await assertKnownStack(ctx, stack);
  const command = `${suspend ? 'suspend' : 'resume'} ${stack}`;
  return withWriter(ctx, command, waitMs, (w) =>
    suspend ? w.ops.suspend(stack, ctx.trigger()) : w.ops.resume(stack, ctx.trigger()),
  );
}

/** `berth suspend STACK`: stop reconciling it; changes made by hand are left alone. */
export async function suspendCommand(
  ctx: CliContext,
  stack: string,
  options: { waitMs?: number },
): Promise<ExitCode> {
  const result = await setSuspended(ctx, stack, true, options.waitMs);
  ctx.out.result(result, () =>
    result.changed
      ? `${stack}: suspended; berth leaves it alone until berth resume ${stack}`
      : `${stack}: already suspended`,
  );
  return EXIT.ok;
}
