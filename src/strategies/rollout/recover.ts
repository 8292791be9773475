import type { ComposeProject } from '../../compose/types.js';
import { asideName, finalNameOf, versionLabels } from '../../engine/naming.js';
import { LABEL, type ObservedContainer } from '../../engine/types.js';
import { carriedVersionsOf, shortVersion } from '../../plan/stack-plan.js';
import { DEFAULT_DRAIN_MS } from '../../stack/types.js';
import type { VersionRef } from '../../state/types.js';
import type { InterruptedDeployment, RecoveryContext, RecoveryOutcome } from '../types.js';
import { retireContainers } from './retire.js';

/** What Docker shows of an interrupted blue-green or canary rollout. */
export interface RolloutTraces {
  /** Containers the deployment started (its rollout label). */
  candidates: ObservedContainer[];
  /** Old containers of stop-first services, stopped and renamed aside. */
  asides: ObservedContainer[];
  /** Every other container of the project. */
  others: ObservedContainer[];
}

export function rolloutTraces(
  containers: ObservedContainer[],
  deploymentId: number,
): RolloutTraces {
  const id = String(deploymentId);
  const candidates = containers.filter((c) => c.labels[LABEL.rollout] === id);
  const asides = containers.filter(
    (c) => c.labels[LABEL.rollout] !== id && c.name.endsWith(asideName('', deploymentId)),
  );
  const others = containers.filter((c) => !candidates.includes(c) && !asides.includes(c));
  return { candidates, asides, others };
}

/** Steps journaled only once a deployment had given up on its version. */
const GIVING_UP = ['mark-bad', 'roll-back', 'remove-new'];

/**
 * Roll forward when the deployment reached its switch (every batch had passed) and the new
 * containers still run or no old one is left, or when no old container is left and the new
 * ones run; never once the deployment had begun giving up on its version. Pure.
 */
export function decideRolloutRecovery(input: {
  steps: string[];
  traces: RolloutTraces;
}): 'forward' | 'back' {
  const { candidates, asides, others } = input.traces;
  if (input.steps.some((s) => GIVING_UP.includes(s))) return 'back';
  const rolled = new Set(candidates.map((c) => c.service));
  const oldLeft = asides.length + others.filter((c) => rolled.has(c.service)).length;
  const newUp =
    candidates.length > 0 &&
    candidates.every((c) => c.state === 'running' && c.health !== 'unhealthy');
  if (input.steps.includes('switch') && (newUp || oldLeft === 0)) return 'forward';
  // The old containers vanished before the switch (removed by hand): keep the new ones only
  // if they run; otherwise going back redeploys the old version from its files.
  if (oldLeft === 0 && newUp) return 'forward';
  return 'back';
}

/**
 * The traces a blue-green or canary deployment left, when it left any (containers, or the old
 * files kept aside): then `recoverRollout` resolves it; otherwise plain recovery does.
 */
export async function findRolloutTraces(
  ctx: RecoveryContext,
  { stack, deployment, containers }: InterruptedDeployment,
): Promise<RolloutTraces | undefined> {
  const traces = rolloutTraces(containers, deployment.id);
  if (traces.candidates.length > 0 || traces.asides.length > 0) return traces;
  return (await ctx.folders.readPreviousVersion(stack)) === undefined ? undefined : traces;
}

/**
 * Finishes or undoes a blue-green or canary rollout that a crash interrupted, so that exactly
 * one version serves: forward removes the old containers and gives the new ones their names;
 * back removes the new ones and puts stop-first services' old containers back. Undefined when
 * the rollout left no traces.
 */
export async function recoverRollout(
  ctx: RecoveryContext,
  interrupted: InterruptedDeployment,
): Promise<RecoveryOutcome | undefined> {
  const traces = await findRolloutTraces(ctx, interrupted);
  if (traces === undefined) return undefined;
  const steps = ctx.store.getJournal(interrupted.deployment.id).map((j) => j.step);
  return decideRolloutRecovery({ steps, traces }) === 'forward'
    ? rollForward(ctx, interrupted, traces)
    : rollBack(ctx, interrupted, traces);
}

async function rollForward(
  ctx: RecoveryContext,
  { stack, deployment }: InterruptedDeployment,
  traces: RolloutTraces,
): Promise<RecoveryOutcome> {
  const { engine, store, folders } = ctx;
  const short = shortVersion(deployment.version);
  await ctx.journal('recover-forward', `${short} had taken over; finish its rollout`);
  const project = await ctx.loadProject(folders.runningDir(stack), stack);
  const rolled = new Set(traces.candidates.map((c) => c.service));
  for (const c of traces.candidates) await engine.setServing(project, c.id, true);
  const old = traces.others.filter(
    (c) => rolled.has(c.service) || project.services[c.service] === undefined,
  );
  await retireContainers(
    ctx,
    project,
    old.map((c) => c.id),
    DEFAULT_DRAIN_MS,
    { bestEffort: true },
  );
  await engine.removeContainers(
    stack,
    traces.asides.map((c) => c.id),
  );
  for (const c of traces.candidates) {
    const name = finalNameOf(c.name, deployment.id);
    if (name !== c.name) await engine.renameContainer(c.id, name);
  }
  const ref = { version: deployment.version, commit: deployment.commit };
  const outcome = await settle(ctx, stack, project, ref, [`finished the rollout of ${short}`]);
  store.upsertStack(stack, { lastAppliedVersion: deployment.version });
  return { ...outcome, action: 'kept-new' };
}

async function rollBack(
  ctx: RecoveryContext,
  { stack, deployment }: InterruptedDeployment,
  traces: RolloutTraces,
): Promise<RecoveryOutcome> {
  const { engine, folders } = ctx;
  const short = shortVersion(deployment.version);
  await ctx.journal('recover-back', `undo the rollout of ${short}; the old version serves`);
  await removeCandidates(ctx, stack, traces);
  if (!(await folders.restorePrevious(stack))) {
    const running = await folders.readRunningVersion(stack);
    if (running?.version === deployment.version && (await folders.readGoodVersion(stack)))
      await folders.restoreGood(stack);
  }
  const ref = await folders.readRunningVersion(stack);
  const previous = await ctx.loadProject(folders.runningDir(stack), stack);
  for (const c of traces.asides) {
    await engine.renameContainer(c.id, finalNameOf(c.name, deployment.id));
  }
  if (traces.asides.length > 0)
    await engine.start(stack, { containerIds: traces.asides.map((c) => c.id) });
  for (const c of [...traces.others, ...traces.asides]) {
    if (previous.services[c.service] !== undefined) await engine.setServing(previous, c.id, true);
  }
  return settle(ctx, stack, previous, ref, [
    `removed the ${traces.candidates.length} new container(s) of ${short}`,
  ]);
}

async function removeCandidates(
  ctx: RecoveryContext,
  stack: string,
  traces: RolloutTraces,
): Promise<void> {
  if (traces.candidates.length === 0) return;
  let project: ComposeProject | undefined;
  try {
    project = await ctx.loadProject(ctx.folders.runningDir(stack), stack);
  } catch {
    // The new files do not load: the containers still go, just without leaving the aliases first.
  }
  const ids = traces.candidates.map((c) => c.id);
  if (project === undefined) await ctx.engine.removeContainers(stack, ids);
  else await retireContainers(ctx, project, ids, DEFAULT_DRAIN_MS, { bestEffort: true });
}

/** Converges what is left, waits for health and records the stack. */
async function settle(
  ctx: RecoveryContext,
  stack: string,
  project: ComposeProject,
  ref: VersionRef | undefined,
  done: string[],
): Promise<RecoveryOutcome> {
  const { engine, store, folders } = ctx;
  if (ref !== undefined) {
    await engine.apply(project, {
      labels: versionLabels(ref.version),
      signal: ctx.signal,
    });
  }
  const report = await engine.waitHealthy(project, {
    timeoutMs: ctx.defaults.healthTimeoutMs,
    stabilityMs: ctx.defaults.stabilityMs,
    signal: ctx.signal,
  });
  await folders.dropPrevious(stack);
  const now = await engine.observe(stack);
  const carriedVersions = carriedVersionsOf(now, ref?.version);
  if (ref !== undefined) {
    store.recordHealth({
      stack,
      version: ref.version,
      commit: ref.commit,
      health: report.healthy ? 'healthy' : 'unhealthy',
      detail: report.detail,
    });
  }
  store.upsertStack(stack, {
    state: report.healthy ? 'AVAILABLE' : 'BROKEN',
    running: ref,
    good: (await folders.readGoodVersion(stack)) ?? store.getStack(stack)?.good,
    health: report.healthy ? 'healthy' : 'unhealthy',
    carriedVersions,
  });
  done.push(report.healthy ? 'healthy' : `not healthy (${report.detail})`);
  return {
    action: 'restored',
    ...(ref === undefined ? {} : { running: ref }),
    healthy: report.healthy,
    message: done.join('; '),
  };
}
