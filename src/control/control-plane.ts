import type { Clock } from '../clock.js';
import { BerthError } from '../errors.js';
import type { Logger } from '../log.js';
import type { SuspendResult, UnmarkResult } from '../reconciler/admin.js';
import { entryActs, entryDeploys, passOk, unknownStacks } from '../reconciler/pass.js';
import type { Reconciler } from '../reconciler/reconciler.js';
import type {
  PassResult,
  PlannedPass,
  ReconcileOptions,
  RepairContext,
  StackOutcome,
  StackWork,
  Trigger,
} from '../reconciler/types.js';
import type { TrackedRef } from '../source/types.js';
import type { DeploymentRecord, HealthRecord, StackRecord, StateStore } from '../state/types.js';
import type { Dispatcher, Ticket } from './dispatcher.js';
import type { Effects } from './effects.js';

export type { TrackedRef };

/**
 * What every trigger asks of berth, in one interface: the daemon's HTTP API, its control
 * socket, the CLI (directly when no daemon runs) and the healer all go through it, and it
 * sends every action through the dispatcher.
 *
 * Errors are BerthErrors; their `reason` says what went wrong (StackNotFound, VersionNotFound,
 * NoGoodVersion, ShuttingDown, ...).
 */
export interface ControlPlane {
  /** One pass; resolves when every stack's request has ended. `force` skips retry backoff. */
  reconcile(options: ReconcileOptions & { force?: boolean }): Promise<PassResult>;
  /**
   * Queue a pass in the background over `sources` (all when undefined); requests while one
   * waits coalesce into one, over every source any of them asked for.
   */
  requestSync(trigger: Trigger, sources?: readonly string[]): void;
  /** Deploy one stack's desired version now (planned afresh; past any retry backoff). */
  deploy(stack: string, trigger: Trigger): Promise<StackOutcome>;
  /** Go back to the good version, or to `to` (a version in the stack's history). */
  rollback(stack: string, trigger: Trigger, to?: string): Promise<StackOutcome>;
  down(stack: string, trigger: Trigger): Promise<StackOutcome>;
  suspend(stack: string, trigger: Trigger): Promise<SuspendResult>;
  resume(stack: string, trigger: Trigger): Promise<SuspendResult>;
  /** Clears one bad mark (a full version) or all of the stack's. */
  unmark(stack: string, version: string | undefined, trigger: Trigger): Promise<UnmarkResult>;
  repair(stack: string, context: RepairContext, trigger: Trigger): Promise<StackOutcome>;
  /** Whether berth is acting on the stack (a request running or waiting). */
  busy(stack: string): boolean;
  listStacks(): StackRecord[];
  getStack(name: string): StackRecord | undefined;
  /** Newest first. */
  deployments(name: string, limit: number): DeploymentRecord[];
  /** Newest first. */
  health(name: string, limit: number): HealthRecord[];
  trackedRef(): TrackedRef;
  /** Resolves once no pass is pending or running and no request runs or waits. */
  idle(): Promise<void>;
  /** Takes no more work; a running sync gives up, queued requests are dropped. */
  stop(options?: { graceMs?: number }): Promise<{ aborted: number }>;
}

export interface ControlPlaneOptions {
  reconciler: Pick<Reconciler, 'plan' | 'describe' | 'recover'>;
  dispatcher: Dispatcher;
  effects: Effects;
  store: StateStore;
  clock: Clock;
  logger: Logger;
  trackedRef?: () => TrackedRef;
}

/** A serial lock: the checkout is synced and read (and files copied from it) by one pass at a time. */
function createSerial(): <T>(fn: () => Promise<T>) => Promise<T> {
  let tail: Promise<unknown> = Promise.resolve();
  return <T>(fn: () => Promise<T>): Promise<T> => {
    const run = tail.then(fn, fn);
    tail = run.catch(() => undefined);
    return run;
  };
}

/** A background pass waiting to run: the newest trigger, and the sources (undefined: all). */
interface PendingSync {
  trigger: Trigger;
  sources: Set<string> | undefined;
}

/** Two requests as one: the newer trigger, over the sources of both. */
function coalesce(
  pending: PendingSync | undefined,
  trigger: Trigger,
  sources: readonly string[] | undefined,
): PendingSync {
  const all = sources === undefined || (pending !== undefined && pending.sources === undefined);
  return {
    trigger,
    sources: all ? undefined : new Set([...(pending?.sources ?? []), ...sources]),
  };
}

export function createControlPlane(options: ControlPlaneOptions): ControlPlane {
  const { reconciler, dispatcher, effects, store, clock, logger } = options;
  const serial = createSerial();
  const syncAbort = new AbortController();
  let stopping = false;
  let syncRunning: Promise<void> | undefined;
  let syncPending: PendingSync | undefined;
  let idleWaiters: (() => void)[] = [];

  function guard(): void {
    if (stopping) throw new BerthError('ShuttingDown', 'berth is shutting down');
  }

  /**
   * Sync and plan under the serial lock, timed for the metrics. A pass that will act plans
   * only after what a dead process left is resolved: it must see the stacks as they are.
   */
  async function plan(options: ReconcileOptions): Promise<PlannedPass> {
    if (options.dryRun !== true) await reconciler.recover();
    const startedAt = clock.now();
    try {
      const planned = await reconciler.plan({
        ...options,
        signal: options.signal ?? syncAbort.signal,
      });
      effects.sync({
        durationMs: clock.now() - startedAt,
        ...(planned.sourceError === undefined ? {} : { error: planned.sourceError }),
        sources: planned.sources,
      });
      return planned;
    } catch (err) {
      effects.sync({ durationMs: clock.now() - startedAt, error: err });
      throw err;
    }
  }

  /**
   * Queues one request per planned stack while the checkout holds still (each request copies
   * the files it deploys). Entries that only record conditions are not worth waiting behind a
   * running deployment unless someone waits for the pass.
   */
  async function submitPlan(
    planned: PlannedPass,
    trigger: Trigger,
    options: { wait: boolean; force: boolean; onProgress?: ReconcileOptions['onProgress'] },
  ): Promise<Ticket[]> {
    const tickets: Ticket[] = [];
    for (const entry of planned.plan) {
      const stack = entry.stack;
      if (!entryActs(entry) && dispatcher.busy(stack) && !options.wait) continue;
      if (
        entryDeploys(entry) &&
        !options.force &&
        entry.version !== undefined &&
        !effects.allowed(stack, entry.version)
      ) {
        logger.debug({ stack, version: entry.version }, 'failed version waits for backoff');
        continue;
      }
      try {
        const work: StackWork = { kind: 'apply', entry, pass: planned };
        tickets.push(
          await dispatcher.submit({ stack, trigger, work }, { onProgress: options.onProgress }),
        );
      } catch (err) {
        if (options.wait) throw err;
        logger.error({ stack, err }, 'queueing the stack failed');
      }
    }
    return tickets;
  }

  async function reconcile(options: ReconcileOptions & { force?: boolean }): Promise<PassResult> {
    guard();
    const trigger = options.trigger ?? { by: 'reconcile' };
    const { planned, tickets } = await serial(async () => {
      const p = await plan(options);
      if (options.dryRun === true) return { planned: p, tickets: [] as Ticket[] };
      const t = await submitPlan(p, trigger, {
        wait: true,
        force: options.force ?? true,
        onProgress: options.onProgress,
      });
      return { planned: p, tickets: t };
    });
    const { revision, sourceError } = planned;
    if (options.dryRun === true)
      return dryRunResult(planned, options.stacks, await reconciler.describe(planned));
    const stacks = await Promise.all(tickets.map((t) => t.outcome));
    stacks.push(...unknownStacks(planned.plan, options.stacks));
    const ok = passOk(stacks, sourceError);
    logger.info(
      {
        commit: revision.commit,
        stacks: stacks.length,
        changed: stacks.filter((s) => s.result !== 'unchanged').length,
        ok,
        trigger: trigger.by,
      },
      'reconcile pass finished',
    );
    return {
      revision,
      ...(sourceError === undefined ? {} : { sourceError }),
      sources: planned.sources,
      plan: planned.plan,
      stacks,
      ok,
    };
  }

  function dryRunResult(
    planned: PlannedPass,
    only: string[] | undefined,
    plan: PassResult['plan'],
  ): PassResult {
    const stacks: StackOutcome[] = planned.plan.map((entry) => ({
      stack: entry.stack,
      outcome: entry.skip === 'invalid' || entry.skip === 'bad' ? 'terminal' : 'done',
      result:
        entry.action === 'skip'
          ? entry.skip === 'bad'
            ? 'skipped-bad'
            : (entry.skip ?? 'invalid')
          : entry.action === 'unchanged'
            ? 'unchanged'
            : 'planned',
      message: entry.reason,
      version: entry.version,
    }));
    stacks.push(...unknownStacks(planned.plan, only));
    const sourceError = planned.sourceError;
    return {
      revision: planned.revision,
      ...(sourceError === undefined ? {} : { sourceError }),
      sources: planned.sources,
      plan,
      stacks,
      ok: passOk(stacks, sourceError),
    };
  }

  // --- background passes (daemon triggers) -----------------------------------------------

  function requestSync(trigger: Trigger, sources?: readonly string[]): void {
    if (stopping) return;
    // Coalesced: one sync runs, one waits; the waiting one carries the newest trigger and
    // every source asked for since.
    syncPending = coalesce(syncPending, trigger, sources);
    syncRunning ??= syncLoop();
  }

  async function syncLoop(): Promise<void> {
    try {
      while (syncPending !== undefined && !stopping) {
        const { trigger, sources } = syncPending;
        syncPending = undefined;
        await serial(() =>
          backgroundPass(trigger, sources === undefined ? undefined : [...sources]),
        );
      }
    } finally {
      syncRunning = undefined;
      notifyIdle();
    }
  }

  async function backgroundPass(trigger: Trigger, sources: string[] | undefined): Promise<void> {
    let planned: PlannedPass;
    try {
      planned = await plan({ trigger, ...(sources === undefined ? {} : { sources }) });
    } catch (err) {
      if (!stopping) logger.error({ err, trigger: trigger.by, sources }, 'sync failed');
      return;
    }
    if (stopping) return;
    const fetched = (
      planned.sources.find((s) => s.name === trigger.source)?.revision ?? planned.revision
    ).commit;
    if (trigger.commit !== undefined && trigger.commit !== fetched) {
      logger.info(
        { source: trigger.source, pushed: trigger.commit, fetched },
        'source moved past the pushed commit',
      );
    }
    const tickets = await submitPlan(planned, trigger, { wait: false, force: false });
    for (const ticket of tickets) void ticket.outcome.catch(() => undefined);
  }

  // --- one stack --------------------------------------------------------------------------

  async function submitOne(
    stack: string,
    trigger: Trigger,
    work: StackWork,
  ): Promise<StackOutcome> {
    guard();
    const ticket = await dispatcher.submit({ stack, trigger, work });
    return ticket.outcome;
  }

  function known(stack: string): void {
    if (store.getStack(stack) === undefined) {
      throw new BerthError('StackNotFound', `berth has no stack named ${stack}`, {
        place: { stack },
      });
    }
  }

  async function deploy(stack: string, trigger: Trigger): Promise<StackOutcome> {
    guard();
    // Only the planning holds the checkout; the deployment itself waits in the stack's queue.
    const ticket = await serial(async () => {
      const planned = await plan({ trigger, stacks: [stack] });
      const entry = planned.plan.find((e) => e.stack === stack);
      if (entry === undefined) {
        throw new BerthError('StackNotFound', `no stack named ${stack} in the repository`, {
          place: { stack },
        });
      }
      return dispatcher.submit({ stack, trigger, work: { kind: 'apply', entry, pass: planned } });
    });
    return ticket.outcome;
  }

  async function adminResult(
    stack: string,
    trigger: Trigger,
    kind: 'suspend' | 'resume',
  ): Promise<SuspendResult> {
    known(stack);
    const outcome = await submitOne(stack, trigger, { kind });
    if (kind === 'resume' && outcome.changed === true) requestSync(trigger);
    return {
      stack,
      suspended: kind === 'suspend',
      changed: outcome.changed ?? false,
      by: trigger.by,
      at: new Date(clock.now()).toISOString(),
    };
  }

  // --- idle and stop ------------------------------------------------------------------------

  function isIdle(): boolean {
    return syncRunning === undefined && syncPending === undefined;
  }

  function notifyIdle(): void {
    if (!isIdle()) return;
    const waiters = idleWaiters;
    idleWaiters = [];
    for (const resolve of waiters) resolve();
  }

  async function idle(): Promise<void> {
    for (;;) {
      if (!isIdle()) await new Promise<void>((resolve) => idleWaiters.push(resolve));
      await dispatcher.idle();
      // A finished request may have asked for a sync (a resume, a retry): wait for that too.
      if (isIdle()) return;
    }
  }

  async function stop(stopOptions: { graceMs?: number } = {}): Promise<{ aborted: number }> {
    stopping = true;
    syncPending = undefined;
    effects.stop();
    const stopped = await dispatcher.stop({
      graceMs: stopOptions.graceMs ?? 60_000,
      hardMs: 10_000,
    });
    // A sync that is still fetching gives up; its plan is not applied any more.
    syncAbort.abort(new Error('berth is shutting down'));
    if (syncRunning !== undefined) await syncRunning.catch(() => undefined);
    notifyIdle();
    return stopped;
  }

  return {
    reconcile,
    requestSync,
    deploy,
    rollback: (stack, trigger, to) =>
      submitOne(stack, trigger, { kind: 'rollback', ...(to === undefined ? {} : { to }) }),
    down: (stack, trigger) => submitOne(stack, trigger, { kind: 'down' }),
    suspend: (stack, trigger) => adminResult(stack, trigger, 'suspend'),
    resume: (stack, trigger) => adminResult(stack, trigger, 'resume'),
    async unmark(stack, version, trigger) {
      const outcome = await submitOne(stack, trigger, {
        kind: 'unmark',
        ...(version === undefined ? {} : { version }),
      });
      return {
        stack,
        ...(version === undefined ? {} : { version }),
        cleared: outcome.cleared ?? 0,
      };
    },
    repair: (stack, context, trigger) =>
      submitOne(stack, trigger, { kind: 'repair', repair: context }),
    busy: (stack) => dispatcher.busy(stack),
    listStacks: () => store.listStacks(),
    getStack: (name) => store.getStack(name),
    deployments: (name, limit) => store.listDeployments(name, limit),
    health: (name, limit) => store.healthHistory(name, limit),
    trackedRef: () => options.trackedRef?.() ?? {},
    idle,
    stop,
  };
}

/** What a mutating CLI command asks for: the daemon's control socket serves the same. */
export type Operations = Pick<
  ControlPlane,
  'reconcile' | 'rollback' | 'down' | 'suspend' | 'resume' | 'unmark'
>;
