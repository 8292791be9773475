import type { CliContext } from '../context.js';
import { EXIT, type ExitCode } from '../exit-codes.js';

/** `berth down STACK`: remove its containers and networks (volumes kept) and record it. */
export async function downCommand(ctx: CliContext, stack: string): Promise<ExitCode> {
  const app = await ctx.openApp();
  ctx.out.progress(`${stack}: bringing down…`);
  await app.reconciler.down(stack, { trigger: 'cli' });
  ctx.out.result({ ok: true, stack, result: 'removed' }, () => `${stack}: down (volumes kept)`);
  return EXIT.ok;
}
