import type { HealthReport } from '../../engine/types.js';
import { isTransient } from '../../errors.js';
import { shortVersion } from '../../plan/stack-plan.js';
import type { Reason } from '../../reasons.js';
import type { VersionRef } from '../../state/types.js';
import type { DeploymentResult, StrategyContext } from '../types.js';
import { markBad, restoreGood } from './good.js';
import { postDeploy } from './hooks.js';
import { errorOf, failed, rolledBack, withNote, type ResultFields } from './results.js';
import { step } from './step.js';

/** Why a deployed version did not pass: its gate's report, or what was thrown. */
export interface Failure {
  /** One line, e.g. `health check failed (web unhealthy)` or `deploy failed: ...`. */
  why: string;
  cause?: unknown;
  report?: HealthReport;
}

export interface FallBackOptions {
  /** The message's account of what failed, e.g. `version 3f2a9c1b health check failed (...)`. */
  story: string;
  /** Reason of the result when the good version came back healthy. */
  rolledBackReason: Reason;
}

type Shared = Omit<ResultFields, 'stackState' | 'reason' | 'message' | 'health' | 'running'>;

/**
 * The version runs and failed: mark it bad, remove its containers, and bring the good version
 * back stop-first. Without a good version to go back to, the stack is left down.
 */
export async function fallBackToGood(
  ctx: StrategyContext,
  failure: Failure,
  good: VersionRef | undefined,
  options: FallBackOptions,
): Promise<DeploymentResult> {
  const { target } = ctx;
  ctx.logger.warn(
    { stack: target.stack, version: target.version, why: failure.why },
    'deployment failed',
  );
  const markedBad = await markBad(ctx, failure.why, failure.cause);
  await step(ctx, 'remove-new', `remove ${shortVersion(target.version)}`, () =>
    ctx.engine.down(target.projectName, { volumes: false }),
  );
  const shared: Shared = {
    markedBad,
    transient: isTransient(failure.cause),
    report: failure.report,
    error: errorOf(failure.cause),
    good,
  };
  const reason: Reason = failure.cause === undefined ? 'HealthCheckFailed' : 'DeployFailed';
  const restorable = goodToRestore(ctx, good);
  if (typeof restorable === 'string') {
    return leaveDown(ctx, shared, reason, `${options.story}; ${restorable}`);
  }

  const back = await restoreGood(ctx, restorable);
  const goodShort = shortVersion(restorable.version);
  if (!back.healthy) {
    await stopGood(ctx);
    const note = await postDeploy(ctx, 'failed');
    const message = `${options.story}; the good version ${goodShort} failed too (${back.why}); stopped`;
    return failed({
      ...shared,
      stackState: 'BROKEN',
      reason,
      message: withNote(message, note),
      running: restorable,
      health: 'unhealthy',
      transient: shared.transient === true || back.transient,
    });
  }
  const note = await postDeploy(ctx, 'rolled-back');
  const message = `${options.story}${markedBad ? ' (marked bad)' : ''}; rolled back to ${goodShort}`;
  return rolledBack({
    ...shared,
    stackState: 'AVAILABLE',
    reason: options.rolledBackReason,
    message: withNote(message, note),
    running: restorable,
    health: 'healthy',
  });
}

/** Nothing to go back to: running_stacks is cleared and the stack stays down. */
async function leaveDown(
  ctx: StrategyContext,
  shared: Shared,
  reason: Reason,
  story: string,
): Promise<DeploymentResult> {
  await step(ctx, 'clear-running', 'no good version to go back to', () =>
    ctx.folders.clearRunning(ctx.target.stack),
  );
  const note = await postDeploy(ctx, 'failed');
  return failed({
    ...shared,
    stackState: 'BROKEN',
    reason,
    message: withNote(`${story}; the stack is down`, note),
    running: undefined,
    health: 'unhealthy',
  });
}

/** The good version to bring back, or why there is none to. */
function goodToRestore(ctx: StrategyContext, good: VersionRef | undefined): VersionRef | string {
  if (!ctx.target.settings.redeployGood) return 'redeployGood is off';
  if (good === undefined) return 'no good version to roll back to';
  if (good.version === ctx.target.version) return 'the good version is this version';
  return good;
}

async function stopGood(ctx: StrategyContext): Promise<void> {
  await step(ctx, 'stop-good', 'the good version failed too; stop it', async () => {
    try {
      await ctx.engine.stop(ctx.target.projectName);
    } catch (err) {
      ctx.logger.warn({ stack: ctx.target.stack, err }, 'stopping the good version failed');
    }
  });
}
