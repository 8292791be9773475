import type { ComposeProject } from '../../compose/types.js';
import { asideName, candidateName, containerName } from '../../engine/naming.js';
import { walkServices } from '../../engine/walk.js';
import { step } from '../shared/step.js';
import { recordHealth, targetRef } from '../shared/version.js';
import type { StrategyContext } from '../types.js';
import { rollGraph, type Replacement, type RolloutPlan, type ServiceRollout } from './plan.js';
import { RolloutFailure, type RolloutOptions, type RolloutState, type Started } from './types.js';

/**
 * Rolls every service of the plan, each as soon as the rolls of the services it depends on
 * have finished: independent services roll side by side, whatever their dependency level.
 * After a failure nothing new starts, the rolls under way finish, and the first failure is
 * thrown.
 */
export async function rollServices(
  ctx: StrategyContext,
  project: ComposeProject,
  plan: RolloutPlan,
  options: RolloutOptions,
  labels: Record<string, string>,
  state: RolloutState,
): Promise<void> {
  const byName = new Map(plan.services.map((s) => [s.service, s]));
  await walkServices(rollGraph(plan), (name) =>
    rollService(ctx, project, byName.get(name)!, options, labels, state),
  );
}

/** Rolls one service: stop-first, or batch by batch beside the old containers. */
export async function rollService(
  ctx: StrategyContext,
  project: ComposeProject,
  s: ServiceRollout,
  options: RolloutOptions,
  labels: Record<string, string>,
  state: RolloutState,
): Promise<void> {
  if (s.mode === 'stop-first') await setAside(ctx, project, s, state);
  for (const [i, batch] of s.batches.entries()) {
    const label = `${s.service} batch ${i + 1}/${s.batches.length}`;
    const fresh = await step(ctx, 'start-new', `${label}: ${batch.length} container(s)`, () =>
      Promise.all(batch.map((r) => startOne(ctx, project, s, r, labels, state))),
    );
    await gateBatch(ctx, project, label, fresh);
    if (s.mode === 'side-by-side') {
      await step(ctx, 'promote', `${label} joins the ${s.service} aliases`, async () => {
        for (const f of fresh) {
          await ctx.engine.setServing(project, f.id, true);
          f.serving = true;
        }
      });
    }
    await options.afterBatch?.(ctx, label, fresh);
  }
}

/** Stop-first: the old containers leave the aliases, stop, and are renamed aside. */
async function setAside(
  ctx: StrategyContext,
  project: ComposeProject,
  s: ServiceRollout,
  state: RolloutState,
): Promise<void> {
  const { engine } = ctx;
  const olds = s.replacements.flatMap((r) => (r.old === undefined ? [] : [r.old]));
  await step(ctx, 'stop-first', `${s.service}: ${s.reason}; stop ${olds.length} old`, async () => {
    for (const old of olds) await engine.setServing(project, old.id, false);
    await engine.stopContainers(
      project.name,
      olds.map((o) => o.id),
    );
    for (const old of olds) {
      await engine.renameContainer(old.id, asideName(old.name, ctx.deploymentId));
      state.asides.push({ id: old.id, service: s.service, name: old.name });
    }
  });
}

/** Starts one new container: hidden under a candidate name, or in place when stop-first. */
async function startOne(
  ctx: StrategyContext,
  project: ComposeProject,
  s: ServiceRollout,
  r: Replacement,
  labels: Record<string, string>,
  state: RolloutState,
): Promise<Started> {
  const finalName = containerName(project.name, project.services[s.service]!, r.number);
  const stopFirst = s.mode === 'stop-first';
  const name = stopFirst ? finalName : candidateName(finalName, ctx.deploymentId);
  const container = await ctx.engine.startCandidate(project, {
    service: s.service,
    number: r.number,
    name,
    serving: stopFirst,
    labels,
    rolloutId: String(ctx.deploymentId),
  });
  const record: Started = {
    id: container.id,
    service: s.service,
    number: r.number,
    name,
    finalName,
    serving: stopFirst,
  };
  state.started.push(record);
  return record;
}

/** The batch's own health gate; an unhealthy batch stops the rollout. */
async function gateBatch(
  ctx: StrategyContext,
  project: ComposeProject,
  label: string,
  fresh: Started[],
): Promise<void> {
  const { settings } = ctx.target;
  const report = await step(
    ctx,
    'wait-new',
    `${label}: wait up to ${settings.healthTimeoutMs}ms`,
    () =>
      ctx.engine.waitHealthy(project, {
        containerIds: fresh.map((f) => f.id),
        timeoutMs: settings.healthTimeoutMs,
        stabilityMs: settings.stabilityMs,
        signal: ctx.signal,
      }),
  );
  if (report.healthy) return;
  recordHealth(ctx, targetRef(ctx), report);
  throw new RolloutFailure(`health check failed (${report.detail})`, report);
}
