import type { HealthReport } from '../engine/types.js';
import { describeError } from '../errors.js';
import { shortVersion } from '../plan/stack-plan.js';
import type { VersionRef } from '../state/types.js';
import {
  applyVersion,
  asBerthError,
  isTransient,
  loadRunning,
  postDeploy,
  runHook,
  step,
  waitAndRecord,
} from './steps.js';
import type { DeploymentResult, Strategy, StrategyContext } from './types.js';

export interface SimpleOptions {
  /** false for `blind`: apply and trust it. */
  checkHealth: boolean;
}

function withNote(message: string, note: string | undefined): string {
  return note === undefined ? message : `${message}; ${note}`;
}

/**
 * Seed 002's workflow: stop, pre-deploy hook, keep the healthy old version as good, replace,
 * deploy, gate on health; when unhealthy mark bad and go back to the good version.
 */
export async function runSimple(
  ctx: StrategyContext,
  options: SimpleOptions,
): Promise<DeploymentResult> {
  const { target, engine, store, folders } = ctx;
  const ref: VersionRef = { version: target.version, commit: target.commit };
  const short = shortVersion(target.version);
  const settings = target.settings;

  if (ctx.hadContainers) {
    try {
      await step(ctx, 'stop', 'stop the running version', () => engine.stop(target.projectName));
    } catch (err) {
      await restartPrevious(ctx);
      return {
        result: 'failed',
        state: 'FAILED',
        stackState: ctx.previous === undefined ? 'BROKEN' : 'AVAILABLE',
        reason: 'DeployFailed',
        message: `could not stop the running version: ${describeError(err)}`,
        running: ctx.previous,
        health: 'unknown',
        markedBad: false,
        transient: isTransient(err),
        error: asBerthError(err),
      };
    }
  }

  const pre = settings.hooks.preDeploy;
  if (pre !== undefined) {
    const hook = await step(ctx, 'pre-deploy-hook', pre, () => runHook(ctx, 'pre-deploy', pre));
    if (!hook.ok) {
      // The seed would leave the stack down here; bringing the old version back loses nothing.
      await restartPrevious(ctx);
      const how = hook.timedOut ? 'timed out' : `exited with ${hook.exitCode ?? 'no code'}`;
      return {
        result: 'failed',
        state: 'FAILED',
        stackState: ctx.previous === undefined ? 'BROKEN' : 'AVAILABLE',
        reason: 'PreDeployHookFailed',
        message: `pre-deploy hook ${pre} ${how}; ${
          ctx.hadContainers ? 'the previous version keeps running' : 'nothing deployed'
        }`,
        running: ctx.previous,
        health: 'unknown',
        markedBad: false,
        transient: false,
      };
    }
  }

  let good = await folders.readGoodVersion(target.stack);
  if (ctx.previousHealthy && ctx.previous !== undefined) {
    await step(
      ctx,
      'snapshot-good',
      `keep ${shortVersion(ctx.previous.version)} as the good version`,
      () => folders.snapshotGood(target.stack),
    );
    good = (await folders.readGoodVersion(target.stack)) ?? ctx.previous;
  }

  await step(ctx, 'remove-old', 'remove the old containers (volumes kept)', () =>
    engine.down(target.projectName, { volumes: false }),
  );
  await step(ctx, 'put-running', `copy ${short} into running_stacks`, () =>
    folders.putRunning(target.stack, target.dir, ref),
  );

  let failure: unknown;
  let report: HealthReport | undefined;
  try {
    const project = await step(ctx, 'load', 'load the compose project from running_stacks', () =>
      loadRunning(ctx),
    );
    await step(ctx, 'apply', `deploy ${short}`, () => applyVersion(ctx, project, ref));
    if (!options.checkHealth) {
      const note = await postDeploy(ctx, 'success');
      return {
        result: 'succeeded',
        state: 'DONE',
        stackState: 'AVAILABLE',
        reason: 'ReconciliationSucceeded',
        message: withNote(`deployed ${short} (no health check)`, note),
        running: ref,
        good,
        health: 'unknown',
        markedBad: false,
        transient: false,
      };
    }
    report = await step(
      ctx,
      'wait-healthy',
      `wait up to ${settings.healthTimeoutMs}ms for health`,
      () => waitAndRecord(ctx, project, ref),
    );
  } catch (err) {
    failure = err;
  }

  if (failure === undefined && report?.healthy === true) {
    const note = await postDeploy(ctx, 'success');
    return {
      result: 'succeeded',
      state: 'DONE',
      stackState: 'AVAILABLE',
      reason: 'ReconciliationSucceeded',
      message: withNote(`deployed ${short}, healthy`, note),
      running: ref,
      good,
      health: 'healthy',
      markedBad: false,
      transient: false,
      report,
    };
  }

  const transient = failure !== undefined && isTransient(failure);
  const why =
    failure !== undefined
      ? `deploy failed: ${describeError(failure)}`
      : `health check failed (${report?.detail ?? 'no report'})`;
  ctx.logger.warn({ stack: target.stack, version: target.version, why }, 'deployment failed');

  // A Docker hiccup says nothing about the version, so it is not marked bad.
  let markedBad = false;
  if (settings.markBad && !transient) {
    await step(ctx, 'mark-bad', why, () => {
      store.markBad({
        stack: target.stack,
        version: target.version,
        commit: target.commit,
        reason: why,
      });
      return Promise.resolve();
    });
    markedBad = true;
  }
  await step(ctx, 'remove-new', `remove ${short}`, () =>
    engine.down(target.projectName, { volumes: false }),
  );

  const base = {
    markedBad,
    transient,
    report,
    error: failure === undefined ? undefined : asBerthError(failure),
    good,
  };
  const failedReason = failure === undefined ? 'HealthCheckFailed' : 'DeployFailed';

  if (!settings.redeployGood || good === undefined || good.version === target.version) {
    await step(ctx, 'clear-running', 'no good version to go back to', () =>
      folders.clearRunning(target.stack),
    );
    const note = await postDeploy(ctx, 'failed');
    const noGood = !settings.redeployGood
      ? 'redeployGood is off'
      : good === undefined
        ? 'no good version to roll back to'
        : 'the good version is this version';
    return {
      ...base,
      result: 'failed',
      state: 'FAILED',
      stackState: 'BROKEN',
      reason: failedReason,
      message: withNote(`version ${short} ${why}; ${noGood}; the stack is down`, note),
      running: undefined,
      health: 'unhealthy',
    };
  }

  const goodRef = good;
  let goodFailure: unknown;
  let goodReport: HealthReport | undefined;
  try {
    await step(
      ctx,
      'restore-good',
      `restore ${shortVersion(goodRef.version)} from good_stacks`,
      () => folders.restoreGood(target.stack),
    );
    const project = await step(ctx, 'load-good', 'load the good version', () => loadRunning(ctx));
    await step(ctx, 'apply-good', `deploy ${shortVersion(goodRef.version)}`, () =>
      applyVersion(ctx, project, goodRef),
    );
    goodReport = await step(ctx, 'wait-healthy-good', 'wait for the good version', () =>
      waitAndRecord(ctx, project, goodRef),
    );
  } catch (err) {
    goodFailure = err;
  }

  if (goodFailure === undefined && goodReport?.healthy === true) {
    const note = await postDeploy(ctx, 'rolled-back');
    return {
      ...base,
      result: 'rolled-back',
      state: 'ROLLED_BACK',
      stackState: 'AVAILABLE',
      reason: 'RolledBack',
      message: withNote(
        `version ${short} ${why}${markedBad ? ' (marked bad)' : ''}; rolled back to ${shortVersion(goodRef.version)}`,
        note,
      ),
      running: goodRef,
      health: 'healthy',
    };
  }

  const goodWhy =
    goodFailure !== undefined
      ? describeError(goodFailure)
      : `health check failed (${goodReport?.detail ?? 'no report'})`;
  await step(ctx, 'stop-good', 'the good version failed too; stop it', async () => {
    try {
      await engine.stop(target.projectName);
    } catch (err) {
      ctx.logger.warn({ stack: target.stack, err }, 'stopping the good version failed');
    }
  });
  const note = await postDeploy(ctx, 'failed');
  return {
    ...base,
    result: 'failed',
    state: 'FAILED',
    stackState: 'BROKEN',
    reason: failedReason,
    message: withNote(
      `version ${short} ${why}; the good version ${shortVersion(goodRef.version)} failed too (${goodWhy}); stopped`,
      note,
    ),
    running: goodRef,
    health: 'unhealthy',
    transient: transient || (goodFailure !== undefined && isTransient(goodFailure)),
  };
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

export const simpleStrategy: Strategy = {
  method: 'simple',
  run: (ctx) => runSimple(ctx, { checkHealth: true }),
};
