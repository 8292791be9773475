import type { ComposeProject } from '../../compose/types.js';
import { versionLabels } from '../../engine/naming.js';
import type { HealthReport } from '../../engine/types.js';
import { describeError, isTransient } from '../../errors.js';
import { carriedVersionsOf, shortVersion } from '../../plan/stack-plan.js';
import { assertExclusiveVolumesDeclared } from '../../stack/settings.js';
import type { VersionRef } from '../../state/types.js';
import { runSimple } from '../simple/run.js';
import { fallBackToGood, type Failure } from '../shared/fall-back.js';
import { keepGood, markBad } from '../shared/good.js';
import { postDeploy, preDeploy } from '../shared/hooks.js';
import { runMigrations } from '../shared/migrations.js';
import { errorOf, preDeployFailed, rolledBack, succeeded, withNote } from '../shared/results.js';
import { step } from '../shared/step.js';
import { applyVersion, loadRunning, targetRef, waitAndRecord } from '../shared/version.js';
import type { DeploymentResult, StrategyContext } from '../types.js';
import { rollServices } from './batches.js';
import type { RolloutPlan } from './plan.js';
import { describePlan, planRollout } from './planner.js';
import { retireOld, undoRollout } from './retire.js';
import { RolloutFailure, type RolloutOptions, type RolloutState } from './types.js';

/** Every batch passed its gate: what the switch works on. */
interface Rolled {
  project: ComposeProject;
  plan: RolloutPlan;
}

/**
 * Blue-green and canary (seed 000): new containers start beside the old ones, hidden from the
 * service's name until healthy, then join it; old containers leave the aliases, drain, stop
 * with their stop signal and grace period, and go. A failure before the switch removes what
 * this deployment started and leaves the old containers serving as they were; a failure after
 * it brings the good version back stop-first, as `simple` does. Either marks the version bad.
 */
export async function runRollout(
  ctx: StrategyContext,
  options: RolloutOptions,
): Promise<DeploymentResult> {
  const { target } = ctx;
  // Nothing runs that a request could reach: the simple path is the same thing, and shorter.
  if (!ctx.hadContainers) {
    ctx.store.appendLog(
      ctx.deploymentId,
      `${options.method}: no containers run yet; deploying directly`,
    );
    return runSimple(ctx, { checkHealth: true });
  }

  const hookFailure = await preDeploy(ctx);
  if (hookFailure !== undefined) {
    return preDeployFailed(ctx, hookFailure, ctx.previousHealthy ? 'AVAILABLE' : 'BROKEN');
  }

  const good = await keepGood(ctx);
  // The old files stay where the old containers mount them until those containers are gone.
  const short = shortVersion(target.version);
  await step(ctx, 'put-running', `copy ${short} into running_stacks, keep the old copy`, () =>
    ctx.folders.putRunning(target.stack, target.dir, targetRef(ctx), { keepPrevious: true }),
  );

  const state: RolloutState = { started: [], asides: [] };
  const rolled = await rollAll(ctx, options, state);
  if ('why' in rolled) return undoBeforeSwitch(ctx, state, rolled, good);
  return switchOver(ctx, options, rolled, state, good);
}

/** Loads, prepares and plans the version, then rolls its services by the dependency graph. */
async function rollAll(
  ctx: StrategyContext,
  options: RolloutOptions,
  state: RolloutState,
): Promise<Rolled | Failure> {
  const { engine, target } = ctx;
  try {
    const project = await step(ctx, 'load', 'load the compose project from running_stacks', () =>
      loadRunning(ctx),
    );
    state.project = project;
    assertExclusiveVolumesDeclared(project, target.settings, target.stack);
    await step(ctx, 'prepare', 'images, networks and volumes', () =>
      engine.prepare(project, { signal: ctx.signal }),
    );
    const plan = await planRollout(
      engine,
      project,
      target.settings,
      options.method,
      target.version,
    );
    state.plan = plan;
    await step(ctx, 'plan', describePlan(plan), () => logPlan(ctx, plan));
    await runMigrations(ctx, project);
    const labels = versionLabels(target.version);
    await rollServices(ctx, project, plan, options, labels, state);
    return { project, plan };
  } catch (err) {
    if (err instanceof RolloutFailure)
      return { why: err.message, report: err.report, cause: err.cause };
    return { why: `deploy failed: ${describeError(err)}`, cause: err };
  }
}

function logPlan(ctx: StrategyContext, plan: RolloutPlan): Promise<void> {
  ctx.store.appendLog(
    ctx.deploymentId,
    plan.entries.map((e) => `${e.action} ${e.subject}: ${e.reason}`).join('\n'),
  );
  for (const s of plan.services) {
    if (s.mode === 'stop-first')
      ctx.logger.warn(
        { stack: ctx.target.stack, service: s.service, why: s.reason },
        'service cannot run twice; rolled stop-first',
      );
  }
  return Promise.resolve();
}

/** Every batch passed: the new containers take over, then the whole stack is gated. */
async function switchOver(
  ctx: StrategyContext,
  options: RolloutOptions,
  { project, plan }: Rolled,
  state: RolloutState,
  good: VersionRef | undefined,
): Promise<DeploymentResult> {
  const { engine, target } = ctx;
  const ref = targetRef(ctx);
  const short = shortVersion(ref.version);
  let report: HealthReport;
  try {
    await step(ctx, 'switch', 'old containers leave the aliases, drain, stop and go', () =>
      retireOld(ctx, project, plan, state),
    );
    await step(ctx, 'rename', 'new containers take their final names', async () => {
      for (const s of state.started)
        if (s.name !== s.finalName) await engine.renameContainer(s.id, s.finalName);
    });
    await step(ctx, 'apply', `converge the rest of ${short}`, () =>
      applyVersion(ctx, project, ref),
    );
    report = await step(ctx, 'wait-healthy', 'the whole stack', () =>
      waitAndRecord(ctx, project, ref),
    );
  } catch (err) {
    return failAfterSwitch(ctx, { why: `deploy failed: ${describeError(err)}`, cause: err }, good);
  }
  if (!report.healthy) {
    return failAfterSwitch(ctx, { why: `health check failed (${report.detail})`, report }, good);
  }
  await ctx.folders.dropPrevious(target.stack);
  const carriedVersions = carriedVersionsOf(await engine.observe(target.projectName), ref.version);
  const note = await postDeploy(ctx, 'success');
  return succeeded({
    message: withNote(`deployed ${short} with ${options.method}, healthy`, note),
    running: ref,
    good,
    health: 'healthy',
    carriedVersions,
    report,
  });
}

/**
 * Past the switch the old containers are gone, so there is nothing to switch back to: the
 * version is marked bad and the good version comes back stop-first, as `simple` does it.
 */
async function failAfterSwitch(
  ctx: StrategyContext,
  failure: Failure,
  good: VersionRef | undefined,
): Promise<DeploymentResult> {
  // The old files were kept for the old containers, which are gone.
  await ctx.folders.dropPrevious(ctx.target.stack);
  return fallBackToGood(ctx, failure, good, {
    story: `version ${shortVersion(ctx.target.version)} took over at the switch, then ${failure.why}`,
    rolledBackReason: failure.cause === undefined ? 'HealthCheckFailed' : 'DeployFailed',
  });
}

/** A batch failed before the switch: the new containers go and the old ones serve as before. */
async function undoBeforeSwitch(
  ctx: StrategyContext,
  state: RolloutState,
  failure: Failure,
  good: VersionRef | undefined,
): Promise<DeploymentResult> {
  const { target, logger } = ctx;
  logger.warn(
    { stack: target.stack, version: target.version, why: failure.why },
    'deployment failed',
  );
  const markedBad = await markBad(ctx, failure.why, failure.cause);
  let restoreError: unknown;
  try {
    await step(ctx, 'roll-back', 'remove the new containers; the old ones keep serving', () =>
      undoRollout(ctx, state),
    );
  } catch (err) {
    restoreError = err;
    logger.error({ stack: target.stack, err }, 'rolling back the rollout failed');
  }
  const note = await postDeploy(ctx, 'rolled-back');
  const previous =
    ctx.previous === undefined ? 'the old containers' : shortVersion(ctx.previous.version);
  const kept =
    restoreError === undefined
      ? `${previous} kept serving`
      : `restoring ${previous} failed: ${describeError(restoreError)}`;
  const restored = restoreError === undefined && ctx.previousHealthy;
  const story = `version ${shortVersion(target.version)} ${failure.why}`;
  return rolledBack({
    stackState: restored ? 'AVAILABLE' : 'BROKEN',
    reason: failure.report !== undefined ? 'HealthCheckFailed' : 'RolledBack',
    message: withNote(`${story}${markedBad ? ' (marked bad)' : ''}; ${kept}`, note),
    running: ctx.previous,
    good,
    health: restored ? 'healthy' : 'unknown',
    markedBad,
    transient: isTransient(failure.cause),
    report: failure.report,
    error: errorOf(failure.cause),
  });
}
