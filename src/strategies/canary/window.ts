import { DEFAULT_CANARY } from '../../stack/types.js';
import { RolloutFailure, type Started } from '../rollout/types.js';
import { step } from '../shared/step.js';
import type { StrategyContext } from '../types.js';

/** Canary: the batch must stay up (and its probe answer 2xx) for the whole window. */
export async function observeWindow(
  ctx: StrategyContext,
  label: string,
  fresh: Started[],
): Promise<void> {
  const canary = ctx.target.settings.canary ?? DEFAULT_CANARY;
  const { clock } = ctx;
  await step(ctx, 'window', `${label}: observe for ${canary.windowMs}ms`, async () => {
    const baseline = new Map<string, number>();
    const end = clock.now() + canary.windowMs;
    for (;;) {
      await checkBatch(ctx, label, fresh, baseline);
      if (canary.probe !== undefined) await probeBatch(ctx, label, fresh, canary.probe);
      const left = end - clock.now();
      if (left <= 0) return;
      await clock.sleep(Math.min(1_000, left), ctx.signal);
    }
  });
}

/** Every container still runs, is not unhealthy and has not restarted since the window began. */
async function checkBatch(
  ctx: StrategyContext,
  label: string,
  fresh: Started[],
  baseline: Map<string, number>,
): Promise<void> {
  const seen = await ctx.engine.inspectContainers(fresh.map((f) => f.id));
  for (const f of fresh) {
    const c = seen.find((x) => x.id === f.id);
    if (c === undefined) throw new RolloutFailure(`canary ${label}: ${f.finalName} vanished`);
    if (c.state !== 'running' || c.health === 'unhealthy')
      throw new RolloutFailure(
        `canary ${label}: ${f.finalName} is ${c.state === 'running' ? 'unhealthy' : c.state} during the window`,
      );
    const restarts = c.restartCount ?? 0;
    const before = baseline.get(f.id) ?? restarts;
    baseline.set(f.id, before);
    if (restarts > before)
      throw new RolloutFailure(`canary ${label}: ${f.finalName} restarted during the window`);
  }
}

async function probeBatch(
  ctx: StrategyContext,
  label: string,
  fresh: Started[],
  url: string,
): Promise<void> {
  const results = await Promise.all(fresh.map((f) => ctx.engine.probe(f.id, url, 5_000)));
  const failed = results.find((r) => !r.ok);
  if (failed !== undefined)
    throw new RolloutFailure(`canary ${label}: probe failed: ${failed.detail}`);
}
