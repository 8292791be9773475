import { describeError } from '../../errors.js';
import type { HookPhase, HookResult } from '../../hooks/types.js';
import type { StrategyContext } from '../types.js';
import { step } from './step.js';

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

/** Runs the pre-deploy hook, if any; says how it failed, or undefined when nothing failed. */
export async function preDeploy(ctx: StrategyContext): Promise<string | undefined> {
  const script = ctx.target.settings.hooks.preDeploy;
  if (script === undefined) return undefined;
  const hook = await step(ctx, 'pre-deploy-hook', script, () => runHook(ctx, 'pre-deploy', script));
  if (hook.ok) return undefined;
  const how = hook.timedOut ? 'timed out' : `exited with ${hook.exitCode ?? 'no code'}`;
  return `pre-deploy hook ${script} ${how}`;
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
