import { SettingsError, describeError, isTransient } from '../../errors.js';
import { shortVersion } from '../../plan/stack-plan.js';
import type { VersionRef } from '../../state/types.js';
import type { StrategyContext } from '../types.js';
import { step } from './step.js';
import { applyVersion, loadRunning, waitAndRecord } from './version.js';

/**
 * Copies the running version into good_stacks when the reconciler says it earned it
 * (`snapshotPrevious`), before anything replaces it. Returns the good version afterwards.
 */
export async function keepGood(ctx: StrategyContext): Promise<VersionRef | undefined> {
  const { previous, folders, target } = ctx;
  if (!ctx.snapshotPrevious || previous === undefined) {
    return folders.readGoodVersion(target.stack);
  }
  await step(
    ctx,
    'snapshot-good',
    `keep ${shortVersion(previous.version)} as the good version`,
    () => folders.snapshotGood(target.stack),
  );
  return (await folders.readGoodVersion(target.stack)) ?? previous;
}

/**
 * Marks the target version bad, unless the settings say not to or the failure says nothing
 * about the version (a Docker hiccup, invalid deploy settings). True when it marked.
 */
export async function markBad(
  ctx: StrategyContext,
  why: string,
  cause?: unknown,
): Promise<boolean> {
  const { target } = ctx;
  if (!target.settings.markBad || isTransient(cause) || cause instanceof SettingsError)
    return false;
  await step(ctx, 'mark-bad', why, () => {
    ctx.store.markBad({
      stack: target.stack,
      version: target.version,
      commit: target.commit,
      reason: why,
    });
    return Promise.resolve();
  });
  return true;
}

/** How bringing the good version back went. */
export type GoodRestored = { healthy: true } | { healthy: false; why: string; transient: boolean };

/**
 * Stop-first return to the good version, once the failed version's containers are gone:
 * good_stacks back into running_stacks, apply it, wait for its health.
 */
export async function restoreGood(ctx: StrategyContext, good: VersionRef): Promise<GoodRestored> {
  const short = shortVersion(good.version);
  try {
    await step(ctx, 'restore-good', `restore ${short} from good_stacks`, () =>
      ctx.folders.restoreGood(ctx.target.stack),
    );
    const project = await step(ctx, 'load-good', 'load the good version', () => loadRunning(ctx));
    await step(ctx, 'apply-good', `deploy ${short}`, () => applyVersion(ctx, project, good));
    const report = await step(ctx, 'wait-healthy-good', 'wait for the good version', () =>
      waitAndRecord(ctx, project, good),
    );
    if (report.healthy) return { healthy: true };
    return { healthy: false, why: `health check failed (${report.detail})`, transient: false };
  } catch (err) {
    return { healthy: false, why: describeError(err), transient: isTransient(err) };
  }
}
