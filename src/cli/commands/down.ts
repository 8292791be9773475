import type { CliContext } from '../context.js';
import { EXIT, type ExitCode } from '../exit-codes.js';
import { withWriter } from '../writer.js';

/** `berth down STACK`: remove its containers and networks (volumes kept) and record it. */
export async function downCommand(
  ctx: CliContext,
  stack: string,
  options: { waitMs?: number },
): Promise<ExitCode> {
  ctx.out.progress(`${stack}: bringing down…`);
  await withWriter(ctx, `down ${stack}`, options.waitMs, (w) => w.ops.down(stack, ctx.trigger()));
  ctx.out.result({ ok: true, stack, result: 'removed' }, () => `${stack}: down (volumes kept)`);
  return EXIT.ok;
}
