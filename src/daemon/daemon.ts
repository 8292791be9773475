import path from 'node:path';
import { systemClock, type Clock } from '../clock.js';
import type { BerthConfig } from '../config/index.js';
import { DEFAULT_CONCURRENCY, DEFAULT_SCHEDULE } from '../config/schema.js';
import type { BackoffPolicy } from '../control/backoff.js';
import type { RetryDue } from '../control/effects.js';
import type { ControlPlane } from '../control/control-plane.js';
import { BerthError, ConfigError, describeError } from '../errors.js';
import type { Logger } from '../log.js';
import { createApp, type App } from '../main.js';
import type { Trigger } from '../reconciler/types.js';
import { createMetrics, type Metrics } from '../server/metrics.js';
import type { ServerControl } from '../server/control.js';
import type { ResolvedServerConfig } from '../server/schema.js';
import { watchedFolderOf } from '../source/index.js';
import { lockDataDir, type DataDirLock } from '../state/lock.js';
import {
  createControlSocketApp,
  startControlSocket,
  type ControlSocket,
} from './control-socket.js';
import { startCron, type CronTrigger } from './triggers/cron.js';
import { controlRepair, createHealer, type Healer } from './triggers/healer.js';
import { createHttpTrigger } from './triggers/http.js';
import { sourceViews, sourcesBySchedule } from './sources.js';
import { watchFiles, type FileTrigger } from './triggers/watch.js';

export interface DaemonOptions {
  config: BerthConfig;
  logger: Logger;
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
  /** How long to wait for the data dir's lock at start; then start fails naming the holder. */
  lockWaitMs?: number;
}

export interface Daemon {
  /** Takes the data dir's lock, recovers, starts every trigger and the control socket. */
  start(): Promise<void>;
  /** Stops accepting triggers, lets running deployments finish (bounded), records, releases. */
  stop(): Promise<void>;
  /** Requests a (coalesced) sync of `sources`, all when left out. */
  trigger(trigger?: Trigger, sources?: readonly string[]): void;
  /** Resolves once no sync is pending or running and every stack queue is empty. */
  idle(): Promise<void>;
  /** The control plane of the app in force (it changes with a config reload). */
  readonly control: ControlPlane;
  readonly metrics: Metrics;
  /** The bound HTTP address, when the server is on. */
  address(): { host: string; port: number } | undefined;
  /** The config in force (the last good one). */
  config(): BerthConfig;
}

const DEFAULT_GRACE_MS = 60_000;
const DEFAULT_DEBOUNCE_MS = 250;
const DEFAULT_LOCK_WAIT_MS = 10_000;

/** Triggers that belong to one app: rebuilt when a reload swaps the app. */
interface AppTriggers {
  /** One per distinct schedule of the sources. */
  crons: CronTrigger[];
  healer: Healer;
  watchers: FileTrigger[];
}

/** A ControlPlane that always speaks to the app in force (a config reload swaps it). */
function forwardTo(current: () => ControlPlane): ControlPlane {
  return {
    reconcile: (options) => current().reconcile(options),
    requestSync: (trigger, sources) => current().requestSync(trigger, sources),
    deploy: (stack, trigger) => current().deploy(stack, trigger),
    rollback: (stack, trigger, to) => current().rollback(stack, trigger, to),
    down: (stack, trigger) => current().down(stack, trigger),
    suspend: (stack, trigger) => current().suspend(stack, trigger),
    resume: (stack, trigger) => current().resume(stack, trigger),
    unmark: (stack, version, trigger) => current().unmark(stack, version, trigger),
    repair: (stack, context, trigger) => current().repair(stack, context, trigger),
    busy: (stack) => current().busy(stack),
    listStacks: () => current().listStacks(),
    getStack: (name) => current().getStack(name),
    deployments: (name, limit) => current().deployments(name, limit),
    health: (name, limit) => current().health(name, limit),
    trackedRef: () => current().trackedRef(),
    idle: () => current().idle(),
    stop: (options) => current().stop(options),
  };
}

/**
 * The long-running reconciler, its composition root: it holds the data dir's lock for its
 * lifetime and turns every trigger (cron, file watch, webhooks and the API, the control socket,
 * the healer) into requests to the control plane, which sends them through the dispatcher.
 */
export function createDaemon(options: DaemonOptions): Daemon {
  const logger = options.logger;
  const clock = options.clock ?? systemClock;
  const metrics = createMetrics();
  let config = options.config;
  let lock: DataDirLock | undefined;
  let app: App | undefined;
  let triggers: AppTriggers | undefined;
  let socket: ControlSocket | undefined;
  let configWatcher: FileTrigger | undefined;
  let started = false;
  let stopping: Promise<void> | undefined;

  function currentApp(): App {
    if (app === undefined) throw new BerthError('NotStarted', 'the daemon is not running');
    return app;
  }
  const control = forwardTo(() => currentApp().control);
  const serverControl: ServerControl = {
    ...control,
    sources: () =>
      sourceViews(config, currentApp().effects.sourceStatus(), currentApp().store.listStacks()),
  };
  const http = createHttpTrigger({ control: serverControl, metrics, logger });

  function requestSync(trigger: Trigger, sources?: readonly string[]): void {
    if (started && stopping === undefined) app?.control.requestSync(trigger, sources);
  }

  /** A retry due for one source (or a stack of one) syncs only that source. */
  function retry(due?: RetryDue): void {
    const source = due?.source;
    if (source === undefined) requestSync({ by: 'retry' });
    else requestSync({ by: 'retry', source }, [source]);
  }

  function openApp(cfg: BerthConfig, held: DataDirLock): Promise<App> {
    return createApp(cfg, {
      logger,
      lock: held,
      clock,
      metrics,
      fetch: options.fetch,
      backoff: options.backoff,
      onRetryDue: retry,
    });
  }

  async function startTriggers(current: App, cfg: BerthConfig): Promise<AppTriggers> {
    const healer = createHealer({
      engine: current.engine,
      store: current.store,
      clock,
      logger,
      repair: controlRepair(current.control),
      isBusy: (stack) => current.control.busy(stack),
      onHealed: (e) =>
        current.effects.notify({
          event: 'healed',
          stack: e.stack,
          source: current.store.getStack(e.stack)?.source,
          message: e.reason,
        }),
      onBroken: (e) =>
        current.effects.notify({
          event: 'broken',
          stack: e.stack,
          source: current.store.getStack(e.stack)?.source,
          message: `${e.reason}: ${e.repairs} repairs within ${e.windowMs / 1000}s`,
        }),
    });
    await healer.start();
    return { crons: startSchedules(cfg), healer, watchers: watchSources(cfg) };
  }

  /** Each schedule syncs only its sources. */
  function startSchedules(cfg: BerthConfig): CronTrigger[] {
    const jitter = options.maxJitterMs === undefined ? {} : { maxJitterMs: options.maxJitterMs };
    return [...sourcesBySchedule(cfg)].map(([expression, names]) => {
      const trigger: Trigger = {
        by: 'schedule',
        ...(names.length === 1 ? { source: names[0] } : {}),
      };
      return startCron(expression, () => requestSync({ ...trigger }, names), jitter);
    });
  }

  /** A local folder source syncs (only itself) when its files change. */
  function watchSources(cfg: BerthConfig): FileTrigger[] {
    const watchers: FileTrigger[] = [];
    for (const entry of cfg.sources) {
      const folder = watchedFolderOf(entry.source);
      if (folder === undefined) continue;
      const trigger: Trigger = { by: 'watch', source: entry.name };
      watchers.push(
        watchFiles(folder, () => requestSync({ ...trigger }, [entry.name]), {
          debounceMs: options.watchDebounceMs ?? DEFAULT_DEBOUNCE_MS,
          logger,
          ignoreDir: cfg.dataDir,
          what: `source ${entry.name}`,
        }),
      );
    }
    return watchers;
  }

  async function stopTriggers(): Promise<void> {
    const current = triggers;
    triggers = undefined;
    if (current === undefined) return;
    for (const cron of current.crons) cron.stop();
    await Promise.all(current.watchers.map((w) => w.close()));
    await current.healer.stop();
  }

  function publishStacks(): void {
    for (const record of currentApp().store.listStacks()) metrics.setStackStatus(record);
  }

  async function start(): Promise<void> {
    if (started) return;
    const resolved = await http.resolve(config);
    const held = await lockDataDir(
      config.dataDir,
      { role: 'daemon', command: 'daemon' },
      {
        waitMs: options.lockWaitMs ?? DEFAULT_LOCK_WAIT_MS,
      },
    );
    lock = held;
    try {
      app = await openApp(config, held);
      // What a dead process left is resolved before anything else touches the stacks.
      await app.reconciler.recover();
      metrics.setSources(config.sources.map((s) => s.name));
      publishStacks();
      await http.apply(resolved);
      socket = await startControlSocket(config.dataDir, createControlSocketApp(control, logger));
      triggers = await startTriggers(app, config);
      watchConfig();
    } catch (err) {
      await teardown(0);
      throw err;
    }
    started = true;
    logger.info(
      {
        schedule: config.schedule ?? DEFAULT_SCHEDULE,
        concurrency: config.concurrency ?? DEFAULT_CONCURRENCY,
        sources: config.sources.map((s) => `${s.name} (${s.source.kind})`),
        socket: socket.path,
      },
      'daemon started',
    );
    requestSync({ by: 'startup' });
  }

  function watchConfig(): void {
    if (config.file === undefined || options.reloadConfig === undefined) return;
    configWatcher = watchFiles(config.file, () => void reload(), {
      debounceMs: options.watchDebounceMs ?? DEFAULT_DEBOUNCE_MS,
      logger,
      what: 'config',
    });
  }

  let reloading = false;
  async function reload(): Promise<void> {
    if (stopping !== undefined || options.reloadConfig === undefined || reloading) return;
    reloading = true;
    try {
      const next = await readNext(options.reloadConfig);
      if (next === undefined) return;
      await swapApp(next.config, next.server);
      logger.info({ file: next.config.file }, 'config reloaded');
      requestSync({ by: 'config-reload' });
    } finally {
      reloading = false;
    }
  }

  /** The new config and its server secrets, or undefined when it is refused or unchanged. */
  async function readNext(
    read: () => Promise<BerthConfig>,
  ): Promise<{ config: BerthConfig; server: ResolvedServerConfig | undefined } | undefined> {
    try {
      const next = await read();
      if (path.resolve(next.dataDir) !== path.resolve(config.dataDir)) {
        throw new ConfigError('dataDir cannot change while the daemon runs', [
          `dataDir: ${next.dataDir} differs from ${config.dataDir}; restart berth to move it`,
        ]);
      }
      const server = await http.resolve(next);
      if (JSON.stringify(next) === JSON.stringify(config)) {
        logger.debug('config unchanged');
        return undefined;
      }
      return { config: next, server };
    } catch (err) {
      const problems = err instanceof ConfigError ? err.problems : [describeError(err)];
      logger.error({ problems }, 'config reload refused; the old config stays in force');
      return undefined;
    }
  }

  /** Running deployments end on the old app; then the new one takes over every trigger. */
  async function swapApp(
    next: BerthConfig,
    server: ResolvedServerConfig | undefined,
  ): Promise<void> {
    const held = lock;
    if (held === undefined) return;
    await stopTriggers();
    const previous = currentApp();
    await previous.control.idle();
    await previous.close();
    app = await openApp(next, held);
    config = next;
    triggers = await startTriggers(app, next);
    await http.apply(server);
    metrics.setSources(next.sources.map((s) => s.name));
    publishStacks();
  }

  /** Closes what start opened, in reverse; the lock goes last. */
  async function teardown(graceMs: number): Promise<void> {
    await configWatcher?.close();
    configWatcher = undefined;
    await stopTriggers();
    // No new triggers from the listener or the socket; open requests get the grace period.
    const closing = Promise.all([
      http.close().catch((err: unknown) => logger.warn({ err }, 'closing the listener failed')),
      socket?.close(graceMs),
    ]);
    socket = undefined;
    if (app !== undefined) {
      const { aborted } = await app.close({ graceMs });
      if (aborted > 0) logger.warn({ aborted }, 'deployments aborted at shutdown');
    }
    await Promise.race([closing, clock.sleep(2_000)]);
    app = undefined;
    lock?.release();
    lock = undefined;
  }

  async function shutdown(): Promise<void> {
    logger.info('daemon stopping');
    await teardown(options.shutdownGraceMs ?? DEFAULT_GRACE_MS);
    logger.info('daemon stopped');
  }

  return {
    start,
    stop: () => (stopping ??= started ? shutdown() : Promise.resolve()),
    trigger: (trigger, sources) => requestSync(trigger ?? { by: 'api' }, sources),
    idle: () => (app === undefined ? Promise.resolve() : app.control.idle()),
    control,
    metrics,
    address: () => http.address(),
    config: () => config,
  };
}
