import type { Clock } from '../../clock.js';
import type { ControlPlane } from '../../control/control-plane.js';
import type {
  ContainerEngine,
  EventSubscription,
  ManagedContainerEvent,
} from '../../engine/types.js';
import { describeError } from '../../errors.js';
import type { Logger } from '../../log.js';
import type { RepairContext } from '../../reconciler/types.js';
import {
  isRepairLimited,
  repairLimitReached,
  runtimeHealth,
  setStatus,
} from '../../reconciler/status.js';
import type { StackRecord, StateStore, VersionRef } from '../../state/types.js';
import {
  closesBurst,
  describeDown,
  nothingDown,
  opensBurst,
  stillDown,
  suspectsOf,
  turnedUnhealthy,
  type DownContainers,
} from './healer-burst.js';

export type { RepairContext };

/** Restores the stack (through the dispatcher); true when it is healthy again. */
export type RepairFunction = (stack: string, context: RepairContext) => Promise<boolean>;

export interface HealEvent {
  stack: string;
  reason: string;
  /** Repairs counted in the window, this one included. */
  repairs: number;
}

export interface BrokenEvent extends HealEvent {
  windowMs: number;
}

export interface HealerDeps {
  engine: Pick<ContainerEngine, 'watchEvents' | 'observe'>;
  store: StateStore;
  clock: Clock;
  logger: Logger;
  repair: RepairFunction;
  /** True while berth itself acts on the stack (a deploy, a rollback, a down). */
  isBusy: (stack: string) => boolean;
  onHealed?: (event: HealEvent) => void;
  onBroken?: (event: BrokenEvent) => void;
  /** Repairs allowed per stack within `windowMs`; one more drift makes the stack BROKEN. */
  maxRepairs?: number;
  windowMs?: number;
  /** How long to collect a burst of events (a stop is kill + die + stop) before acting. */
  debounceMs?: number;
}

export interface Healer {
  start(): Promise<void>;
  /** Stops following events and waits for a running repair to finish. */
  stop(): Promise<void>;
  /** Forgets a stack's repair count and lifts its repair limit (the daemon calls it on resume). */
  reset(stack: string): void;
}

/**
 * How long a burst is checked again while Docker's listing still shows a container running
 * that its events said died (the listing lags, more so on a loaded host). Past it, the events
 * are trusted: a restart would have sent a start event.
 */
const RECHECK_BUDGET_MS = 10_000;

interface StackWatch {
  pending: ManagedContainerEvent[];
  debouncing: boolean;
  repairing: boolean;
  /** Events stamped before this (clock ms) were caused by berth's own repair. */
  ignoreBefore: number;
  /** Clock ms of counted repairs, oldest first. */
  repairs: number[];
  broken?: { version: string | undefined; at: number };
}

/** Why events for the stack are ignored right now, or undefined when they count. */
function ignoreReason(record: StackRecord | undefined, busy: boolean): string | undefined {
  if (record === undefined) return 'unknown stack';
  if (record.suspended) return 'suspended';
  if (record.running === undefined) return 'nothing deployed';
  if (busy) return 'busy';
  return undefined;
}

/** Neither running without a failing healthcheck nor a one-shot that finished cleanly. */
function notUp(c: { state: string; health: string; exitCode?: number }): boolean {
  if (c.state === 'exited') return c.exitCode !== 0;
  return c.state !== 'running' || c.health === 'unhealthy';
}

function resumedSince(record: StackRecord, at: number): boolean {
  const ready = record.conditions.find((c) => c.type === 'Ready');
  return ready?.reason === 'Resumed' && Date.parse(ready.lastTransitionTime) >= at;
}

/**
 * Seed 004's `repair --watch`: follows Docker's events for managed containers and restores a
 * stack whose containers went down, were removed or turned unhealthy out of band, through the
 * dispatcher like any other request. Acts only after checking Docker again: a restart policy, a
 * one-shot finishing or berth's own deploy leave nothing to do. Repairs are counted per stack in
 * a sliding window on the Clock; past the limit the stack is BROKEN and left alone until its
 * version changes or it is resumed. Health transitions go into the health history.
 */
export function createHealer(deps: HealerDeps): Healer {
  const { engine, store, clock, logger } = deps;
  const maxRepairs = deps.maxRepairs ?? 5;
  const windowMs = deps.windowMs ?? 300_000;
  const debounceMs = deps.debounceMs ?? 1000;
  const stacks = new Map<string, StackWatch>();
  const inFlight = new Set<Promise<void>>();
  let subscription: EventSubscription | undefined;
  let stopped = true;
  let abort = new AbortController();

  function watchOf(stack: string): StackWatch {
    let watch = stacks.get(stack);
    if (watch === undefined) {
      watch = { pending: [], debouncing: false, repairing: false, ignoreBefore: 0, repairs: [] };
      stacks.set(stack, watch);
    }
    return watch;
  }

  /** True while the repair limit holds: same version, not resumed since. */
  function limited(watch: StackWatch, record: StackRecord): boolean {
    if (watch.broken === undefined) return false;
    if (record.running?.version !== watch.broken.version || resumedSince(record, watch.broken.at)) {
      watch.broken = undefined;
      watch.repairs = [];
      return false;
    }
    return true;
  }

  function onEvent(event: ManagedContainerEvent): void {
    if (stopped) return;
    const stack = event.project;
    const watch = watchOf(stack);
    // Starts and recoveries only matter inside a burst that a down event opened.
    if (!opensBurst(event) && !(closesBurst(event) && watch.debouncing)) {
      if (event.action === 'health_status' && event.health === 'healthy') noteRecovered(stack);
      return;
    }
    if (watch.repairing || event.at < watch.ignoreBefore) return;
    const record = store.getStack(stack);
    const why = ignoreReason(record, deps.isBusy(stack));
    if (why !== undefined || record?.running === undefined) {
      logger.debug(
        { stack, action: event.action, container: event.containerName, why },
        'event ignored',
      );
      return;
    }
    if (turnedUnhealthy(event)) noteUnhealthy(stack, record.running, event.containerName);
    watch.pending.push(event);
    logger.debug({ stack, action: event.action, container: event.containerName }, 'event queued');
    if (!watch.debouncing) schedule(stack, watch);
  }

  /** Seed 002's health history: a container of a running stack turned unhealthy. */
  function noteUnhealthy(stack: string, running: VersionRef, container: string): void {
    const detail = `container ${container} turned unhealthy`;
    store.recordHealth({ ...running, stack, health: 'unhealthy', detail });
    store.upsertStack(stack, { health: 'unhealthy' });
    setStatus(store, stack, runtimeHealth(false, detail));
    logger.warn({ stack, container }, 'container turned unhealthy');
  }

  /** A healthy event for a stack recorded unhealthy: healthy again once Docker agrees. */
  function noteRecovered(stack: string): void {
    const record = store.getStack(stack);
    if (record?.health !== 'unhealthy' || record.running === undefined) return;
    if (ignoreReason(record, deps.isBusy(stack)) !== undefined) return;
    const running = record.running;
    track(
      engine.observe(stack).then((observed) => {
        const containers = Object.values(observed.services).flatMap((s) => s.containers);
        if (containers.length === 0 || containers.some(notUp)) return;
        const detail = 'every container healthy again';
        store.recordHealth({ ...running, stack, health: 'healthy', detail });
        store.upsertStack(stack, { health: 'healthy' });
        setStatus(store, stack, runtimeHealth(true, detail));
        logger.info({ stack }, 'stack healthy again');
      }),
    );
  }

  function schedule(stack: string, watch: StackWatch): void {
    watch.debouncing = true;
    track(
      clock
        .sleep(debounceMs, abort.signal)
        .then(() => flush(stack))
        .catch((err: unknown) => {
          if (!stopped) logger.error({ stack, err }, 'healing failed');
        })
        .finally(() => {
          watch.debouncing = false;
          // Events that came while the burst was checked start the next one.
          if (!stopped && watch.pending.some(opensBurst)) schedule(stack, watch);
          else watch.pending = [];
        }),
    );
  }

  function track(work: Promise<void>): void {
    const tracked = work.catch((err: unknown) => logger.warn({ err }, 'healer check failed'));
    inFlight.add(tracked);
    void tracked.finally(() => inFlight.delete(tracked));
  }

  async function observeDown(
    stack: string,
    events: ManagedContainerEvent[],
  ): Promise<DownContainers> {
    const observed = await engine.observe(stack);
    const containers = Object.values(observed.services).flatMap((s) => s.containers);
    return stillDown(suspectsOf(events), containers);
  }

  /** What is still down after the burst, checked again while the listing lags behind. */
  async function settleBurst(
    stack: string,
    watch: StackWatch,
    events: ManagedContainerEvent[],
  ): Promise<DownContainers> {
    let down = await observeDown(stack, events);
    const recheckUntil = clock.now() + RECHECK_BUDGET_MS;
    while (down.unsure.length > 0 && clock.now() < recheckUntil) {
      await clock.sleep(debounceMs, abort.signal);
      // Events that came meanwhile (a restart policy's start) belong to this burst.
      events.push(...watch.pending);
      watch.pending = [];
      down = await observeDown(stack, events);
    }
    if (down.unsure.length > 0) {
      logger.warn(
        { stack, containers: down.unsure.map((s) => s.name) },
        'listing still shows containers running that died; trusting the events',
      );
      down = { ...down, stopped: [...down.stopped, ...down.unsure], unsure: [] };
    }
    return down;
  }

  async function flush(stack: string): Promise<void> {
    const watch = watchOf(stack);
    const events = watch.pending;
    watch.pending = [];
    if (stopped || events.length === 0) return;
    const before = store.getStack(stack);
    if (before !== undefined && limited(watch, before)) {
      logger.warn({ stack }, 'repair limit reached; drift left alone');
      return;
    }
    const down = await settleBurst(stack, watch, events);
    if (nothingDown(down)) {
      logger.debug({ stack, events: events.length }, 'containers up again; nothing to repair');
      return;
    }
    // Checked after observing: berth may have started deploying, or someone suspended it.
    const record = store.getStack(stack);
    const why = ignoreReason(record, deps.isBusy(stack));
    if (why !== undefined || record?.running === undefined) {
      logger.debug({ stack, why }, 'drift left alone');
      return;
    }
    await repairWithinBudget(stack, watch, record.running, down);
  }

  async function repairWithinBudget(
    stack: string,
    watch: StackWatch,
    ref: VersionRef,
    down: DownContainers,
  ): Promise<void> {
    const drift = describeDown(down);
    const now = clock.now();
    watch.repairs = watch.repairs.filter((at) => at > now - windowMs);
    if (watch.repairs.length >= maxRepairs) {
      markBroken(stack, watch, ref, drift, now);
      return;
    }
    watch.repairs.push(now);
    const count = watch.repairs.length;
    const reason = `drift: ${drift}`;
    logger.warn({ stack, drift, repairs: count, maxRepairs }, 'drift detected; repairing');
    store.recordHealth({
      ...ref,
      stack,
      health: 'unhealthy',
      detail: `${reason}; repair ${count}/${maxRepairs} within ${Math.round(windowMs / 1000)}s`,
    });
    watch.repairing = true;
    let healed = false;
    let failure: unknown;
    try {
      healed = await deps.repair(stack, {
        stopped: down.stopped.map((s) => s.id),
        removed: down.removed.map((s) => s.name),
        unhealthy: down.unhealthy.map((s) => s.id),
        reason,
      });
    } catch (err) {
      failure = err;
    } finally {
      watch.repairing = false;
      // Stops and removals of the repair itself are still on their way through the stream.
      watch.ignoreBefore = clock.now();
      watch.pending = [];
    }
    if (healed) {
      logger.info({ stack, drift, repairs: count }, 'stack healed');
      deps.onHealed?.({ stack, reason, repairs: count });
    } else {
      logger.error(
        { stack, drift, err: failure === undefined ? undefined : describeError(failure) },
        'repair failed',
      );
    }
  }

  function markBroken(
    stack: string,
    watch: StackWatch,
    ref: VersionRef,
    drift: string,
    now: number,
  ): void {
    const message = `${drift}: more than ${maxRepairs} repairs within ${Math.round(windowMs / 1000)}s; not repairing until the version changes or the stack is resumed`;
    watch.broken = { version: ref.version, at: now };
    store.upsertStack(stack, { state: 'BROKEN', health: 'unhealthy' });
    setStatus(store, stack, repairLimitReached(message));
    store.recordHealth({ ...ref, stack, health: 'unhealthy', detail: `BROKEN: ${message}` });
    logger.error(
      { stack, drift, repairs: watch.repairs.length, windowMs },
      'repair limit reached; stack BROKEN',
    );
    deps.onBroken?.({ stack, reason: message, repairs: watch.repairs.length, windowMs });
  }

  return {
    async start(): Promise<void> {
      if (subscription !== undefined) return;
      stopped = false;
      abort = new AbortController();
      // A limit reached before a restart still holds: the store remembers it.
      for (const record of store.listStacks()) {
        if (!isRepairLimited(record.conditions)) continue;
        const stalled = record.conditions.find((c) => c.type === 'Stalled');
        watchOf(record.name).broken = {
          version: record.running?.version,
          at: Date.parse(stalled?.lastTransitionTime ?? ''),
        };
      }
      subscription = await engine.watchEvents(onEvent);
    },

    async stop(): Promise<void> {
      stopped = true;
      subscription?.close();
      subscription = undefined;
      abort.abort(new Error('healer stopped'));
      await Promise.allSettled([...inFlight]);
    },

    reset(stack: string): void {
      const watch = stacks.get(stack);
      if (watch === undefined) return;
      watch.broken = undefined;
      watch.repairs = [];
    },
  };
}

/** The repair the daemon uses: a `repair` request through the dispatcher, trigger `heal`. */
export function controlRepair(control: Pick<ControlPlane, 'repair'>): RepairFunction {
  return async (stack, context) => {
    const outcome = await control.repair(stack, context, { by: 'heal' });
    return outcome.result === 'repaired';
  };
}
