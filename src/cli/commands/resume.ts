import type { CliContext } from '../context.js';
import { EXIT, type ExitCode } from '../exit-codes.js';
import { setSuspended } from './suspend.js';

/** `berth resume STACK`: reconcile it again from the next pass on. */
export async function resumeCommand(
  ctx: CliContext,
  stack: string,
  options: { waitMs?: number },
): Promise<ExitCode> {
  const result = await setSuspended(ctx, stack, false, options.waitMs);
  ctx.out.result(result, () =>
    result.changed ? `${stack}: resumed; the next pass reconciles it` : `${stack}: not suspended`,
  );
  return EXIT.ok;
}
