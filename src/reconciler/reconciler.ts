import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadProject } from '../compose/load.js';
import type { ComposeProject } from '../compose/types.js';
import type { ObservedProject } from '../engine/types.js';
import { BerthError, EngineError, SourceError, describeError } from '../errors.js';
import { computePlan, shortVersion, type StackPlan } from '../plan/stack-plan.js';
import type { SourceRevision } from '../source/types.js';
import { discoverStacks } from '../stack/discover.js';
import { assertExclusiveVolumesDeclared } from '../stack/settings.js';
import type { DeploySettings, DiscoveredStack, Discovery } from '../stack/types.js';
import type { Condition, StackRecord, VersionRef } from '../state/types.js';
import { getStrategy } from '../strategies/index.js';
import { planRollout } from '../strategies/rollout.js';
import type { DeploymentResult, StrategyTarget } from '../strategies/types.js';
import { createKeyedLock, mapLimit } from './limit.js';
import { recoverInterrupted as recoverUnfinished } from './recovery.js';
import type {
  PassResult,
  PlannedPass,
  ReconcileOptions,
  ReconcileStackOptions,
  Reconciler,
  ReconcilerDeps,
  StackOutcome,
  StackResult,
} from './types.js';

/** Stacks deployed at once: Docker does the waiting, but two cores do the hashing and copying. */
const PARALLEL_STACKS = 2;

type ConditionInput = Omit<Condition, 'lastTransitionTime'>;

/** Where a deployment's files come from and what it is about. */
interface DeployRequest {
  target: StrategyTarget;
  trigger: string;
  observed: ObservedProject | undefined;
  previous: VersionRef | undefined;
  previousHealth: StackRecord['health'];
  signal?: AbortSignal;
  onProgress?: ReconcileOptions['onProgress'];
  /** A deployment record the daemon created when it queued the job (QUEUED, TRIGGERED). */
  deploymentId?: number;
}

/** Formats a load error so the message names the file and the field. */
function describeLoadError(err: unknown): string {
  const text = describeError(err);
  if (!(err instanceof BerthError)) return text;
  const { file, service, field } = err.place;
  const where = [
    file !== undefined && !text.includes(file) ? `file ${file}` : undefined,
    service !== undefined && !text.includes(service) ? `service ${service}` : undefined,
    field !== undefined && !text.includes(field) ? `field ${field}` : undefined,
  ].filter((part) => part !== undefined);
  return where.length === 0 ? text : `${text} (${where.join(', ')})`;
}

/** Docker hiccups and unreachable remotes pass; the next pass tries again. */
function isTransient(err: unknown): boolean {
  return (err instanceof EngineError || err instanceof SourceError) && err.transient;
}

function asBerthError(err: unknown, reason: string): BerthError {
  return err instanceof BerthError
    ? err
    : new BerthError(reason, describeError(err), { cause: err });
}

/** Healthy before the deployment: every service has a running container and none is failing. */
function wasHealthy(observed: ObservedProject | undefined, health: StackRecord['health']): boolean {
  if (observed === undefined || health === 'unhealthy') return false;
  const services = Object.values(observed.services);
  if (services.length === 0) return false;
  return services.every(
    (service) =>
      service.containers.length > 0 &&
      service.containers.every(
        (c) =>
          (c.state === 'running' && c.health !== 'unhealthy' && c.health !== 'starting') ||
          (c.state === 'exited' && c.exitCode === 0),
      ),
  );
}

function hasContainers(observed: ObservedProject | undefined): boolean {
  return Object.values(observed?.services ?? {}).some((s) => s.containers.length > 0);
}

/** Stacks asked for by name that the repository does not hold. */
function unknownStacks(plan: StackPlan[], only: string[] | undefined): StackOutcome[] {
  const planned = new Set(plan.map((entry) => entry.stack));
  return (only ?? [])
    .filter((name) => !planned.has(name))
    .map((name) => ({
      stack: name,
      outcome: 'terminal' as const,
      result: 'failed' as const,
      message: `no stack named ${name} in the repository or the state`,
    }));
}

/** A pass is ok when the source answered and no stack failed, was rolled back or is invalid. */
function passOk(stacks: StackOutcome[], sourceError: BerthError | undefined): boolean {
  return (
    sourceError === undefined &&
    stacks.every(
      (s) => s.result !== 'failed' && s.result !== 'rolled-back' && s.result !== 'invalid',
    )
  );
}

const SKIP_RESULT: Record<NonNullable<StackPlan['skip']>, StackResult> = {
  suspended: 'suspended',
  disabled: 'disabled',
  invalid: 'invalid',
  bad: 'skipped-bad',
  kept: 'kept',
};

/** Builds the reconciler: the one place that turns a plan into deployments and records. */
export function createReconciler(deps: ReconcilerDeps): Reconciler {
  const { source, engine, store, folders, hooks, clock, logger } = deps;
  const withStackLock = createKeyedLock();
  const withPassLock = createKeyedLock();
  let recovered = false;

  async function load(dir: string, projectName: string): Promise<ComposeProject> {
    const result = await loadProject(dir, { projectName });
    for (const warning of result.warnings) {
      logger.warn({ stack: projectName, warning }, 'compose warning');
    }
    return result.project;
  }

  /** Loads without logging warnings: for checks that run on every pass. */
  async function loadQuietly(dir: string, projectName: string): Promise<ComposeProject> {
    return (await loadProject(dir, { projectName })).project;
  }

  function now(): string {
    return new Date(clock.now()).toISOString();
  }

  function setConditions(stack: string, conditions: ConditionInput[]): void {
    for (const condition of conditions) store.setCondition(stack, condition);
  }

  /** Resolves deployments a crash left unfinished (seed 000), once, before the first pass. */
  async function recoverInterrupted(): Promise<void> {
    if (recovered) return;
    recovered = true;
    await recoverUnfinished({
      engine,
      store,
      folders,
      clock,
      logger,
      loadProject: load,
      defaults: deps.settings.defaults,
    });
  }

  async function syncSource(
    signal: AbortSignal | undefined,
  ): Promise<{ revision: SourceRevision; sourceError?: BerthError }> {
    try {
      return { revision: await source.sync(signal) };
    } catch (err) {
      if (!(err instanceof SourceError)) throw err;
      const revision = await source.current();
      if (revision === undefined) throw err;
      logger.warn(
        { err, commit: revision.commit },
        'source sync failed; continuing with the last fetched revision',
      );
      return { revision, sourceError: err };
    }
  }

  async function discover(revision: SourceRevision): Promise<Discovery> {
    return discoverStacks(revision.dir, deps.settings.paths, deps.settings.defaults);
  }

  /**
   * Service names of the running version, so a vanished service counts as drift.
   * A version is a hash of the stack's files, so its service list never changes: remember it
   * instead of loading every unchanged stack's compose file on every pass.
   */
  const servicesByVersion = new Map<string, string[]>();
  async function expectedServicesOf(
    discovery: Discovery,
    runningVersions: Map<string, VersionRef | undefined>,
  ): Promise<Map<string, string[]>> {
    const expected = new Map<string, string[]>();
    await Promise.all(
      discovery.stacks.map(async (stack) => {
        if (runningVersions.get(stack.name)?.version !== stack.version) return;
        const key = `${stack.name}@${stack.version}`;
        let services = servicesByVersion.get(key);
        if (services === undefined) {
          try {
            const project = await loadQuietly(folders.runningDir(stack.name), stack.name);
            services = Object.keys(project.services);
            servicesByVersion.set(key, services);
          } catch {
            // The running copy no longer loads; the plan still sees missing containers.
            return;
          }
        }
        expected.set(stack.name, services);
      }),
    );
    return expected;
  }

  async function deploy(request: DeployRequest): Promise<StackOutcome> {
    const { target, trigger } = request;
    const stack = target.stack;
    const progress = (step: string, detail?: string): void =>
      request.onProgress?.({ stack, step, detail });

    let strategy;
    try {
      strategy = getStrategy(target.settings.method);
    } catch (err) {
      return recordInvalid(stack, target.version, asBerthError(err, 'ValidationFailed'));
    }

    const existing = store.getStack(stack);
    store.upsertStack(stack, {
      state: request.previous === undefined ? 'CREATING' : 'MIGRATING',
      lastAttemptedVersion: target.version,
    });
    setConditions(stack, [
      {
        type: 'Reconciling',
        status: 'True',
        reason: 'Progressing',
        message: `deploying ${shortVersion(target.version)}`,
      },
    ]);
    const fields = {
      version: target.version,
      commit: target.commit,
      previousVersion: request.previous?.version,
      method: strategy.method,
      trigger,
      state: 'RUNNING' as const,
    };
    let deployment: { id: number };
    if (request.deploymentId === undefined) {
      deployment = store.startDeployment({ stack, ...fields });
    } else {
      store.updateDeployment(request.deploymentId, fields);
      deployment = { id: request.deploymentId };
    }
    logger.info(
      { stack, version: target.version, previous: request.previous?.version, trigger },
      'deploying stack',
    );
    progress('deploy', target.version);

    let result: DeploymentResult | undefined;
    let thrown: BerthError | undefined;
    try {
      result = await strategy.run({
        target,
        deploymentId: deployment.id,
        previous: request.previous,
        hadContainers: hasContainers(request.observed),
        previousHealthy:
          request.previous !== undefined && wasHealthy(request.observed, request.previousHealth),
        engine,
        store,
        folders,
        hooks,
        clock,
        logger,
        loadProject: load,
        signal: request.signal,
        onStep: progress,
      });
    } catch (err) {
      thrown = asBerthError(err, 'DeploymentFailed');
      logger.error({ stack, err }, 'deployment failed');
    } finally {
      // Status is written whatever happened, so a failed step never leaves RUNNING behind.
      recordDeployment(stack, deployment.id, target, existing, result, thrown);
    }

    if (result === undefined) {
      return {
        stack,
        outcome: isTransient(thrown) ? 'retry-later' : 'terminal',
        result: 'failed',
        message: thrown?.message ?? 'deployment failed',
        version: target.version,
        deploymentId: deployment.id,
        error: thrown,
      };
    }
    const outcome =
      result.result === 'succeeded' ? 'done' : result.transient ? 'retry-later' : 'terminal';
    const level = result.result === 'succeeded' ? 'info' : 'warn';
    logger[level](
      { stack, version: target.version, result: result.result, message: result.message },
      'deployment finished',
    );
    return {
      stack,
      outcome,
      result: result.result === 'succeeded' ? 'deployed' : result.result,
      message: result.message,
      version: target.version,
      deploymentId: deployment.id,
      error: result.error,
    };
  }

  function recordDeployment(
    stack: string,
    deploymentId: number,
    target: StrategyTarget,
    existing: StackRecord | undefined,
    result: DeploymentResult | undefined,
    thrown: BerthError | undefined,
  ): void {
    try {
      const finishedAt = now();
      if (result === undefined) {
        const message = thrown?.message ?? 'deployment failed';
        store.updateDeployment(deploymentId, {
          state: 'FAILED',
          result: 'failed',
          finishedAt,
          message,
        });
        store.upsertStack(stack, { state: 'BROKEN', health: 'unknown' });
        setConditions(stack, [
          { type: 'Ready', status: 'False', reason: thrown?.reason ?? 'DeploymentFailed', message },
          { type: 'Reconciling', status: 'False', reason: 'DeploymentFailed', message },
          { type: 'Stalled', status: 'False', reason: 'DeploymentFailed', message },
        ]);
        return;
      }
      store.updateDeployment(deploymentId, {
        state: result.state,
        result: result.result,
        finishedAt,
        message: result.message,
      });
      store.upsertStack(stack, {
        state: result.stackState,
        running: result.running,
        good: result.good ?? existing?.good,
        health: result.health,
        ...(result.result === 'succeeded'
          ? { lastAppliedVersion: target.version, carriedVersions: result.carriedVersions ?? [] }
          : {}),
      });
      const stalled = result.result !== 'succeeded' && !result.transient;
      setConditions(stack, [
        {
          type: 'Ready',
          status: result.result === 'succeeded' ? 'True' : 'False',
          reason: result.reason,
          message: result.message,
        },
        {
          type: 'Reconciling',
          status: 'False',
          reason: result.result === 'succeeded' ? 'ReconciliationSucceeded' : result.reason,
          message: result.message,
        },
        {
          type: 'Stalled',
          status: stalled ? 'True' : 'False',
          reason: stalled ? (result.markedBad ? 'VersionMarkedBad' : result.reason) : 'Progressing',
          message: result.message,
        },
      ]);
    } catch (err) {
      logger.error({ stack, err }, 'recording the deployment failed');
    }
  }

  function recordInvalid(
    stack: string,
    version: string | undefined,
    error: BerthError,
  ): StackOutcome {
    const message = `invalid: ${describeLoadError(error)}`;
    logger.warn({ stack, version, err: error }, 'stack is invalid');
    const existing = store.getStack(stack);
    store.upsertStack(stack, {
      ...(existing === undefined ? { state: 'BROKEN' as const } : {}),
      ...(version === undefined ? {} : { lastAttemptedVersion: version }),
    });
    setConditions(stack, [
      { type: 'Ready', status: 'False', reason: 'ValidationFailed', message },
      { type: 'Stalled', status: 'True', reason: 'ValidationFailed', message },
      { type: 'Reconciling', status: 'False', reason: 'ValidationFailed', message },
    ]);
    return { stack, outcome: 'terminal', result: 'invalid', message, version, error };
  }

  function targetOf(stack: DiscoveredStack, commit: string, dir = stack.dir): StrategyTarget {
    return {
      stack: stack.name,
      projectName: stack.name,
      version: stack.version,
      commit,
      dir,
      settings: stack.settings,
    };
  }

  async function applyEntry(
    entry: StackPlan,
    ctx: {
      revision: SourceRevision;
      observed: Map<string, ObservedProject>;
      records: Map<string, StackRecord>;
      runningVersions: Map<string, VersionRef | undefined>;
      options: ReconcileOptions;
      trigger: string;
      sourceError?: BerthError;
      deploymentId?: number;
    },
  ): Promise<StackOutcome> {
    const stack = entry.stack;
    const base = { stack, version: entry.version };
    if (entry.action === 'skip') {
      const result = SKIP_RESULT[entry.skip ?? 'invalid'];
      switch (entry.skip) {
        case 'invalid': {
          const error = entry.broken?.error ?? new BerthError('ValidationFailed', entry.reason);
          return recordInvalid(stack, entry.version, error);
        }
        case 'bad':
          logger.warn({ stack, version: entry.version }, 'version marked bad; not deploying');
          setConditions(stack, [
            { type: 'Stalled', status: 'True', reason: 'VersionMarkedBad', message: entry.reason },
          ]);
          return { ...base, outcome: 'terminal', result, message: entry.reason };
        case 'kept':
          logger.warn({ stack }, 'stack folder left the repository; kept running');
          return { ...base, outcome: 'done', result, message: entry.reason };
        case 'suspended':
          setConditions(stack, [
            { type: 'Reconciling', status: 'False', reason: 'Suspended', message: 'suspended' },
          ]);
          return { ...base, outcome: 'done', result, message: entry.reason };
        default:
          return { ...base, outcome: 'done', result, message: entry.reason };
      }
    }
    if (entry.action === 'unchanged') {
      if (ctx.sourceError !== undefined && ctx.records.has(stack)) {
        setConditions(stack, [
          {
            type: 'Reconciling',
            status: 'False',
            reason: 'SourceUnavailable',
            message: `source unavailable, kept ${ctx.revision.commit}: ${ctx.sourceError.message}`,
          },
        ]);
      }
      return { ...base, outcome: 'done', result: 'unchanged', message: entry.reason };
    }
    if (entry.action === 'remove') return prune(stack, ctx.trigger);

    const discovered = entry.discovered;
    if (discovered === undefined) {
      return recordInvalid(stack, entry.version, new BerthError('ValidationFailed', entry.reason));
    }
    // Validate from the checkout before touching anything running: a broken file costs nothing.
    try {
      const project = await loadQuietly(discovered.dir, stack);
      assertExclusiveVolumesDeclared(project, discovered.settings, stack);
    } catch (err) {
      return recordInvalid(stack, discovered.version, asBerthError(err, 'ComposeInvalid'));
    }
    const record = ctx.records.get(stack);
    return deploy({
      target: targetOf(discovered, ctx.revision.commit),
      trigger: ctx.trigger,
      observed: ctx.observed.get(stack),
      previous: ctx.runningVersions.get(stack) ?? record?.running,
      previousHealth: record?.health,
      signal: ctx.options.signal,
      onProgress: ctx.options.onProgress,
      deploymentId: ctx.deploymentId,
    });
  }

  async function prune(stack: string, trigger: string): Promise<StackOutcome> {
    logger.warn({ stack, trigger }, 'stack folder left the repository; pruning');
    try {
      await engine.down(stack, { volumes: false });
      const archived = await folders.archive(stack);
      store.upsertStack(stack, { running: undefined, health: 'unknown' });
      setConditions(stack, [
        {
          type: 'Ready',
          status: 'False',
          reason: 'Pruned',
          message: `folder left the repository; removed, files archived in ${archived}`,
        },
      ]);
      return {
        stack,
        outcome: 'done',
        result: 'removed',
        message: `folder left the repository; removed (files archived in ${archived})`,
      };
    } catch (err) {
      const error = asBerthError(err, 'PruneFailed');
      logger.error({ stack, err }, 'pruning the stack failed');
      return {
        stack,
        outcome: 'retry-later',
        result: 'failed',
        message: `pruning failed: ${describeError(err)}`,
        error,
      };
    }
  }

  async function planPass(options: ReconcileOptions = {}): Promise<PlannedPass> {
    const trigger = options.trigger ?? 'reconcile';
    const dryRun = options.dryRun === true;
    options.onProgress?.({ step: 'sync' });
    const { revision, sourceError } = await syncSource(options.signal);
    if (!dryRun) await recoverInterrupted();

    options.onProgress?.({ step: 'discover', detail: revision.commit });
    const discovery = await discover(revision);
    const observed = await engine.observeAll();
    const records = new Map(store.listStacks().map((r) => [r.name, r] as const));
    const names = new Set<string>([
      ...records.keys(),
      ...discovery.stacks.map((s) => s.name),
      ...discovery.broken.map((s) => s.name),
    ]);
    const runningVersions = new Map<string, VersionRef | undefined>();
    await Promise.all(
      [...names].map(async (name) => {
        const version = await folders.readRunningVersion(name);
        if (version !== undefined) runningVersions.set(name, version);
      }),
    );
    const plan = await planOf(discovery, observed, records, runningVersions, options.stacks);
    return {
      revision,
      sourceError,
      plan,
      trigger,
      discovery,
      observed,
      records,
      runningVersions,
    };
  }

  /** The pure plan over what a pass (or a replan) gathered. */
  async function planOf(
    discovery: Discovery,
    observed: Map<string, ObservedProject>,
    records: Map<string, StackRecord>,
    runningVersions: Map<string, VersionRef | undefined>,
    only: string[] | undefined,
  ): Promise<StackPlan[]> {
    return computePlan({
      discovery,
      observed,
      records,
      bad: (stack, version) => store.isBad(stack, version),
      runningVersions,
      expectedServices: await expectedServicesOf(discovery, runningVersions),
      prune: deps.settings.prune,
      only,
    });
  }

  /**
   * Plans one stack again from a fresh look at Docker and the state, against the same
   * discovery: a queued entry may have waited while an earlier job changed the stack.
   */
  async function replan(
    entry: StackPlan,
    planned: PlannedPass,
    dir: string | undefined,
  ): Promise<{
    entry: StackPlan;
    ctx: Pick<PlannedPass, 'observed' | 'records' | 'runningVersions'>;
  }> {
    const name = entry.stack;
    const project = await engine.observe(name);
    const observed = new Map<string, ObservedProject>();
    if (hasContainers(project)) observed.set(name, project);
    const records = new Map<string, StackRecord>();
    const record = store.getStack(name);
    if (record !== undefined) records.set(name, record);
    const runningVersions = new Map<string, VersionRef | undefined>();
    const running = await folders.readRunningVersion(name);
    if (running !== undefined) runningVersions.set(name, running);
    const discovery: Discovery = {
      stacks: planned.discovery.stacks
        .filter((s) => s.name === name)
        .map((s) => (dir === undefined ? s : { ...s, dir })),
      broken: planned.discovery.broken.filter((s) => s.name === name),
    };
    const [fresh] = await planOf(discovery, observed, records, runningVersions, [name]);
    return { entry: fresh ?? entry, ctx: { observed, records, runningVersions } };
  }

  function reconcileStack(
    entry: StackPlan,
    planned: PlannedPass,
    options: ReconcileStackOptions = {},
  ): Promise<StackOutcome> {
    return withStackLock(entry.stack, async (): Promise<StackOutcome> => {
      if (options.signal?.aborted === true) {
        return {
          stack: entry.stack,
          outcome: 'retry-later',
          result: 'failed',
          message: 'not reconciled: the pass was cancelled',
          version: entry.version,
        };
      }
      try {
        let current = entry;
        let views: Pick<PlannedPass, 'observed' | 'records' | 'runningVersions'> = planned;
        if (options.replan === true) {
          ({ entry: current, ctx: views } = await replan(entry, planned, options.dir));
        } else if (options.dir !== undefined && entry.discovered !== undefined) {
          current = { ...entry, discovered: { ...entry.discovered, dir: options.dir } };
        }
        return await applyEntry(current, {
          revision: planned.revision,
          observed: views.observed,
          records: views.records,
          runningVersions: views.runningVersions,
          options: { signal: options.signal, onProgress: options.onProgress },
          trigger: options.trigger ?? planned.trigger,
          sourceError: planned.sourceError,
          deploymentId: options.deploymentId,
        });
      } catch (err) {
        // One stack's trouble (a Docker hiccup, a store error) never stops the others.
        logger.error({ stack: entry.stack, err }, 'reconciling the stack failed');
        const error = asBerthError(err, 'ReconcileFailed');
        return {
          stack: entry.stack,
          outcome: 'retry-later',
          result: 'failed',
          message: describeError(err),
          version: entry.version,
          error,
        };
      }
    });
  }

  /**
   * --dry-run: for a blue-green or canary stack that would be deployed, the per-service rollout
   * plan (side by side or stop-first, and why). Read-only: one listing and image inspects.
   */
  async function addRolloutDetails(entry: StackPlan, planned: PlannedPass): Promise<void> {
    const discovered = entry.discovered;
    if (entry.action !== 'recreate' || discovered === undefined) return;
    const method = discovered.settings.method;
    if (method !== 'blue-green' && method !== 'canary') return;
    const observed = planned.observed.get(entry.stack);
    if (observed === undefined || Object.keys(observed.services).length === 0) return;
    try {
      const project = await loadQuietly(discovered.dir, entry.stack);
      assertExclusiveVolumesDeclared(project, discovered.settings, entry.stack);
      const rollout = await planRollout(
        engine,
        project,
        discovered.settings,
        method,
        discovered.version,
      );
      entry.details = rollout.entries;
    } catch (err) {
      entry.details = [
        { subject: entry.stack, action: 'skip', reason: `no rollout plan: ${describeError(err)}` },
      ];
    }
  }

  async function pass(options: ReconcileOptions): Promise<PassResult> {
    const dryRun = options.dryRun === true;
    const planned = await planPass(options);
    const { revision, sourceError, plan } = planned;

    if (dryRun) {
      await Promise.all(plan.map((entry) => addRolloutDetails(entry, planned)));
      const stacks: StackOutcome[] = plan.map((entry) => ({
        stack: entry.stack,
        outcome: entry.skip === 'invalid' || entry.skip === 'bad' ? 'terminal' : 'done',
        result:
          entry.action === 'skip'
            ? SKIP_RESULT[entry.skip ?? 'invalid']
            : entry.action === 'unchanged'
              ? 'unchanged'
              : 'planned',
        message: entry.reason,
        version: entry.version,
      }));
      stacks.push(...unknownStacks(plan, options.stacks));
      return { revision, sourceError, plan, stacks, ok: passOk(stacks, sourceError) };
    }

    const stacks = await mapLimit(plan, PARALLEL_STACKS, (entry) =>
      reconcileStack(entry, planned, { signal: options.signal, onProgress: options.onProgress }),
    );
    stacks.push(...unknownStacks(plan, options.stacks));
    const ok = passOk(stacks, sourceError);
    logger.info(
      {
        commit: revision.commit,
        stacks: stacks.length,
        changed: stacks.filter((s) => s.result !== 'unchanged').length,
        ok,
      },
      'reconcile pass finished',
    );
    return { revision, sourceError, plan, stacks, ok };
  }

  /** Finds the files of a version: good_stacks, running_stacks, or the checkout. */
  async function filesOf(
    stack: string,
    version: VersionRef,
    discovered: DiscoveredStack | undefined,
  ): Promise<string | undefined> {
    const good = await folders.readGoodVersion(stack);
    if (good?.version === version.version) return folders.goodDir(stack);
    const running = await folders.readRunningVersion(stack);
    if (running?.version === version.version) return folders.runningDir(stack);
    if (discovered?.version === version.version) return discovered.dir;
    return undefined;
  }

  async function rollback(
    stack: string,
    options: { to?: string; trigger?: string } = {},
  ): Promise<StackOutcome> {
    return withStackLock(stack, async () => {
      const trigger = options.trigger ?? 'rollback';
      const revision = await source.current();
      const discovery = revision === undefined ? undefined : await discover(revision);
      const discovered = discovery?.stacks.find((s) => s.name === stack);

      let wanted: VersionRef | undefined;
      if (options.to === undefined) {
        wanted = await folders.readGoodVersion(stack);
        if (wanted === undefined) {
          throw new BerthError(
            'NoGoodVersion',
            `stack ${stack} has no good version in good_stacks`,
            {
              place: { stack },
            },
          );
        }
      } else {
        const to = options.to;
        const match = store
          .listDeployments(stack)
          .find((d) => d.version.startsWith(to) || d.commit.startsWith(to));
        if (match === undefined) {
          throw new BerthError(
            'VersionNotFound',
            `version ${to} is not in the deployment history of stack ${stack}`,
            { place: { stack } },
          );
        }
        wanted = { version: match.version, commit: match.commit };
      }
      const from = await filesOf(stack, wanted, discovered);
      if (from === undefined) {
        throw new BerthError(
          'VersionFilesUnavailable',
          `the files of version ${shortVersion(wanted.version)} (commit ${wanted.commit}) of stack ${stack} are not available: berth keeps only the good and the running version; revert the stack folder in git to deploy it again`,
          { place: { stack } },
        );
      }

      // A private copy: the strategy may overwrite good_stacks with the running version.
      const scratch = await mkdtemp(path.join(tmpdir(), `berth-rollback-${stack}-`));
      const dir = path.join(scratch, stack);
      try {
        await cp(from, dir, { recursive: true });
        await rm(path.join(dir, 'version.txt'), { force: true });
        const settings: DeploySettings = discovered?.settings ?? {
          ...deps.settings.defaults,
          origin: 'defaults',
        };
        const record = store.getStack(stack);
        const observed = await engine.observe(stack);
        return await deploy({
          target: {
            stack,
            projectName: stack,
            version: wanted.version,
            commit: wanted.commit,
            dir,
            settings,
          },
          trigger,
          observed,
          previous: (await folders.readRunningVersion(stack)) ?? record?.running,
          previousHealth: record?.health,
        });
      } finally {
        await rm(scratch, { recursive: true, force: true });
      }
    });
  }

  async function down(stack: string, options: { trigger?: string } = {}): Promise<void> {
    await withStackLock(stack, async () => {
      const trigger = options.trigger ?? 'cli';
      const record = store.getStack(stack);
      const running = record?.running ?? (await folders.readRunningVersion(stack));
      const deployment = store.startDeployment({
        stack,
        version: running?.version ?? '',
        commit: running?.commit ?? '',
        previousVersion: running?.version,
        method: 'down',
        trigger,
        state: 'RUNNING',
      });
      let failure: unknown;
      try {
        store.journal(deployment.id, 'down', 'remove the containers (volumes kept)');
        await engine.down(stack, { volumes: false });
      } catch (err) {
        failure = err;
      } finally {
        const message =
          failure === undefined
            ? 'brought down; suspended so the next pass leaves it down'
            : `down failed: ${describeError(failure)}`;
        store.updateDeployment(deployment.id, {
          state: failure === undefined ? 'DONE' : 'FAILED',
          result: failure === undefined ? 'succeeded' : 'failed',
          finishedAt: now(),
          message,
        });
        if (failure === undefined) {
          // Without suspending, drift detection would bring the stack back on the next pass.
          store.upsertStack(stack, { suspended: true, health: 'unknown' });
          setConditions(stack, [{ type: 'Ready', status: 'False', reason: 'Suspended', message }]);
        }
      }
      if (failure !== undefined) throw asBerthError(failure, 'DownFailed');
      logger.info({ stack, trigger }, 'stack brought down');
    });
  }

  function reconcileOnce(options: ReconcileOptions = {}): Promise<PassResult> {
    // Passes plan from one observation; two at once would both act on the same stale picture.
    return options.dryRun === true ? pass(options) : withPassLock('pass', () => pass(options));
  }

  return { reconcileOnce, planPass, reconcileStack, rollback, down };
}
