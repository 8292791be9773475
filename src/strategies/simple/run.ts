import type { HealthReport } from '../../engine/types.js';
import { asBerthError, describeError, isTransient } from '../../errors.js';
import { shortVersion } from '../../plan/stack-plan.js';
import { fallBackToGood, type Failure } from '../shared/fall-back.js';
import { keepGood } from '../shared/good.js';
import { postDeploy, preDeploy } from '../shared/hooks.js';
import { failed, preDeployFailed, succeeded, withNote } from '../shared/results.js';
import { step } from '../shared/step.js';
import { applyVersion, loadRunning, targetRef, waitAndRecord } from '../shared/version.js';
import type { DeploymentResult, StrategyContext } from '../types.js';
import { migrateBeforeStart } from './migrate.js';

export interface SimpleOptions {
  /** false for `blind`: apply and trust it. */
  checkHealth: boolean;
}

/**
 * Seed 002's workflow: stop, pre-deploy hook, keep the healthy old version as good, replace,
 * deploy, gate on health; when unhealthy mark bad and go back to the good version.
 */
export async function runSimple(
  ctx: StrategyContext,
  options: SimpleOptions,
): Promise<DeploymentResult> {
  const { target } = ctx;
  const short = shortVersion(target.version);
  const stopped = await stopRunning(ctx);
  if (stopped !== undefined) return stopped;

  const hookFailure = await preDeploy(ctx);
  if (hookFailure !== undefined) {
    // The seed would leave the stack down here; bringing the old version back loses nothing.
    await restartPrevious(ctx);
    return preDeployFailed(ctx, hookFailure, ctx.previous === undefined ? 'BROKEN' : 'AVAILABLE');
  }

  const good = await keepGood(ctx);
  await step(ctx, 'remove-old', 'remove the old containers (volumes kept)', () =>
    ctx.engine.down(target.projectName, { volumes: false }),
  );
  await step(ctx, 'put-running', `copy ${short} into running_stacks`, () =>
    ctx.folders.putRunning(target.stack, target.dir, targetRef(ctx)),
  );

  const outcome = await deploy(ctx, options);
  const passed =
    outcome.failure === undefined && (!options.checkHealth || outcome.report?.healthy === true);
  if (passed) {
    const note = await postDeploy(ctx, 'success');
    const how = options.checkHealth ? ', healthy' : ' (no health check)';
    return succeeded({
      message: withNote(`deployed ${short}${how}`, note),
      running: targetRef(ctx),
      good,
      health: options.checkHealth ? 'healthy' : 'unknown',
      report: outcome.report,
    });
  }
  const failure = outcome.failure ?? {
    why: `health check failed (${outcome.report?.detail ?? 'no report'})`,
    report: outcome.report,
  };
  return fallBackToGood(ctx, failure, good, {
    story: `version ${short} ${failure.why}`,
    rolledBackReason: 'RolledBack',
  });
}

/** Loads and applies the version from running_stacks, then gates on health if asked. */
async function deploy(
  ctx: StrategyContext,
  options: SimpleOptions,
): Promise<{ report?: HealthReport; failure?: Failure }> {
  const ref = targetRef(ctx);
  const { settings } = ctx.target;
  try {
    const project = await step(ctx, 'load', 'load the compose project from running_stacks', () =>
      loadRunning(ctx),
    );
    await migrateBeforeStart(ctx, project);
    await step(ctx, 'apply', `deploy ${shortVersion(ref.version)}`, () =>
      applyVersion(ctx, project, ref),
    );
    if (!options.checkHealth) return {};
    const report = await step(
      ctx,
      'wait-healthy',
      `wait up to ${settings.healthTimeoutMs}ms for health`,
      () => waitAndRecord(ctx, project, ref),
    );
    return { report };
  } catch (err) {
    return { failure: { why: `deploy failed: ${describeError(err)}`, cause: err } };
  }
}

/** Stops the running version, if any; a failure restarts it and ends the deployment. */
async function stopRunning(ctx: StrategyContext): Promise<DeploymentResult | undefined> {
  if (!ctx.hadContainers) return undefined;
  try {
    await step(ctx, 'stop', 'stop the running version', () =>
      ctx.engine.stop(ctx.target.projectName),
    );
    return undefined;
  } catch (err) {
    await restartPrevious(ctx);
    return failed({
      stackState: ctx.previous === undefined ? 'BROKEN' : 'AVAILABLE',
      reason: 'DeployFailed',
      message: `could not stop the running version: ${describeError(err)}`,
      running: ctx.previous,
      health: 'unknown',
      transient: isTransient(err),
      error: asBerthError(err, 'DeployFailed'),
    });
  }
}

async function restartPrevious(ctx: StrategyContext): Promise<void> {
  if (!ctx.hadContainers) return;
  await step(ctx, 'restart-previous', 'bring the previous version back up', async () => {
    try {
      await ctx.engine.start(ctx.target.projectName);
    } catch (err) {
      ctx.logger.warn({ stack: ctx.target.stack, err }, 'restarting the previous version failed');
    }
  });
}
