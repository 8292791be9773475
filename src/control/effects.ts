import type { Clock } from '../clock.js';
import { SourceError } from '../errors.js';
import type { Logger } from '../log.js';
import type { NotificationEvent } from '../notify/format.js';
import type { Notifier } from '../notify/notifier.js';
import type { NotificationEventName } from '../notify/schema.js';
import type { StackOutcome } from '../reconciler/types.js';
import type { Metrics } from '../server/metrics.js';
import type { StateStore } from '../state/types.js';
import { createRetryTracker, type BackoffPolicy, type RetryTracker } from './backoff.js';
import type { OutcomeEvent } from './dispatcher.js';

/** The source's key in the retry tracker: stack names cannot start with NUL. */
const SOURCE_KEY = '\u0000source';

/**
 * What follows a finished request or a sync, in one place: metrics, notifications and the
 * retry backoff (5 s doubling to 5 min for transient failures; a version that failed for good
 * waits for a new version).
 */
export interface Effects {
  outcome(event: OutcomeEvent): void;
  /** Sends a notification not tied to a request's outcome (the healer's healed and broken). */
  notify(event: NotificationEvent): void;
  /** A pass's sync ended: `error` when it failed outright, `sourceError` when it kept the old revision. */
  sync(observation: { durationMs: number; error?: unknown }): void;
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
  /** A retry is due: the daemon syncs again. */
  onRetryDue?: () => void;
}

export function createEffects(options: EffectsOptions): Effects {
  const { store, logger, metrics } = options;
  const pending = new Set<Promise<void>>();
  let stopping = false;
  const retries: RetryTracker = createRetryTracker({
    clock: options.clock,
    policy: options.backoff,
    onDue: (key) => {
      logger.info({ stack: key === SOURCE_KEY ? undefined : key }, 'retrying after backoff');
      options.onRetryDue?.();
    },
  });

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

  function sync({ durationMs, error }: { durationMs: number; error?: unknown }): void {
    metrics?.observeSync({ durationMs, ok: error === undefined });
    if (error === undefined) {
      retries.clear(SOURCE_KEY);
      return;
    }
    if (stopping) return;
    const transient = !(error instanceof SourceError) || error.transient;
    const decision = retries.fail(SOURCE_KEY, 'source', transient);
    if (decision.kind === 'retry') {
      logger.warn(
        { attempt: decision.attempt, delayMs: decision.delayMs },
        'source unavailable; retrying with backoff',
      );
    }
  }

  return {
    outcome,
    notify,
    sync,
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
