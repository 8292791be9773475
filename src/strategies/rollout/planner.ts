import { dependencyLevels } from '../../compose/dependencies.js';
import type { ComposeProject } from '../../compose/types.js';
import { versionLabels } from '../../engine/naming.js';
import type { ContainerEngine } from '../../engine/types.js';
import type { PlanEntry } from '../../plan-entry.js';
import { assertExclusiveVolumesDeclared } from '../../stack/settings.js';
import { DEFAULT_CANARY, type DeploySettings } from '../../stack/types.js';
import type { PlanContext } from '../types.js';
import { computeRolloutPlan, type RolloutMethod, type RolloutPlan } from './plan.js';

/**
 * What blue-green or canary would do with the project: the engine's read-only container plan
 * for the version, per service. Shared by the strategy and `--dry-run`.
 */
export async function planRollout(
  engine: ContainerEngine,
  project: ComposeProject,
  settings: DeploySettings,
  method: RolloutMethod,
  version: string,
): Promise<RolloutPlan> {
  const items = await engine.plan(project, { labels: versionLabels(version) });
  return computeRolloutPlan({
    project,
    items,
    levels: dependencyLevels(project),
    method,
    batch: (settings.canary ?? DEFAULT_CANARY).batch,
    exclusiveVolumes: settings.exclusiveVolumes ?? [],
  });
}

/**
 * `--dry-run`'s per-service lines: the checks the rollout makes before it starts, then its
 * plan. Meant for a stack with containers: without any, the rollout deploys as `simple`.
 */
export async function planEntries(ctx: PlanContext, method: RolloutMethod): Promise<PlanEntry[]> {
  assertExclusiveVolumesDeclared(ctx.project, ctx.settings, ctx.project.name);
  const plan = await planRollout(ctx.engine, ctx.project, ctx.settings, method, ctx.version);
  return plan.entries;
}

/** One line for the journal: how each service is rolled, and after which rolls. */
export function describePlan(plan: RolloutPlan): string {
  const parts = plan.services.map(
    (s) =>
      `${s.service}: ${s.mode}${s.batches.length > 1 ? ` in ${s.batches.length} batches` : ''}` +
      (s.after.length > 0 ? ` after ${s.after.join(', ')}` : ''),
  );
  return parts.length === 0 ? 'nothing to roll' : parts.join(', ');
}
