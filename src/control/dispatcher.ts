import type { Clock } from '../clock.js';
import { BerthError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Reconciler } from '../reconciler/reconciler.js';
import type {
  PreparedRequest,
  ProgressListener,
  StackOutcome,
  StackRequest,
} from '../reconciler/types.js';
import type { StackState, StateStore } from '../state/types.js';
import { createStackQueue, type StackQueue } from './queue.js';

/**
 * The dispatcher: the one door to a stack. Every trigger's work (a pass's plan entry, a
 * rollback, a down, a repair, suspend and resume) is a request into the stack's queue, run one
 * at a time per stack and up to `concurrency` stacks at once. A newer pass's entry replaces
 * one still waiting (the newest revision wins); its waiters get the newer one's outcome.
 */
export interface OutcomeEvent {
  request: StackRequest;
  outcome: StackOutcome;
  /** The stack's state before the request ran. */
  stateBefore?: StackState;
  durationMs: number;
}

export interface DispatcherOptions {
  reconciler: Pick<Reconciler, 'recover' | 'prepare' | 'run'>;
  store: StateStore;
  clock: Clock;
  logger: Logger;
  concurrency: number;
  /** Effects of a finished request: metrics, notifications, backoff. */
  onOutcome?: (event: OutcomeEvent) => void;
  /** A request starts (the backoff tracker uses up a due retry). */
  onStart?: (request: StackRequest) => void;
}

export interface Ticket {
  /** The request's outcome, or of the newer request that replaced it while it waited. */
  outcome: Promise<StackOutcome>;
}

export interface Dispatcher {
  /**
   * Prepares the request (its files copied aside, its deployment opened) and queues it;
   * resolves once it is queued. Preparation errors (no good version, ...) reject here.
   */
  submit(request: StackRequest, options?: { onProgress?: ProgressListener }): Promise<Ticket>;
  /** Whether the stack has a request running or waiting. */
  busy(stack: string): boolean;
  /** Resolves once no request runs or waits. */
  idle(): Promise<void>;
  /** Takes no more requests; waiting ones are dropped, running ones get `graceMs`. */
  stop(options?: { graceMs?: number; hardMs?: number }): Promise<{ aborted: number }>;
}

interface Job {
  request: PreparedRequest;
  onProgress?: ProgressListener;
  waiters: { resolve: (o: StackOutcome) => void; reject: (err: unknown) => void }[];
}

/** Requests a newer one of the same kind supersedes while they wait. */
function supersedes(queued: Job, next: Job): boolean {
  const kind = queued.request.work.kind;
  return kind === next.request.work.kind && (kind === 'apply' || kind === 'repair');
}

export function createDispatcher(options: DispatcherOptions): Dispatcher {
  const { reconciler, store, clock, logger } = options;
  let stopped = false;
  const queue: StackQueue<Job> = createStackQueue<Job>({
    concurrency: options.concurrency,
    replaces: supersedes,
    run: runJob,
    onStart: (_stack, job) => {
      job.request.deployment?.triggered();
      options.onStart?.(job.request);
    },
    onDiscard: (_stack, job, why) => discard(job, why),
    onSettled: (stack, _job, pending) => settle(stack, pending),
  });

  async function runJob(stack: string, job: Job, signal: AbortSignal): Promise<void> {
    const stateBefore = store.getStack(stack)?.state;
    const startedAt = clock.now();
    try {
      const outcome = await reconciler.run(job.request, { signal, onProgress: job.onProgress });
      for (const waiter of job.waiters) waiter.resolve(outcome);
      const durationMs = clock.now() - startedAt;
      options.onOutcome?.({ request: job.request, outcome, stateBefore, durationMs });
    } catch (err) {
      logger.warn({ stack, kind: job.request.work.kind, err }, 'request failed');
      for (const waiter of job.waiters) waiter.reject(err);
    }
  }

  /** A request that will never run: its deployment is closed and its files released. */
  function discard(job: Job, why: 'replaced' | 'stopped'): void {
    const message = why === 'replaced' ? 'superseded by a newer revision' : 'berth stopped';
    try {
      job.request.deployment?.finish({ state: 'DONE', result: 'skipped', message });
    } catch (err) {
      logger.warn({ err, stack: job.request.stack }, 'recording a skipped request failed');
    }
    void job.request.release();
    if (why === 'stopped') {
      for (const waiter of job.waiters) waiter.reject(new BerthError('ShuttingDown', message));
    }
    logger.debug({ stack: job.request.stack, why }, 'queued request discarded');
  }

  /** Seed 001: STABLE right after a deployment completed, AVAILABLE once nothing more waits. */
  function settle(stack: string, pending: boolean): void {
    if (pending) return;
    try {
      if (store.getStack(stack)?.state === 'STABLE')
        store.upsertStack(stack, { state: 'AVAILABLE' });
    } catch (err) {
      logger.warn({ stack, err }, 'settling the stack state failed');
    }
  }

  async function submit(
    request: StackRequest,
    submitOptions: { onProgress?: ProgressListener } = {},
  ): Promise<Ticket> {
    if (stopped) throw new BerthError('ShuttingDown', 'berth is shutting down');
    await reconciler.recover();
    const prepared = await reconciler.prepare(request);
    let resolve!: (o: StackOutcome) => void;
    let reject!: (err: unknown) => void;
    const outcome = new Promise<StackOutcome>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    const job: Job = {
      request: prepared,
      onProgress: submitOptions.onProgress,
      waiters: [{ resolve, reject }],
    };
    if (queue.isRunning(request.stack)) prepared.deployment?.waiting();
    const replaced = queue.enqueue(request.stack, job);
    if (replaced !== undefined) job.waiters.unshift(...replaced.waiters);
    return { outcome };
  }

  return {
    submit,
    busy: (stack) => queue.busy(stack),
    idle: () => queue.idle(),
    async stop(stopOptions) {
      stopped = true;
      return queue.stop(stopOptions);
    },
  };
}
