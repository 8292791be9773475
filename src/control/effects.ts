import type { Clock } from '../clock.js';
import { SourceError } from '../errors.js';
import type { Logger } from '../log.js';
import type { NotificationEvent } from '../notify/format.js';
import type { Notifier } from '../notify/notifier.js';
import type { NotificationEventName } from '../notify/schema.js';
import type { SourceResult, StackOutcome } from '../reconciler/types.js';
import type { Metrics } from '../server/metrics.js';
import type { StateStore } from '../state/types.js';
import { createRetryTracker, type BackoffPolicy, type RetryTracker } from './backoff.js';
import type { OutcomeEvent } from './dispatcher.js';

/**
 * The sync's key in the retry tracker, and each source's (`SOURCE_KEY:name`): stack names
 * cannot start with NUL.
 */
const SOURCE_KEY = '\u0000source';

function sourceKey(name: string): string {
  return `${SOURCE_KEY}:${name}`;
}

/** What is due again after a backoff: a stack's version, a source's sync, or the whole sync. */
export interface RetryDue {
  stack?: string;
  /** The source to sync again; also set for a stack whose record names its source. */
  source?: string;
}

/** One source's last sync as the daemon saw it (in memory: a restart starts afresh). */
export interface SourceSyncStatus {
  name: string;
  /** When the last sync ended (ISO). */
  at: string;
  ok: boolean;
  /** The commit its stacks are read from: the synced one, or after a failure the last fetched. */
  commit?: string;
  error?: { reason: string; message: string };
  /** The last sync that succeeded. */
  lastOk?: { at: string; commit?: string };
  /** Syncs failed in a row (0 after a success). */
  failures: number;
}

/** A pass's sync ended: `error` when it failed or a source kept its old revision. */
export interface SyncObservation {
  durationMs: number;
  error?: unknown;
  /** Each source the pass synced; a pass that failed before syncing has none. */
  sources?: readonly SourceResult[];
}

/**
 * What follows a finished request or a sync, in one place: metrics, notifications and the
 * retry backoff (5 s doubling to 5 min for transient failures; a version that failed for good
 * waits for a new version).
 */
export interface Effects {
  outcome(event: OutcomeEvent): void;
  /** Sends a notification not tied to a request's outcome (the healer's healed and broken). */
  notify(event: NotificationEvent): void;
  /**
   * A pass's sync ended. Each source's result sets its status and metrics; a source that
   * fails notifies once per failure streak, and once more when it syncs again.
   */
  sync(observation: SyncObservation): void;
  /** Every source's last sync seen since start, in the order first seen. */
  sourceStatus(): SourceSyncStatus[];
  /** Whether a pass may deploy `version` of `stack` now (not waiting out a backoff). */
  allowed(stack: string, version: string): boolean;
  /** A request for `version` starts: a due retry is used up. */
  attempting(stack: string, version: string): void;
  /** Resolves once every notification sent so far was delivered (or gave up). */
  flush(): Promise<void>;
  /** Cancels retry timers (shutdown). */
  stop(): void;
}

export interface EffectsOptions {
  store: StateStore;
  clock: Clock;
  logger: Logger;
  notifier: Notifier;
  metrics?: Metrics;
  backoff?: BackoffPolicy;
  /** A retry is due: the daemon syncs again (only `due.source` when it names one). */
  onRetryDue?: (due: RetryDue) => void;
}

export function createEffects(options: EffectsOptions): Effects {
  const { store, logger, metrics } = options;
  const pending = new Set<Promise<void>>();
  let stopping = false;
  const retries: RetryTracker = createRetryTracker({
    clock: options.clock,
    policy: options.backoff,
    onDue: (key) => {
      const due = dueOf(key);
      logger.info(due, 'retrying after backoff');
      options.onRetryDue?.(due);
    },
  });
  const sources = new Map<string, SourceSyncStatus>();

  function dueOf(key: string): RetryDue {
    if (key === SOURCE_KEY) return {};
    if (key.startsWith(`${SOURCE_KEY}:`)) return { source: key.slice(SOURCE_KEY.length + 1) };
    const source = store.getStack(key)?.source;
    return source === undefined ? { stack: key } : { stack: key, source };
  }

  function notify(event: NotificationEvent): void {
    const sent = options.notifier.notify(event);
    pending.add(sent);
    void sent.finally(() => pending.delete(sent));
  }

  function notifyOutcome(
    event: NotificationEventName,
    outcome: StackOutcome,
    trigger: string,
  ): void {
    notify({
      event,
      stack: outcome.stack,
      source: store.getStack(outcome.stack)?.source,
      version: outcome.version,
      message: outcome.message,
      deploymentId: outcome.deploymentId,
      trigger,
    });
  }

  function noteFailure(stack: string, version: string, outcome: StackOutcome): void {
    if (stopping) return;
    const decision = retries.fail(stack, version, outcome.outcome === 'retry-later');
    if (decision.kind === 'retry') {
      logger.warn(
        { stack, version, attempt: decision.attempt, delayMs: decision.delayMs },
        'stack failed; retrying with backoff',
      );
    } else {
      logger.warn(
        { stack, version, decision: decision.kind },
        'stack failed; not retried until its version changes',
      );
    }
  }

  function outcome({ request, outcome: result, stateBefore, durationMs }: OutcomeEvent): void {
    const { stack } = result;
    const kind = request.work.kind;
    const trigger = request.trigger.by;
    const version = result.version ?? '';
    const fromPass = kind === 'apply';
    // Written before the outcome arrives: the stack as the request left it.
    const record = store.getStack(stack);
    switch (result.result) {
      case 'deployed':
        retries.clear(stack);
        metrics?.observeDeployment({
          stack,
          result: 'succeeded',
          durationMs,
          manualRollback: kind === 'rollback',
        });
        notifyOutcome('deploy-succeeded', result, trigger);
        if (stateBefore === 'BROKEN') notifyOutcome('healed', result, trigger);
        break;
      case 'rolled-back':
        metrics?.observeDeployment({ stack, result: 'rolled-back', durationMs });
        notifyOutcome('rolled-back', result, trigger);
        if (store.isBad(stack, version) !== undefined) notifyOutcome('marked-bad', result, trigger);
        if (fromPass) noteFailure(stack, version, result);
        break;
      case 'failed':
        // A repair's failure is the healer's to report, with its budget.
        if (result.deploymentId !== undefined && kind !== 'repair') {
          metrics?.observeDeployment({ stack, result: 'failed', durationMs });
          notifyOutcome('deploy-failed', result, trigger);
          if (record?.state === 'BROKEN') notifyOutcome('broken', result, trigger);
        }
        if (fromPass) noteFailure(stack, version, result);
        break;
      case 'removed':
        retries.clear(stack);
        metrics?.removeStack(stack);
        return;
      default:
        break;
    }
    if (record !== undefined) metrics?.setStackStatus(record);
  }

  function backOff(key: string, error: unknown, source: string | undefined): void {
    if (stopping) return;
    const transient = !(error instanceof SourceError) || error.transient;
    const decision = retries.fail(key, 'source', transient);
    if (decision.kind === 'retry') {
      logger.warn(
        { source, attempt: decision.attempt, delayMs: decision.delayMs },
        'source unavailable; retrying with backoff',
      );
    }
  }

  function sync({ durationMs, error, sources: results }: SyncObservation): void {
    metrics?.observeSync({ durationMs, ok: error === undefined });
    if (results === undefined || results.length === 0) {
      if (error === undefined) retries.clear(SOURCE_KEY);
      else backOff(SOURCE_KEY, error, undefined);
      return;
    }
    retries.clear(SOURCE_KEY);
    for (const result of results) sourceSynced(result);
  }

  /** One source's sync: status, metrics, backoff, and a notice when its streak starts or ends. */
  function sourceSynced(result: SourceResult): void {
    const { name, error } = result;
    const now = options.clock.now();
    const at = new Date(now).toISOString();
    const before = sources.get(name);
    const commit = result.revision?.commit;
    const status: SourceSyncStatus = {
      name,
      at,
      ok: error === undefined,
      ...(commit === undefined ? {} : { commit }),
      ...(error === undefined ? {} : { error: { reason: error.reason, message: error.message } }),
      ...(error === undefined
        ? { lastOk: { at, ...(commit === undefined ? {} : { commit }) } }
        : before?.lastOk === undefined
          ? {}
          : { lastOk: before.lastOk }),
      failures: error === undefined ? 0 : (before?.failures ?? 0) + 1,
    };
    sources.set(name, status);
    metrics?.observeSourceSync({ source: name, ok: status.ok, at: now });
    if (error === undefined) {
      retries.clear(sourceKey(name));
      if ((before?.failures ?? 0) > 0 && !stopping) {
        notify({
          event: 'source-recovered',
          source: name,
          commit,
          message: `source ${name} synced again after ${before?.failures ?? 0} failed syncs`,
        });
      }
      return;
    }
    backOff(sourceKey(name), error, name);
    if (status.failures === 1 && !stopping) {
      notify({ event: 'source-failed', source: name, commit, message: error.message });
    }
  }

  return {
    outcome,
    notify,
    sync,
    sourceStatus: () => [...sources.values()],
    allowed: (stack, version) => retries.allowed(stack, version),
    attempting: (stack, version) => retries.attempting(stack, version),
    async flush() {
      await Promise.allSettled([...pending]);
    },
    stop() {
      stopping = true;
      retries.cancelAll();
    },
  };
}
