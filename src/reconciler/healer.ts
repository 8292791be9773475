import type { Clock } from '../clock.js';
import type {
  ContainerEngine,
  EventSubscription,
  ManagedContainerEvent,
  ObservedContainer,
} from '../engine/types.js';
import { describeError } from '../errors.js';
import type { Logger } from '../log.js';
import type { StackRecord, StateStore } from '../state/types.js';
import type { Reconciler } from './types.js';

/** Condition reason of a stack the healer gave up on. */
export const REPAIR_LIMIT_REASON = 'RepairLimitReached';

/** What the healer found when it decided to repair. */
export interface RepairContext {
  /** Containers stopped out of band that still exist: starting them restores them. */
  stopped: string[];
  /** Containers removed out of band (names): only a redeploy restores them. */
  removed: string[];
}

export type RepairFunction = (
  stack: string,
  reason: string,
  context: RepairContext,
) => Promise<boolean>;

export interface HealEvent {
  stack: string;
  reason: string;
  /** Repairs counted in the window, this one included. */
  repairs: number;
}

export interface BrokenEvent {
  stack: string;
  reason: string;
  repairs: number;
  windowMs: number;
}

export interface HealerDeps {
  engine: Pick<ContainerEngine, 'watchEvents' | 'observe'>;
  store: StateStore;
  clock: Clock;
  logger: Logger;
  /** Restores the stack; true when it is healed. */
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

/** Actions that can leave a managed container down. */
const DOWN_ACTIONS = new Set(['die', 'stop', 'kill', 'oom', 'destroy']);
/** Followed within a burst, so a restart (by a restart policy, say) is not taken for drift. */
const UP_ACTIONS = new Set(['start', 'restart']);
/**
 * How long a burst is checked again while Docker's listing still shows a container running
 * that its events said died (the listing lags, more so on a loaded host). Past it, the events
 * are trusted: a restart would have sent a start event.
 */
const RECHECK_BUDGET_MS = 10_000;
const UP_STATES = new Set(['running', 'restarting', 'paused']);

interface Suspect {
  id: string;
  name: string;
  service: string;
  /** A stop, kill or oom was seen: an exit 0 afterwards is not a one-shot finishing. */
  forced: boolean;
  destroyed: boolean;
  /** The burst's last lifecycle event took the container down (die, stop, destroy). */
  lastDown: boolean;
}

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

function suspectsOf(events: ManagedContainerEvent[]): Suspect[] {
  const byId = new Map<string, Suspect>();
  for (const event of events) {
    const suspect = byId.get(event.containerId) ?? {
      id: event.containerId,
      name: event.containerName,
      service: event.service,
      forced: false,
      destroyed: false,
      lastDown: false,
    };
    if (event.action === 'die' || event.action === 'stop' || event.action === 'destroy') {
      suspect.lastDown = true;
    }
    if (UP_ACTIONS.has(event.action)) suspect.lastDown = false;
    if (event.action === 'stop' || event.action === 'kill' || event.action === 'oom') {
      suspect.forced = true;
    }
    if (event.action === 'die' && event.exitCode !== undefined && event.exitCode !== 0) {
      suspect.forced = true;
    }
    if (event.action === 'destroy') suspect.destroyed = true;
    byId.set(event.containerId, suspect);
  }
  return [...byId.values()];
}

/**
 * Restores a stack's containers after events from Docker said they went down out of band.
 * Acts only after checking Docker again: a restart policy, a one-shot finishing or berth's own
 * deploy leave nothing to do. Repairs are counted per stack in a sliding window on the Clock;
 * past the limit the stack is BROKEN and left alone until its version changes or it is resumed.
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

  /** Why events for the stack are ignored right now, or undefined when they count. */
  function ignoreReason(stack: string, record: StackRecord | undefined): string | undefined {
    if (record === undefined) return 'unknown stack';
    if (record.suspended) return 'suspended';
    if (record.running === undefined) return 'nothing deployed';
    if (deps.isBusy(stack)) return 'busy';
    return undefined;
  }

  function resumedSince(record: StackRecord, at: number): boolean {
    const ready = record.conditions.find((c) => c.type === 'Ready');
    return ready?.reason === 'Resumed' && Date.parse(ready.lastTransitionTime) >= at;
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
    // Starts only matter inside a burst that a down event opened.
    if (!DOWN_ACTIONS.has(event.action) && !(UP_ACTIONS.has(event.action) && watch.debouncing)) {
      return;
    }
    if (watch.repairing || event.at < watch.ignoreBefore) return;
    const why = ignoreReason(stack, store.getStack(stack));
    if (why !== undefined) {
      logger.debug(
        { stack, action: event.action, container: event.containerName, why },
        'event ignored',
      );
      return;
    }
    watch.pending.push(event);
    logger.debug({ stack, action: event.action, container: event.containerName }, 'event queued');
    if (!watch.debouncing) schedule(stack, watch);
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
          // Down events that came while the burst was checked start the next one.
          if (!stopped && watch.pending.some((e) => DOWN_ACTIONS.has(e.action))) {
            schedule(stack, watch);
          } else {
            watch.pending = [];
          }
        }),
    );
  }

  function track(work: Promise<void>): void {
    inFlight.add(work);
    void work.finally(() => inFlight.delete(work));
  }

  /** Compares the burst with what Docker reports now; returns what is still down. */
  function stillDown(
    suspects: Suspect[],
    containers: ObservedContainer[],
  ): { stopped: Suspect[]; removed: Suspect[]; unsure: Suspect[] } {
    const byId = new Map(containers.map((c) => [c.id, c]));
    const byName = new Map(containers.map((c) => [c.name, c]));
    const down = { stopped: [] as Suspect[], removed: [] as Suspect[], unsure: [] as Suspect[] };
    for (const suspect of suspects) {
      const current = byId.get(suspect.id);
      if (current === undefined) {
        // Someone (berth's deploy, compose) may have created its replacement already.
        const replacement = byName.get(suspect.name);
        if (replacement === undefined || !UP_STATES.has(replacement.state)) {
          down.removed.push(suspect);
        }
        continue;
      }
      if (UP_STATES.has(current.state)) {
        // Docker's listing can still say running just after it reported the container died.
        if (suspect.lastDown) down.unsure.push(suspect);
        continue;
      }
      // A one-shot service that finished cleanly by itself is where it should be.
      if (current.state === 'exited' && current.exitCode === 0 && !suspect.forced) continue;
      down.stopped.push(suspect);
    }
    return down;
  }

  function describe(down: { stopped: Suspect[]; removed: Suspect[] }): string {
    return [
      ...down.stopped.map((s) => `container ${s.name} stopped`),
      ...down.removed.map((s) => `container ${s.name} removed`),
    ].join('; ');
  }

  async function observeDown(
    stack: string,
    events: ManagedContainerEvent[],
  ): Promise<{ stopped: Suspect[]; removed: Suspect[]; unsure: Suspect[] }> {
    const observed = await engine.observe(stack);
    const containers = Object.values(observed.services).flatMap((s) => s.containers);
    return stillDown(suspectsOf(events), containers);
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
    if (down.stopped.length === 0 && down.removed.length === 0) {
      logger.debug({ stack, events: events.length }, 'containers up again; nothing to repair');
      return;
    }
    // Checked after observing: berth may have started deploying, or someone suspended it.
    const record = store.getStack(stack);
    const why = ignoreReason(stack, record);
    if (why !== undefined || record?.running === undefined) {
      logger.debug({ stack, why }, 'drift left alone');
      return;
    }
    const drift = describe(down);
    const ref = record.running;
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
      stack,
      version: ref.version,
      commit: ref.commit,
      health: 'unhealthy',
      detail: `${reason}; repair ${count}/${maxRepairs} within ${Math.round(windowMs / 1000)}s`,
    });
    watch.repairing = true;
    let healed = false;
    let failure: unknown;
    try {
      healed = await deps.repair(stack, reason, {
        stopped: down.stopped.map((s) => s.id),
        removed: down.removed.map((s) => s.name),
      });
    } catch (err) {
      failure = err;
    } finally {
      watch.repairing = false;
      // Stops and removals of the repair itself are still on their way through the stream.
      watch.ignoreBefore = clock.now();
      watch.pending = [];
    }
    const detail = healed
      ? `repaired: ${drift}`
      : `repair failed: ${failure === undefined ? 'stack not healthy after repair' : describeError(failure)}`;
    store.recordHealth({
      stack,
      version: ref.version,
      commit: ref.commit,
      health: healed ? 'healthy' : 'unhealthy',
      detail,
    });
    if (healed) {
      logger.info({ stack, drift, repairs: count }, 'stack healed');
      deps.onHealed?.({ stack, reason, repairs: count });
    } else {
      logger.error({ stack, drift, err: failure }, 'repair failed');
    }
  }

  function markBroken(
    stack: string,
    watch: StackWatch,
    ref: { version: string; commit: string },
    drift: string,
    now: number,
  ): void {
    const message = `${drift}: more than ${maxRepairs} repairs within ${Math.round(windowMs / 1000)}s; not repairing until the version changes or the stack is resumed`;
    watch.broken = { version: ref.version, at: now };
    store.upsertStack(stack, { state: 'BROKEN', health: 'unhealthy' });
    store.setCondition(stack, {
      type: 'Stalled',
      status: 'True',
      reason: REPAIR_LIMIT_REASON,
      message,
    });
    store.setCondition(stack, {
      type: 'Ready',
      status: 'False',
      reason: REPAIR_LIMIT_REASON,
      message,
    });
    store.recordHealth({
      stack,
      version: ref.version,
      commit: ref.commit,
      health: 'unhealthy',
      detail: `BROKEN: ${message}`,
    });
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
        const stalled = record.conditions.find((c) => c.type === 'Stalled');
        if (stalled?.status === 'True' && stalled.reason === REPAIR_LIMIT_REASON) {
          watchOf(record.name).broken = {
            version: record.running?.version,
            at: Date.parse(stalled.lastTransitionTime),
          };
        }
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

/**
 * The repair the daemon uses: start containers stopped out of band (the reconciler's drift
 * check takes a cleanly exited container for a finished one-shot, and a `docker stop` of a
 * process that traps SIGTERM exits 0), then one reconcile pass for the stack with trigger
 * `heal`, which redeploys it when containers are missing or still down.
 */
export function reconcilerRepair(deps: {
  reconciler: Pick<Reconciler, 'reconcileOnce'>;
  engine: Pick<ContainerEngine, 'start'>;
}): RepairFunction {
  return async (stack, _reason, context) => {
    if (context.stopped.length > 0) {
      await deps.engine.start(stack, { containerIds: context.stopped });
    }
    const pass = await deps.reconciler.reconcileOnce({ stacks: [stack], trigger: 'heal' });
    const outcome = pass.stacks.find((s) => s.stack === stack);
    return (
      outcome !== undefined && (outcome.result === 'deployed' || outcome.result === 'unchanged')
    );
  };
}
