import type { ComposeProject } from '../../compose/types.js';
import { versionLabels } from '../../engine/naming.js';
import type { HealthReport } from '../../engine/types.js';
import type { VersionRef } from '../../state/types.js';
import type { StrategyContext } from '../types.js';

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

/** Waits for the whole project's health and records the result in the health history. */
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
  recordHealth(ctx, ref, report);
  return report;
}

/** Adds a health gate's verdict on a version to the health history. */
export function recordHealth(ctx: StrategyContext, ref: VersionRef, report: HealthReport): void {
  ctx.store.recordHealth({
    stack: ctx.target.stack,
    version: ref.version,
    commit: ref.commit,
    health: report.healthy ? 'healthy' : 'unhealthy',
    detail: report.detail,
  });
}

/** The version the context deploys. */
export function targetRef(ctx: StrategyContext): VersionRef {
  return { version: ctx.target.version, commit: ctx.target.commit };
}
