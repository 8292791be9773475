import { dependencyLevels } from '../compose/dependencies.js';
import type { ComposeProject } from '../compose/types.js';
import type { ContainerEngine, HealthReport } from '../engine/types.js';
import { BerthError, SettingsError, describeError } from '../errors.js';
import { computeRolloutPlan, type RolloutPlan, type ServiceRollout } from '../plan/rollout-plan.js';
import { carriedVersionsOf, shortVersion } from '../plan/stack-plan.js';
import { assertExclusiveVolumesDeclared } from '../stack/settings.js';
import { DEFAULT_CANARY, DEFAULT_DRAIN_MS, type DeploySettings } from '../stack/types.js';
import type { VersionRef } from '../state/types.js';
import { runSimple } from './simple.js';
import {
  asBerthError,
  isTransient,
  loadRunning,
  postDeploy,
  runHook,
  step,
  waitAndRecord,
} from './steps.js';
import type { DeploymentResult, Strategy, StrategyContext } from './types.js';
import { asideName, candidateName, containerName, versionLabels } from '../engine/naming.js';

export type RolloutMethod = 'blue-green' | 'canary';

/** A container this deployment started. */
interface Started {
  id: string;
  service: string;
  number: number;
  name: string;
  /** The name it has to end up with. */
  finalName: string;
  /** Joined the service's aliases. */
  serving: boolean;
}

/** An old container of a stop-first service: stopped and renamed aside, kept until the switch. */
interface Aside {
  id: string;
  service: string;
  name: string;
}

/** Why a rollout stopped: a batch was not healthy, a probe failed, or a step threw. */
class RolloutFailure extends Error {
  constructor(
    message: string,
    readonly report?: HealthReport,
    override readonly cause?: unknown,
  ) {
    super(message);
  }
}

/**
 * Blue-green and canary (seed 000): new containers start beside the old ones, hidden from the
 * service's name until healthy, then join it; old containers leave the aliases, drain, stop
 * with their stop signal and grace period, and go. Any failure removes what this deployment
 * started and leaves the old containers serving as they were; the version is marked bad.
 */
export async function runRollout(
  ctx: StrategyContext,
  method: RolloutMethod,
): Promise<DeploymentResult> {
  const { target, engine, store, folders, logger } = ctx;
  const ref: VersionRef = { version: target.version, commit: target.commit };
  const short = shortVersion(target.version);
  const settings = target.settings;
  const stack = target.stack;

  // Nothing runs that a request could reach: the simple path is the same thing, and shorter.
  if (!ctx.hadContainers) {
    store.appendLog(ctx.deploymentId, `${method}: no containers run yet; deploying directly`);
    return runSimple(ctx, { checkHealth: true });
  }

  const pre = settings.hooks.preDeploy;
  if (pre !== undefined) {
    const hook = await step(ctx, 'pre-deploy-hook', pre, () => runHook(ctx, 'pre-deploy', pre));
    if (!hook.ok) {
      const how = hook.timedOut ? 'timed out' : `exited with ${hook.exitCode ?? 'no code'}`;
      return {
        result: 'failed',
        state: 'FAILED',
        stackState: ctx.previousHealthy ? 'AVAILABLE' : 'BROKEN',
        reason: 'PreDeployHookFailed',
        message: `pre-deploy hook ${pre} ${how}; the previous version keeps running`,
        running: ctx.previous,
        health: 'unknown',
        markedBad: false,
        transient: false,
      };
    }
  }

  let good = await folders.readGoodVersion(stack);
  if (ctx.previousHealthy && ctx.previous !== undefined) {
    await step(
      ctx,
      'snapshot-good',
      `keep ${shortVersion(ctx.previous.version)} as the good version`,
      () => folders.snapshotGood(stack),
    );
    good = (await folders.readGoodVersion(stack)) ?? ctx.previous;
  }

  // The old files stay where the old containers mount them until those containers are gone.
  await step(ctx, 'put-running', `copy ${short} into running_stacks, keep the old copy`, () =>
    folders.putRunning(stack, target.dir, ref, { keepPrevious: true }),
  );

  const labels = versionLabels(ref.version);
  const started: Started[] = [];
  const asides: Aside[] = [];
  let plan: RolloutPlan | undefined;
  let project: ComposeProject | undefined;
  let failure: RolloutFailure | undefined;

  try {
    const loaded = await step(ctx, 'load', 'load the compose project from running_stacks', () =>
      loadRunning(ctx),
    );
    project = loaded;
    assertExclusiveVolumesDeclared(loaded, settings, stack);
    await step(ctx, 'prepare', 'images, networks and volumes', () =>
      engine.prepare(loaded, { signal: ctx.signal }),
    );
    const rollout = await planRollout(engine, loaded, settings, method, ref.version);
    plan = rollout;
    await step(ctx, 'plan', describePlan(rollout), () => {
      store.appendLog(
        ctx.deploymentId,
        rollout.entries.map((e) => `${e.action} ${e.subject}: ${e.reason}`).join('\n'),
      );
      for (const s of rollout.services) {
        if (s.mode === 'stop-first')
          logger.warn(
            { stack, service: s.service, why: s.reason },
            'service cannot run twice; rolled stop-first',
          );
      }
      return Promise.resolve();
    });

    const levels = [...new Set(rollout.services.map((s) => s.level))].sort((a, b) => a - b);
    for (const level of levels) {
      const here = rollout.services.filter((s) => s.level === level);
      const results = await Promise.allSettled(
        here.map((s) => rollService(ctx, loaded, s, method, labels, started, asides)),
      );
      const rejected = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (rejected !== undefined) throw rejected.reason;
    }
  } catch (err) {
    failure =
      err instanceof RolloutFailure
        ? err
        : new RolloutFailure(`deploy failed: ${describeError(err)}`, undefined, err);
  }

  if (failure === undefined && project !== undefined && plan !== undefined) {
    const done = project;
    const switched = plan;
    try {
      await step(ctx, 'switch', 'old containers leave the aliases, drain, stop and go', () =>
        retireOld(ctx, done, switched, started, asides),
      );
      await step(ctx, 'rename', 'new containers take their final names', async () => {
        for (const s of started)
          if (s.name !== s.finalName) await engine.renameContainer(s.id, s.finalName);
      });
      await step(ctx, 'apply', `converge the rest of ${short}`, () =>
        engine.apply(done, { labels, signal: ctx.signal }),
      );
      const report = await step(ctx, 'wait-healthy', 'the whole stack', () =>
        waitAndRecord(ctx, done, ref),
      );
      await folders.dropPrevious(stack);
      const now = await engine.observe(target.projectName);
      const carriedVersions = carriedVersionsOf(now, ref.version);
      const note = await postDeploy(ctx, report.healthy ? 'success' : 'failed');
      const message = `deployed ${short} with ${method}${report.healthy ? ', healthy' : `, but the stack is not healthy (${report.detail})`}`;
      return {
        result: report.healthy ? 'succeeded' : 'failed',
        state: report.healthy ? 'DONE' : 'FAILED',
        stackState: report.healthy ? 'AVAILABLE' : 'BROKEN',
        reason: report.healthy ? 'ReconciliationSucceeded' : 'HealthCheckFailed',
        message: note === undefined ? message : `${message}; ${note}`,
        running: ref,
        good,
        health: report.healthy ? 'healthy' : 'unhealthy',
        markedBad: false,
        transient: false,
        carriedVersions,
        report,
      };
    } catch (err) {
      // Past the switch the old containers are gone: the new version is what runs.
      logger.error({ stack, err }, 'finishing the rollout failed');
      return {
        result: 'failed',
        state: 'FAILED',
        stackState: 'BROKEN',
        reason: 'DeployFailed',
        message: `${short} took over, but finishing the rollout failed: ${describeError(err)}`,
        running: ref,
        good,
        health: 'unknown',
        markedBad: false,
        transient: isTransient(err),
        error: asBerthError(err),
      };
    }
  }

  const why = failure?.message ?? 'deploy failed';
  const transient = failure?.cause !== undefined && isTransient(failure.cause);
  logger.warn({ stack, version: target.version, why }, 'deployment failed');
  let markedBad = false;
  if (settings.markBad && !transient && !(failure?.cause instanceof SettingsError)) {
    await step(ctx, 'mark-bad', why, () => {
      store.markBad({ stack, version: target.version, commit: target.commit, reason: why });
      return Promise.resolve();
    });
    markedBad = true;
  }
  let restoreError: unknown;
  try {
    await step(ctx, 'roll-back', 'remove the new containers; the old ones keep serving', () =>
      rollBack(ctx, project, started, asides),
    );
  } catch (err) {
    restoreError = err;
    logger.error({ stack, err }, 'rolling back the rollout failed');
  }
  const note = await postDeploy(ctx, 'rolled-back');
  const previous =
    ctx.previous === undefined ? 'the old containers' : shortVersion(ctx.previous.version);
  const message = `version ${short} ${why}${markedBad ? ' (marked bad)' : ''}; ${
    restoreError === undefined
      ? `${previous} kept serving`
      : `restoring ${previous} failed: ${describeError(restoreError)}`
  }`;
  return {
    result: 'rolled-back',
    state: 'ROLLED_BACK',
    stackState: restoreError === undefined && ctx.previousHealthy ? 'AVAILABLE' : 'BROKEN',
    reason: failure?.report !== undefined ? 'HealthCheckFailed' : 'RolledBack',
    message: note === undefined ? message : `${message}; ${note}`,
    running: ctx.previous,
    good,
    health: ctx.previousHealthy && restoreError === undefined ? 'healthy' : 'unknown',
    markedBad,
    transient,
    ...(failure?.report === undefined ? {} : { report: failure.report }),
    ...(failure?.cause === undefined ? {} : { error: asBerthError(failure.cause) }),
  };
}

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

function describePlan(plan: RolloutPlan): string {
  const parts = plan.services.map(
    (s) =>
      `${s.service}: ${s.mode}${s.batches.length > 1 ? ` in ${s.batches.length} batches` : ''}`,
  );
  return parts.length === 0 ? 'nothing to roll' : parts.join(', ');
}

/** Rolls one service: stop-first, or batch by batch beside the old containers. */
async function rollService(
  ctx: StrategyContext,
  project: ComposeProject,
  s: ServiceRollout,
  method: RolloutMethod,
  labels: Record<string, string>,
  started: Started[],
  asides: Aside[],
): Promise<void> {
  const { engine, target } = ctx;
  const rolloutId = String(ctx.deploymentId);
  if (s.mode === 'stop-first') {
    const olds = s.replacements.flatMap((r) => (r.old === undefined ? [] : [r.old]));
    await step(
      ctx,
      'stop-first',
      `${s.service}: ${s.reason}; stop ${olds.length} old`,
      async () => {
        for (const old of olds) await engine.setServing(project, old.id, false);
        await engine.stopContainers(
          project.name,
          olds.map((o) => o.id),
        );
        for (const old of olds) {
          await engine.renameContainer(old.id, asideName(old.name, ctx.deploymentId));
          asides.push({ id: old.id, service: s.service, name: old.name });
        }
      },
    );
  }
  for (const [i, batch] of s.batches.entries()) {
    const label = `${s.service} batch ${i + 1}/${s.batches.length}`;
    const fresh = await step(ctx, 'start-new', `${label}: ${batch.length} container(s)`, () =>
      Promise.all(
        batch.map(async (r) => {
          const finalName = containerName(project.name, project.services[s.service]!, r.number);
          const stopFirst = s.mode === 'stop-first';
          const name = stopFirst ? finalName : candidateName(finalName, ctx.deploymentId);
          const container = await engine.startCandidate(project, {
            service: s.service,
            number: r.number,
            name,
            serving: stopFirst,
            labels,
            rolloutId,
          });
          const record: Started = {
            id: container.id,
            service: s.service,
            number: r.number,
            name,
            finalName,
            serving: stopFirst,
          };
          started.push(record);
          return record;
        }),
      ),
    );
    const report = await step(
      ctx,
      'wait-new',
      `${label}: wait up to ${target.settings.healthTimeoutMs}ms`,
      () =>
        engine.waitHealthy(project, {
          containerIds: fresh.map((f) => f.id),
          timeoutMs: target.settings.healthTimeoutMs,
          stabilityMs: target.settings.stabilityMs,
          signal: ctx.signal,
        }),
    );
    if (!report.healthy) {
      ctx.store.recordHealth({
        stack: target.stack,
        version: target.version,
        commit: target.commit,
        health: 'unhealthy',
        detail: report.detail,
      });
      throw new RolloutFailure(`health check failed (${report.detail})`, report);
    }
    if (s.mode === 'side-by-side') {
      await step(ctx, 'promote', `${label} joins the ${s.service} aliases`, async () => {
        for (const f of fresh) {
          await engine.setServing(project, f.id, true);
          f.serving = true;
        }
      });
    }
    if (method === 'canary') await observeWindow(ctx, label, fresh);
  }
}

/** Canary: the batch must stay up (and its probe answer 2xx) for the whole window. */
async function observeWindow(ctx: StrategyContext, label: string, fresh: Started[]): Promise<void> {
  const canary = ctx.target.settings.canary ?? DEFAULT_CANARY;
  const { engine, clock } = ctx;
  await step(ctx, 'window', `${label}: observe for ${canary.windowMs}ms`, async () => {
    const baseline = new Map<string, number>();
    const end = clock.now() + canary.windowMs;
    for (;;) {
      const seen = await engine.inspectContainers(fresh.map((f) => f.id));
      for (const f of fresh) {
        const c = seen.find((x) => x.id === f.id);
        if (c === undefined) throw new RolloutFailure(`canary ${label}: ${f.finalName} vanished`);
        if (c.state !== 'running' || c.health === 'unhealthy')
          throw new RolloutFailure(
            `canary ${label}: ${f.finalName} is ${c.state === 'running' ? 'unhealthy' : c.state} during the window`,
          );
        const restarts = c.restartCount ?? 0;
        const before = baseline.get(f.id) ?? restarts;
        baseline.set(f.id, before);
        if (restarts > before)
          throw new RolloutFailure(`canary ${label}: ${f.finalName} restarted during the window`);
      }
      if (canary.probe !== undefined) {
        const url = canary.probe;
        const results = await Promise.all(fresh.map((f) => engine.probe(f.id, url, 5_000)));
        const failed = results.find((r) => !r.ok);
        if (failed !== undefined)
          throw new RolloutFailure(`canary ${label}: probe failed: ${failed.detail}`);
      }
      const left = end - clock.now();
      if (left <= 0) return;
      await clock.sleep(Math.min(1_000, left), ctx.signal);
    }
  });
}

/** After every batch passed: the old containers leave the aliases, drain, stop and go. */
async function retireOld(
  ctx: StrategyContext,
  project: ComposeProject,
  plan: RolloutPlan,
  started: Started[],
  asides: Aside[],
): Promise<void> {
  const { engine } = ctx;
  const replaced = plan.services
    .filter((s) => s.mode === 'side-by-side')
    .flatMap((s) => s.replacements.flatMap((r) => (r.old === undefined ? [] : [r.old.id])));
  const old = [...replaced, ...plan.removals.map((r) => r.containerId)];
  // Every new container serves before any old one leaves.
  for (const s of started) if (!s.serving) await engine.setServing(project, s.id, true);
  await retireContainers(ctx, project, old, drainOf(ctx));
  if (asides.length > 0)
    await engine.removeContainers(
      project.name,
      asides.map((a) => a.id),
    );
}

function drainOf(ctx: StrategyContext): number {
  return ctx.target.settings.drainMs ?? DEFAULT_DRAIN_MS;
}

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

/** Undoes a rollout that did not pass: new containers go, old ones serve as before. */
async function rollBack(
  ctx: StrategyContext,
  project: ComposeProject | undefined,
  started: Started[],
  asides: Aside[],
): Promise<void> {
  const { engine, folders, target } = ctx;
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

export const blueGreenStrategy: Strategy = {
  method: 'blue-green',
  run: (ctx) => runRollout(ctx, 'blue-green'),
};

export const canaryStrategy: Strategy = {
  method: 'canary',
  run: (ctx) => runRollout(ctx, 'canary'),
};
