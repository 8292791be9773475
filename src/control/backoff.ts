import type { Clock } from '../clock.js';

/** Retry delays: `initialMs`, doubling, capped at `maxMs`; `maxAttempts` retries in all. */
export interface BackoffPolicy {
  initialMs: number;
  factor: number;
  maxMs: number;
  maxAttempts: number;
}

/**
 * 5 s doubling to 5 min: 5, 10, 20, 40, 80, 160, 300 s. Seven retries reach the cap; after
 * the one at the cap the failure waits for a new version instead of retrying forever.
 */
export const DEFAULT_BACKOFF: BackoffPolicy = {
  initialMs: 5_000,
  factor: 2,
  maxMs: 300_000,
  maxAttempts: 7,
};

/** Delay before retry number `attempt` (1-based), or undefined once the retries are spent. */
export function backoffDelay(
  attempt: number,
  policy: BackoffPolicy = DEFAULT_BACKOFF,
): number | undefined {
  if (!Number.isInteger(attempt) || attempt < 1 || attempt > policy.maxAttempts) return undefined;
  return Math.min(policy.maxMs, policy.initialMs * policy.factor ** (attempt - 1));
}

/** What the tracker decided about one failure. */
export type RetryDecision =
  | { kind: 'retry'; attempt: number; delayMs: number }
  | { kind: 'gave-up'; attempts: number }
  | { kind: 'terminal' };

export interface RetryState {
  version: string;
  attempts: number;
  /** A retry timer is running. */
  waiting: boolean;
  /** The timer fired: the next sync may deploy this version once more. */
  due: boolean;
  /** No more retries until the version changes (terminal failure or retries spent). */
  stopped: boolean;
}

export interface RetryTracker {
  /**
   * Records a failure of `key` at `version`. Transient failures get a timer that calls
   * `onDue(key)`; terminal ones and spent retries stop the key until its version changes.
   */
  fail(key: string, version: string, transient: boolean): RetryDecision;
  /** Whether `version` of `key` may be attempted now (no timer running, not stopped). */
  allowed(key: string, version: string): boolean;
  /** Called when an attempt starts: a due retry is used up. */
  attempting(key: string, version: string): void;
  /** A success (or a new version) clears everything known about the key. */
  clear(key: string): void;
  state(key: string): RetryState | undefined;
  /** Cancels every timer (shutdown). */
  cancelAll(): void;
}

export interface RetryTrackerOptions {
  clock: Clock;
  onDue: (key: string) => void;
  policy?: BackoffPolicy;
}

/** Keeps failure counts per key and version; timers run on the Clock so tests need not sleep. */
export function createRetryTracker(options: RetryTrackerOptions): RetryTracker {
  const policy = options.policy ?? DEFAULT_BACKOFF;
  const states = new Map<string, RetryState & { timer?: AbortController }>();

  function stateFor(key: string, version: string): RetryState & { timer?: AbortController } {
    const existing = states.get(key);
    if (existing !== undefined && existing.version === version) return existing;
    existing?.timer?.abort();
    const fresh = { version, attempts: 0, waiting: false, due: false, stopped: false };
    states.set(key, fresh);
    return fresh;
  }

  function fail(key: string, version: string, transient: boolean): RetryDecision {
    const state = stateFor(key, version);
    state.due = false;
    if (!transient) {
      state.stopped = true;
      return { kind: 'terminal' };
    }
    const attempt = state.attempts + 1;
    const delayMs = backoffDelay(attempt, policy);
    if (delayMs === undefined) {
      state.stopped = true;
      return { kind: 'gave-up', attempts: state.attempts };
    }
    state.attempts = attempt;
    state.waiting = true;
    state.timer?.abort();
    const timer = new AbortController();
    state.timer = timer;
    options.clock.sleep(delayMs, timer.signal).then(
      () => {
        if (states.get(key) !== state || state.timer !== timer) return;
        state.waiting = false;
        state.due = true;
        state.timer = undefined;
        options.onDue(key);
      },
      () => undefined,
    );
    return { kind: 'retry', attempt, delayMs };
  }

  function allowed(key: string, version: string): boolean {
    const state = states.get(key);
    if (state === undefined || state.version !== version) return true;
    return !state.stopped && !state.waiting;
  }

  function attempting(key: string, version: string): void {
    const state = states.get(key);
    if (state !== undefined && state.version === version) state.due = false;
  }

  function clear(key: string): void {
    states.get(key)?.timer?.abort();
    states.delete(key);
  }

  function state(key: string): RetryState | undefined {
    const found = states.get(key);
    if (found === undefined) return undefined;
    const { timer: _timer, ...rest } = found;
    return rest;
  }

  function cancelAll(): void {
    for (const s of states.values()) s.timer?.abort();
    states.clear();
  }

  return { fail, allowed, attempting, clear, state, cancelAll };
}
