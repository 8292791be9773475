import type { ComposeProject } from '../../compose/types.js';
import { BerthError } from '../../errors.js';
import { DEFAULT_DRAIN_MS } from '../../stack/types.js';
import { loadRunning } from '../shared/version.js';
import type { StrategyContext } from '../types.js';
import type { RolloutPlan } from './plan.js';
import type { RolloutState } from './types.js';

/**
 * Takes containers out of their service's aliases, lets the requests already sent to them
 * finish for `drainMs`, then stops them (stop signal, grace period) and removes them. One at a
 * time: each reconnect takes its own address back before the next frees one. `bestEffort`
 * (crash recovery) goes on when a container cannot be moved out of the aliases.
 */
export async function retireContainers(
  deps: Pick<StrategyContext, 'engine' | 'clock' | 'signal'>,
  project: ComposeProject,
  containerIds: string[],
  drainMs: number,
  options: { bestEffort?: boolean } = {},
): Promise<void> {
  if (containerIds.length === 0) return;
  for (const id of containerIds) {
    const leaving = deps.engine.setServing(project, id, false);
    await (options.bestEffort === true ? leaving.catch(() => undefined) : leaving);
  }
  await deps.clock.sleep(drainMs, deps.signal);
  await deps.engine.removeContainers(project.name, containerIds);
}

function drainOf(ctx: StrategyContext): number {
  return ctx.target.settings.drainMs ?? DEFAULT_DRAIN_MS;
}

/** After every batch passed: the old containers leave the aliases, drain, stop and go. */
export async function retireOld(
  ctx: StrategyContext,
  project: ComposeProject,
  plan: RolloutPlan,
  state: RolloutState,
): Promise<void> {
  const { engine } = ctx;
  const replaced = plan.services
    .filter((s) => s.mode === 'side-by-side')
    .flatMap((s) => s.replacements.flatMap((r) => (r.old === undefined ? [] : [r.old.id])));
  const old = [...replaced, ...plan.removals.map((r) => r.containerId)];
  // Every new container serves before any old one leaves.
  for (const s of state.started) if (!s.serving) await engine.setServing(project, s.id, true);
  await retireContainers(ctx, project, old, drainOf(ctx));
  if (state.asides.length > 0)
    await engine.removeContainers(
      project.name,
      state.asides.map((a) => a.id),
    );
}

/** Undoes a rollout that did not reach its switch: new containers go, old ones serve as before. */
export async function undoRollout(ctx: StrategyContext, state: RolloutState): Promise<void> {
  const { engine, folders, target } = ctx;
  const { project, started, asides } = state;
  if (project !== undefined) {
    await retireContainers(
      ctx,
      project,
      started.filter((s) => s.serving).map((s) => s.id),
      drainOf(ctx),
    );
    await engine.removeContainers(
      project.name,
      started.filter((s) => !s.serving).map((s) => s.id),
    );
  }
  if (!(await folders.restorePrevious(target.stack))) {
    throw new BerthError(
      'PreviousMissing',
      `running_stacks/.${target.stack}.previous is missing; the old files could not be put back`,
      { place: { stack: target.stack } },
    );
  }
  if (asides.length === 0) return;
  for (const a of asides) await engine.renameContainer(a.id, a.name);
  await engine.start(target.projectName, { containerIds: asides.map((a) => a.id) });
  // The old version's own networks and aliases, from its files now back in running_stacks.
  const previous = await loadRunning(ctx);
  for (const a of asides) await engine.setServing(previous, a.id, true);
}
