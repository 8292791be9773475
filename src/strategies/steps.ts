import type { ComposeProject } from '../compose/types.js';
import type { HealthReport } from '../engine/types.js';
import { BerthError, EngineError, describeError } from '../errors.js';
import { failpoint } from '../reconciler/failpoint.js';
import type { HookPhase, HookResult } from '../hooks/types.js';
import type { VersionRef } from '../state/types.js';
import type { StrategyContext } from './types.js';
import { versionLabels } from '../engine/naming.js';

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

/** Runs a hook; a script that cannot start counts as a failed run rather than an exception. */
export async function runHook(
  ctx: StrategyContext,
  phase: HookPhase,
  script: string,
  result?: string,
): Promise<HookResult> {
  const { target } = ctx;
  let outcome: HookResult;
  try {
    outcome = await ctx.hooks.run({
      phase,
      script,
      stackDir: target.dir,
      stack: target.stack,
      version: target.version,
      commit: target.commit,
      previousVersion: ctx.previous?.version,
      result,
      timeoutMs: target.settings.hooks.timeoutMs,
      signal: ctx.signal,
    });
  } catch (err) {
    outcome = {
      ok: false,
      exitCode: null,
      timedOut: false,
      output: describeError(err),
      durationMs: 0,
    };
  }
  const status = outcome.ok
    ? 'ok'
    : outcome.timedOut
      ? 'timed out'
      : `failed (exit ${outcome.exitCode ?? 'none'})`;
  ctx.store.appendLog(ctx.deploymentId, `${phase} hook ${script}: ${status}\n${outcome.output}`);
  if (!outcome.ok) {
    ctx.logger.warn(
      { stack: target.stack, phase, script, exitCode: outcome.exitCode },
      'hook failed',
    );
  }
  return outcome;
}

/** Runs the post-deploy hook, if any; its failure is reported but changes no outcome. */
export async function postDeploy(
  ctx: StrategyContext,
  result: 'success' | 'failed' | 'rolled-back',
): Promise<string | undefined> {
  const script = ctx.target.settings.hooks.postDeploy;
  if (script === undefined) return undefined;
  const hook = await step(ctx, 'post-deploy-hook', `${script} (BERTH_RESULT=${result})`, () =>
    runHook(ctx, 'post-deploy', script, result),
  );
  return hook.ok ? undefined : `post-deploy hook ${script} failed`;
}

/** Loads the project from running_stacks/<stack>, so the containers' working_dir points there. */
export async function loadRunning(ctx: StrategyContext): Promise<ComposeProject> {
  const dir = ctx.folders.runningDir(ctx.target.stack);
  return ctx.loadProject(dir, ctx.target.projectName);
}

/** Applies the project with berth's version label. */
export async function applyVersion(
  ctx: StrategyContext,
  project: ComposeProject,
  ref: VersionRef,
): Promise<void> {
  await ctx.engine.apply(project, {
    labels: versionLabels(ref.version),
    signal: ctx.signal,
  });
}

/** Waits for health and records the result in the health history. */
export async function waitAndRecord(
  ctx: StrategyContext,
  project: ComposeProject,
  ref: VersionRef,
): Promise<HealthReport> {
  const { settings } = ctx.target;
  const report = await ctx.engine.waitHealthy(project, {
    timeoutMs: settings.healthTimeoutMs,
    stabilityMs: settings.stabilityMs,
    signal: ctx.signal,
  });
  ctx.store.recordHealth({
    stack: ctx.target.stack,
    version: ref.version,
    commit: ref.commit,
    health: report.healthy ? 'healthy' : 'unhealthy',
    detail: report.detail,
  });
  return report;
}

export function isTransient(err: unknown): boolean {
  return err instanceof EngineError && err.transient;
}

/** Wraps anything thrown into a BerthError for results and records. */
export function asBerthError(err: unknown, reason = 'DeploymentFailed'): BerthError {
  if (err instanceof BerthError) return err;
  return new BerthError(reason, describeError(err), { cause: err });
}
