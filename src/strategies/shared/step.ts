import { failpoint } from '../../failpoint.js';
import type { StrategyContext } from '../types.js';

/** Journals a step before running it, so a crash leaves a trace of where it stopped. */
export async function step<T>(
  ctx: StrategyContext,
  name: string,
  detail: string,
  run: () => Promise<T>,
): Promise<T> {
  ctx.store.journal(ctx.deploymentId, name, detail);
  await failpoint(ctx.target.stack, name);
  ctx.onStep?.(name, detail);
  ctx.logger.debug({ stack: ctx.target.stack, step: name, detail }, 'deployment step');
  return run();
}
