import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { watch, type FSWatcher } from 'chokidar';
import { schedule as scheduleCron, type ScheduledTask } from 'node-cron';
import { systemClock, type Clock } from '../clock.js';
import type { BerthConfig } from '../config/index.js';
import { DEFAULT_CONCURRENCY, DEFAULT_SCHEDULE } from '../config/schema.js';
import { BerthError, ConfigError, SourceError, describeError } from '../errors.js';
import type { Logger } from '../log.js';
import type { App } from '../main.js';
import { createNotifier, type Notifier } from '../notify/notifier.js';
import { resolveNotifySecrets, type NotificationEventName } from '../notify/schema.js';
import type { StackPlan } from '../plan/stack-plan.js';
import { createServerApp } from '../server/app.js';
import type { DaemonControl, TrackedRef, Trigger } from '../server/control.js';
import { createMetrics, type Metrics } from '../server/metrics.js';
import { resolveServerSecrets, type ResolvedServerConfig } from '../server/schema.js';
import { startServer, type RunningServer } from '../server/serve.js';
import { createRetryTracker, type BackoffPolicy, type RetryTracker } from './backoff.js';
import { createDaemonControl } from './control.js';
import { createHealer, reconcilerRepair, type Healer } from './healer.js';
import { createStackQueue, type StackQueue } from './queue.js';
import type { PlannedPass, StackOutcome } from './types.js';

export interface DaemonOptions {
  config: BerthConfig;
  logger: Logger;
  /** Builds the app (engine, store, source, reconciler) for a config: createApp in the CLI. */
  openApp: (config: BerthConfig) => App;
  /** Reads the config file again; without it the daemon does not watch the file. */
  reloadConfig?: () => Promise<BerthConfig>;
  clock?: Clock;
  /** The HTTP client of notifications; the global fetch by default. */
  fetch?: typeof fetch;
  backoff?: BackoffPolicy;
  /** Longest random delay added to a scheduled sync; 5 s or a tenth of the interval. */
  maxJitterMs?: number;
  /** How long a running deployment may take to reach its end at shutdown before it is aborted. */
  shutdownGraceMs?: number;
  /** Quiet time after a file change before the watcher acts. */
  watchDebounceMs?: number;
}

export interface Daemon {
  start(): Promise<void>;
  /** Stops accepting triggers, lets running deployments finish (bounded), records, closes. */
  stop(): Promise<void>;
  /** Requests a (coalesced) sync. */
  trigger(trigger?: Trigger): void;
  /** Resolves once no sync is pending or running and every stack queue is empty. */
  idle(): Promise<void>;
  readonly control: DaemonControl;
  readonly metrics: Metrics;
  /** The bound HTTP address, when the server is on. */
  address(): { host: string; port: number } | undefined;
  /** The config in force (the last good one). */
  config(): BerthConfig;
}

/** One stack's queued work: apply `entry` from `planned`. */
interface StackJob {
  entry: StackPlan;
  planned: PlannedPass;
  trigger: string;
  /** A private copy of the stack's files, removed when the job ends or is replaced. */
  scratch?: string;
  dir?: string;
  deploymentId?: number;
  waiters: ((outcome: StackOutcome) => void)[];
  failWaiters: ((err: unknown) => void)[];
}

const SOURCE_KEY = '\u0000source';
const DEFAULT_GRACE_MS = 60_000;
const DEFAULT_DEBOUNCE_MS = 250;

function acts(entry: StackPlan): boolean {
  return entry.action === 'create' || entry.action === 'recreate' || entry.action === 'remove';
}

function deploys(entry: StackPlan): boolean {
  return entry.action === 'create' || entry.action === 'recreate';
}

/** A serial lock: the checkout is synced and read by one pass at a time. */
function createSerial(): <T>(fn: () => Promise<T>) => Promise<T> {
  let tail: Promise<unknown> = Promise.resolve();
  return <T>(fn: () => Promise<T>): Promise<T> => {
    const run = tail.then(fn, fn);
    tail = run.catch(() => undefined);
    return run;
  };
}

/** The ms between two runs of a cron expression, to size the jitter. */
function intervalOf(task: ScheduledTask): number | undefined {
  const [a, b] = task.getNextRuns(2);
  return a === undefined || b === undefined ? undefined : b.getTime() - a.getTime();
}

/**
 * The long-running reconciler: syncs on a schedule and on demand (webhooks, API, file watch),
 * plans once per sync and feeds each stack's work into its own queue (seed 001).
 */
export function createDaemon(options: DaemonOptions): Daemon {
  const logger = options.logger;
  const clock = options.clock ?? systemClock;
  const graceMs = options.shutdownGraceMs ?? DEFAULT_GRACE_MS;
  const debounceMs = options.watchDebounceMs ?? DEFAULT_DEBOUNCE_MS;
  const metrics = createMetrics();
  const serial = createSerial();

  let config = options.config;
  let app: App | undefined;
  let queue: StackQueue<StackJob> = newQueue(config);
  let notifier: Notifier = createNotifier({ targets: [], logger });
  let server: RunningServer | undefined;
  let serverKey = '';
  let cron: ScheduledTask | undefined;
  let sourceWatcher: FSWatcher | undefined;
  let configWatcher: FSWatcher | undefined;
  const timers = new Set<NodeJS.Timeout>();
  const syncAbort = new AbortController();

  let started = false;
  let stopping = false;
  let stopPromise: Promise<void> | undefined;
  let syncRunning: Promise<void> | undefined;
  let syncPending: Trigger | undefined;
  let idleWaiters: (() => void)[] = [];

  const retries: RetryTracker = createRetryTracker({
    clock,
    policy: options.backoff,
    onDue: (key) => {
      logger.info({ stack: key === SOURCE_KEY ? undefined : key }, 'retrying after backoff');
      requestSync({ by: 'retry' });
    },
  });

  const control = createDaemonControl({
    store: () => currentApp().store,
    trackedRef,
    requestSync,
    deploy: deployStack,
    rollback: rollbackStack,
    logger,
    onResumed: (name) => healer?.reset(name),
  });

  // --- self-healing: Docker events for managed containers (seed 004's repair --watch) -------

  let healer: Healer | undefined;
  async function startHealer(current: App): Promise<void> {
    const next = createHealer({
      engine: current.engine,
      store: current.store,
      clock,
      logger,
      repair: reconcilerRepair({ reconciler: current.reconciler, engine: current.engine }),
      isBusy: (stack) => queue.busy(stack),
      onHealed: (event) =>
        void notifier.notify({ event: 'healed', stack: event.stack, message: event.reason }),
      onBroken: (event) =>
        void notifier.notify({
          event: 'broken',
          stack: event.stack,
          message: `${event.reason}: ${event.repairs} repairs within ${event.windowMs / 1000}s`,
        }),
    });
    await next.start();
    healer = next;
  }
  async function stopHealer(): Promise<void> {
    const current = healer;
    healer = undefined;
    await current?.stop();
  }

  function currentApp(): App {
    if (app === undefined) throw new BerthError('NotStarted', 'the daemon is not running');
    return app;
  }

  function trackedRef(): TrackedRef {
    const source = config.source;
    if (source.kind !== 'git') return {};
    return source.git.tag === undefined ? { branch: source.git.branch } : { tag: source.git.tag };
  }

  function later(ms: number, fn: () => void): void {
    const timer = setTimeout(() => {
      timers.delete(timer);
      fn();
    }, ms);
    timers.add(timer);
  }

  function debounce(fn: () => void): () => void {
    let timer: NodeJS.Timeout | undefined;
    return () => {
      if (timer !== undefined) {
        clearTimeout(timer);
        timers.delete(timer);
      }
      timer = setTimeout(() => {
        if (timer !== undefined) timers.delete(timer);
        timer = undefined;
        fn();
      }, debounceMs);
      timers.add(timer);
    };
  }

  // --- the per-stack queues ----------------------------------------------------------------

  function newQueue(cfg: BerthConfig): StackQueue<StackJob> {
    return createStackQueue<StackJob>({
      concurrency: cfg.concurrency ?? DEFAULT_CONCURRENCY,
      run: runJob,
      onStart: (key, job) => {
        if (job.deploymentId !== undefined) {
          currentApp().store.updateDeployment(job.deploymentId, { state: 'TRIGGERED' });
        }
        if (job.entry.version !== undefined) retries.attempting(key, job.entry.version);
      },
      onDiscard: (key, job, why) => {
        closeUnrun(job, why === 'replaced' ? 'superseded by a newer revision' : 'berth stopped');
        logger.debug({ stack: key, why }, 'queued job discarded');
      },
      onSettled: (key, _job, pending) => {
        settleStackState(key, pending);
        notifyIdle();
      },
    });
  }

  /** Closes the bookkeeping of a job that never ran. */
  function closeUnrun(job: StackJob, message: string): void {
    if (job.deploymentId !== undefined) {
      try {
        currentApp().store.updateDeployment(job.deploymentId, {
          state: 'DONE',
          result: 'skipped',
          finishedAt: new Date(clock.now()).toISOString(),
          message,
        });
      } catch (err) {
        logger.warn({ err, deploymentId: job.deploymentId }, 'recording a skipped job failed');
      }
    }
    void removeScratch(job);
    if (stopping) {
      for (const fail of job.failWaiters) fail(new BerthError('ShuttingDown', message));
    }
  }

  async function removeScratch(job: StackJob): Promise<void> {
    if (job.scratch === undefined) return;
    const scratch = job.scratch;
    job.scratch = undefined;
    await rm(scratch, { recursive: true, force: true }).catch(() => undefined);
  }

  /** Seed 001: STABLE right after a success, AVAILABLE once nothing more is queued. */
  function settleStackState(key: string, pending: boolean): void {
    if (pending || app === undefined) return;
    try {
      const record = app.store.getStack(key);
      if (record?.state === 'STABLE') app.store.upsertStack(key, { state: 'AVAILABLE' });
      const fresh = app.store.getStack(key);
      if (fresh !== undefined) metrics.setStackStatus(fresh);
    } catch (err) {
      logger.warn({ stack: key, err }, 'settling the stack state failed');
    }
  }

  async function runJob(key: string, job: StackJob, signal: AbortSignal): Promise<void> {
    const current = currentApp();
    const before = current.store.getStack(key);
    const startedAt = clock.now();
    let outcome: StackOutcome;
    try {
      outcome = await current.reconciler.reconcileStack(job.entry, job.planned, {
        signal,
        trigger: job.trigger,
        // Only work that changes the stack needs a fresh look; a skip just records conditions.
        replan: acts(job.entry),
        dir: job.dir,
        deploymentId: job.deploymentId,
      });
    } catch (err) {
      outcome = {
        stack: key,
        outcome: 'retry-later',
        result: 'failed',
        message: describeError(err),
        version: job.entry.version,
      };
    } finally {
      await removeScratch(job);
    }
    if (job.deploymentId !== undefined && outcome.deploymentId !== job.deploymentId) {
      // Replanned to nothing to do: the stack already runs this version.
      closeUnrun(job, `nothing to do: ${outcome.message}`);
    }
    try {
      afterOutcome(key, outcome, before?.state, clock.now() - startedAt);
    } catch (err) {
      logger.warn({ stack: key, err }, 'recording the outcome failed');
    }
    for (const resolve of job.waiters) resolve(outcome);
  }

  function notify(
    event: NotificationEventName,
    outcome: StackOutcome,
    trigger: string | undefined,
  ): void {
    void notifier.notify({
      event,
      stack: outcome.stack,
      version: outcome.version,
      message: outcome.message,
      deploymentId: outcome.deploymentId,
      trigger,
    });
  }

  /** Metrics, notifications and retries for one finished stack job. */
  function afterOutcome(
    key: string,
    outcome: StackOutcome,
    stateBefore: string | undefined,
    durationMs: number,
    manualRollback = false,
  ): void {
    const store = currentApp().store;
    const trigger =
      outcome.deploymentId === undefined
        ? undefined
        : store.listDeployments(key, 20).find((d) => d.id === outcome.deploymentId)?.trigger;
    const version = outcome.version ?? '';
    switch (outcome.result) {
      case 'deployed':
        retries.clear(key);
        metrics.observeDeployment({ stack: key, result: 'succeeded', durationMs, manualRollback });
        notify('deploy-succeeded', outcome, trigger);
        if (stateBefore === 'BROKEN') notify('healed', outcome, trigger);
        break;
      case 'rolled-back':
        metrics.observeDeployment({ stack: key, result: 'rolled-back', durationMs });
        notify('rolled-back', outcome, trigger);
        if (store.isBad(key, version) !== undefined) notify('marked-bad', outcome, trigger);
        noteFailure(key, version, outcome);
        break;
      case 'failed':
        if (outcome.deploymentId !== undefined) {
          metrics.observeDeployment({ stack: key, result: 'failed', durationMs });
          notify('deploy-failed', outcome, trigger);
          if (store.getStack(key)?.state === 'BROKEN') notify('broken', outcome, trigger);
        }
        noteFailure(key, version, outcome);
        break;
      case 'removed':
        retries.clear(key);
        metrics.removeStack(key);
        break;
      default:
        break;
    }
  }

  function noteFailure(key: string, version: string, outcome: StackOutcome): void {
    if (stopping) return;
    const decision = retries.fail(key, version, outcome.outcome === 'retry-later');
    if (decision.kind === 'retry') {
      logger.warn(
        { stack: key, version, attempt: decision.attempt, delayMs: decision.delayMs },
        'stack failed; retrying with backoff',
      );
    } else {
      logger.warn(
        { stack: key, version, decision: decision.kind },
        'stack failed; not retried until its version changes',
      );
    }
  }

  // --- syncs -------------------------------------------------------------------------------

  function requestSync(trigger: Trigger = { by: 'api' }): void {
    if (stopping || !started) return;
    // Coalesced: one sync runs, one waits; the waiting one carries the newest request.
    syncPending = trigger;
    if (syncRunning === undefined) syncRunning = syncLoop();
  }

  async function syncLoop(): Promise<void> {
    try {
      while (syncPending !== undefined && !stopping) {
        const trigger = syncPending;
        syncPending = undefined;
        await serial(() => syncOnce(trigger));
      }
    } finally {
      syncRunning = undefined;
      notifyIdle();
    }
  }

  async function plan(trigger: Trigger, stacks?: string[]): Promise<PlannedPass | undefined> {
    const current = currentApp();
    const startedAt = clock.now();
    try {
      const planned = await current.reconciler.planPass({
        trigger: trigger.by,
        signal: syncAbort.signal,
        ...(stacks === undefined ? {} : { stacks }),
      });
      metrics.observeSync({
        durationMs: clock.now() - startedAt,
        ok: planned.sourceError === undefined,
      });
      if (planned.sourceError === undefined) retries.clear(SOURCE_KEY);
      else sourceFailed(planned.sourceError);
      return planned;
    } catch (err) {
      metrics.observeSync({ durationMs: clock.now() - startedAt, ok: false });
      if (stopping) return undefined;
      logger.error({ err }, 'sync failed');
      sourceFailed(err);
      return undefined;
    }
  }

  function sourceFailed(err: unknown): void {
    if (stopping) return;
    const transient = !(err instanceof SourceError) || err.transient;
    const decision = retries.fail(SOURCE_KEY, 'source', transient);
    if (decision.kind === 'retry') {
      logger.warn(
        { attempt: decision.attempt, delayMs: decision.delayMs },
        'source unavailable; retrying with backoff',
      );
    }
  }

  async function syncOnce(trigger: Trigger): Promise<void> {
    const planned = await plan(trigger);
    if (planned === undefined || stopping) return;
    for (const entry of planned.plan) {
      try {
        await dispatch(entry, planned, trigger.by, false);
      } catch (err) {
        logger.error({ stack: entry.stack, err }, 'queueing the stack failed');
      }
    }
  }

  /** Puts one plan entry into its stack's queue (or drops it when there is nothing to do). */
  async function dispatch(
    entry: StackPlan,
    planned: PlannedPass,
    trigger: string,
    force: boolean,
    waiter?: { resolve: (o: StackOutcome) => void; reject: (err: unknown) => void },
  ): Promise<void> {
    const key = entry.stack;
    // Unchanged and skipped stacks only record conditions: not worth waiting behind a deploy.
    if (!acts(entry) && queue.busy(key) && waiter === undefined) return;
    if (
      deploys(entry) &&
      !force &&
      entry.version !== undefined &&
      !retries.allowed(key, entry.version)
    ) {
      logger.debug({ stack: key, version: entry.version }, 'failed version waits for backoff');
      return;
    }
    const job: StackJob = {
      entry,
      planned,
      trigger,
      waiters: waiter === undefined ? [] : [waiter.resolve],
      failWaiters: waiter === undefined ? [] : [waiter.reject],
    };
    if (deploys(entry) && entry.discovered !== undefined) {
      // The next sync may move the checkout while this job waits: deploy from a private copy.
      job.scratch = await mkdtemp(path.join(tmpdir(), `berth-job-${key}-`));
      job.dir = path.join(job.scratch, key);
      await cp(entry.discovered.dir, job.dir, { recursive: true });
      job.deploymentId = currentApp().store.startDeployment({
        stack: key,
        version: entry.discovered.version,
        commit: planned.revision.commit,
        previousVersion: entry.currentVersion,
        method: entry.discovered.settings.method,
        trigger,
        state: 'QUEUED',
      }).id;
    }
    const replaced = queue.enqueue(key, job);
    if (replaced !== undefined) {
      // Whoever waited on the replaced job gets the newer one's outcome.
      job.waiters.unshift(...replaced.waiters);
      job.failWaiters.unshift(...replaced.failWaiters);
    }
  }

  async function deployStack(name: string, trigger: Trigger): Promise<StackOutcome> {
    if (stopping) throw new BerthError('ShuttingDown', 'berth is shutting down');
    let resolve!: (outcome: StackOutcome) => void;
    let reject!: (err: unknown) => void;
    const outcome = new Promise<StackOutcome>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    // Only the planning holds the source; the deploy itself waits in the stack's queue.
    await serial(async () => {
      const planned = await plan(trigger, [name]);
      if (planned === undefined) {
        throw new BerthError('SyncFailed', 'the source could not be synced', {
          place: { stack: name },
        });
      }
      const entry = planned.plan.find((e) => e.stack === name);
      if (entry === undefined) {
        throw new BerthError('StackNotFound', `no stack named ${name} in the repository`, {
          place: { stack: name },
        });
      }
      await dispatch(entry, planned, trigger.by, true, { resolve, reject });
    });
    return outcome;
  }

  async function rollbackStack(name: string, trigger: Trigger, to?: string): Promise<StackOutcome> {
    if (stopping) throw new BerthError('ShuttingDown', 'berth is shutting down');
    const current = currentApp();
    const before = current.store.getStack(name);
    const startedAt = clock.now();
    const outcome = await current.reconciler.rollback(name, {
      ...(to === undefined ? {} : { to }),
      trigger: trigger.by,
    });
    afterOutcome(name, outcome, before?.state, clock.now() - startedAt, true);
    settleStackState(name, queue.busy(name));
    return outcome;
  }

  // --- idle --------------------------------------------------------------------------------

  function isIdle(): boolean {
    return (
      syncRunning === undefined &&
      syncPending === undefined &&
      queue.runningCount() === 0 &&
      queue.pendingCount() === 0
    );
  }

  function notifyIdle(): void {
    if (!isIdle()) return;
    const waiters = idleWaiters;
    idleWaiters = [];
    for (const resolve of waiters) resolve();
  }

  function idle(): Promise<void> {
    return isIdle()
      ? Promise.resolve()
      : new Promise<void>((resolve) => {
          idleWaiters.push(resolve);
        });
  }

  // --- wiring: cron, watchers, server, notifier --------------------------------------------

  function startCron(cfg: BerthConfig): void {
    const expression = cfg.schedule ?? DEFAULT_SCHEDULE;
    let jitterMs = options.maxJitterMs;
    const task = scheduleCron(
      expression,
      () => {
        const delay = Math.floor(Math.random() * (jitterMs ?? 0));
        later(delay, () => requestSync({ by: 'schedule' }));
      },
      { name: 'berth-sync', noOverlap: false },
    );
    if (jitterMs === undefined) {
      const interval = intervalOf(task) ?? 60_000;
      jitterMs = Math.min(5_000, Math.floor(interval / 10));
    }
    cron = task;
  }

  function startWatchers(cfg: BerthConfig): void {
    if (cfg.source.kind === 'local') {
      const root = cfg.source.path;
      const dataDir = path.resolve(cfg.dataDir);
      const onChange = debounce(() => requestSync({ by: 'watch' }));
      sourceWatcher = watch(root, {
        ignoreInitial: true,
        // The data dir may sit inside the source folder; its churn is berth's own.
        ignored: (file: string) =>
          path.resolve(file) === dataDir || path.resolve(file).startsWith(`${dataDir}${path.sep}`),
      });
      sourceWatcher.on('all', onChange);
      sourceWatcher.on('error', (err) => logger.warn({ err }, 'source watcher failed'));
    }
    if (cfg.file !== undefined && options.reloadConfig !== undefined) {
      const onChange = debounce(() => void reload());
      configWatcher = watch(cfg.file, { ignoreInitial: true });
      configWatcher.on('all', onChange);
      configWatcher.on('error', (err) => logger.warn({ err }, 'config watcher failed'));
    }
  }

  async function stopWatchers(): Promise<void> {
    const watchers = [sourceWatcher, configWatcher];
    sourceWatcher = undefined;
    configWatcher = undefined;
    await Promise.all(
      watchers.map(async (w) => {
        await w?.close();
      }),
    );
  }

  function stopCron(): void {
    void cron?.stop();
    void cron?.destroy();
    cron = undefined;
  }

  interface Resolved {
    server?: ResolvedServerConfig;
    notifier: Notifier;
  }

  /** Reads the `…File` secrets of a config; throws a ConfigError when one cannot be read. */
  async function resolve(cfg: BerthConfig): Promise<Resolved> {
    const baseDir = cfg.file === undefined ? undefined : path.dirname(cfg.file);
    const secretOptions = { baseDir, file: cfg.file };
    const targets = await resolveNotifySecrets(cfg.notify ?? [], secretOptions);
    const resolved: Resolved = {
      notifier: createNotifier({ targets, logger, fetch: options.fetch, now: () => clock.now() }),
    };
    if (cfg.server !== undefined) {
      resolved.server = await resolveServerSecrets(cfg.server, secretOptions);
    }
    return resolved;
  }

  async function applyServer(resolved: ResolvedServerConfig | undefined): Promise<void> {
    const key = JSON.stringify(resolved ?? null);
    if (key === serverKey && (server !== undefined) === (resolved !== undefined)) return;
    if (server !== undefined) {
      await server.close();
      server = undefined;
    }
    serverKey = key;
    if (resolved === undefined) return;
    const httpApp = createServerApp({ control, config: resolved, metrics, logger });
    server = await startServer(httpApp, resolved.listen);
    logger.info({ host: server.host, port: server.port }, 'listening');
  }

  function publishStacks(): void {
    for (const record of currentApp().store.listStacks()) metrics.setStackStatus(record);
  }

  // --- config reload -----------------------------------------------------------------------

  let reloading = false;
  async function reload(): Promise<void> {
    if (stopping || options.reloadConfig === undefined || reloading) return;
    reloading = true;
    try {
      let next: BerthConfig;
      let resolved: Resolved;
      try {
        next = await options.reloadConfig();
        resolved = await resolve(next);
      } catch (err) {
        const problems = err instanceof ConfigError ? err.problems : [describeError(err)];
        logger.error({ problems }, 'config reload refused; the old config stays in force');
        return;
      }
      if (JSON.stringify(next) === JSON.stringify(config)) {
        logger.debug('config unchanged');
        return;
      }
      await serial(async () => {
        // No sync plans while the app is swapped; running deployments end on the old app.
        await queue.idle();
        if (stopping) return;
        stopCron();
        await stopWatchers();
        await stopHealer();
        const previous = app;
        app = options.openApp(next);
        config = next;
        queue = newQueue(next);
        notifier = resolved.notifier;
        await previous?.close();
        await startHealer(app);
        startCron(next);
        startWatchers(next);
        await applyServer(resolved.server);
        publishStacks();
      });
      logger.info({ file: next.file }, 'config reloaded');
      requestSync({ by: 'config-reload' });
    } finally {
      reloading = false;
    }
  }

  // --- start / stop ------------------------------------------------------------------------

  async function start(): Promise<void> {
    if (started) return;
    const resolved = await resolve(config);
    app = options.openApp(config);
    notifier = resolved.notifier;
    started = true;
    try {
      publishStacks();
      await applyServer(resolved.server);
      await startHealer(app);
      startCron(config);
      startWatchers(config);
    } catch (err) {
      started = false;
      stopCron();
      await stopWatchers();
      await stopHealer();
      await app.close();
      app = undefined;
      throw err;
    }
    logger.info(
      {
        schedule: config.schedule ?? DEFAULT_SCHEDULE,
        concurrency: config.concurrency ?? DEFAULT_CONCURRENCY,
        source: config.source.kind,
      },
      'daemon started',
    );
    requestSync({ by: 'startup' });
  }

  async function shutdown(): Promise<void> {
    stopping = true;
    logger.info('daemon stopping');
    stopCron();
    for (const timer of timers) clearTimeout(timer);
    timers.clear();
    retries.cancelAll();
    await stopWatchers();
    await stopHealer();
    syncPending = undefined;
    // The listener goes first: no new triggers; open requests get the grace period.
    const closing = server?.close().catch((err: unknown) => {
      logger.warn({ err }, 'closing the listener failed');
    });
    server = undefined;
    const { aborted } = await queue.stop({ graceMs, hardMs: 10_000 });
    if (aborted > 0) logger.warn({ aborted }, 'deployments aborted at shutdown');
    // A sync that is still fetching gives up; its plan is not applied any more.
    syncAbort.abort(new Error('berth is shutting down'));
    if (syncRunning !== undefined) await syncRunning.catch(() => undefined);
    if (app !== undefined) {
      const now = new Date(clock.now()).toISOString();
      for (const deployment of app.store.unfinishedDeployments()) {
        // Whatever did not reach an end is recorded as such, never left RUNNING.
        app.store.updateDeployment(deployment.id, {
          state: 'FAILED',
          result: 'interrupted',
          finishedAt: now,
          message: 'interrupted: berth stopped while the deployment ran',
        });
      }
    }
    await Promise.race([closing, new Promise((r) => setTimeout(r, 2_000).unref())]);
    await app?.close();
    logger.info('daemon stopped');
    notifyIdle();
  }

  function stop(): Promise<void> {
    stopPromise ??= shutdown();
    return stopPromise;
  }

  return {
    start,
    stop,
    trigger: (trigger) => requestSync(trigger ?? { by: 'api' }),
    idle,
    control,
    metrics,
    address: () => (server === undefined ? undefined : { host: server.host, port: server.port }),
    config: () => config,
  };
}
