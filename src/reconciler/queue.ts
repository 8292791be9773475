/**
 * Per-stack queues (seed 001): one job running and one waiting per stack, several stacks in
 * parallel up to a global limit. A newer job replaces the waiting one: the newest revision
 * wins and the replaced job is handed back so its bookkeeping can be closed.
 */
export interface StackQueueOptions<T> {
  concurrency: number;
  run: (key: string, job: T, signal: AbortSignal) => Promise<void>;
  /** A waiting job that will never run: replaced by a newer one, or dropped at stop. */
  onDiscard?: (key: string, job: T, why: 'replaced' | 'stopped') => void;
  /** A job left the waiting slot and starts now. */
  onStart?: (key: string, job: T) => void;
  /** A job finished (whatever its outcome); `pending` tells whether another one waits. */
  onSettled?: (key: string, job: T, pending: boolean) => void;
}

export interface StackQueue<T> {
  /** Queues `job` for `key`; returns the waiting job it replaced, if any. */
  enqueue(key: string, job: T): T | undefined;
  isRunning(key: string): boolean;
  pendingJob(key: string): T | undefined;
  /** Whether the key has a job running or waiting. */
  busy(key: string): boolean;
  runningCount(): number;
  pendingCount(): number;
  /** Resolves once nothing runs and nothing waits. */
  idle(): Promise<void>;
  /**
   * Stops: waiting jobs are discarded, running ones get `graceMs` to finish before their
   * signal aborts; resolves when none runs any more (or `hardMs` after the abort).
   */
  stop(options?: { graceMs?: number; hardMs?: number }): Promise<{ aborted: number }>;
}

/** A FIFO of keys with a waiting job; a key never runs two jobs at once. */
export function createStackQueue<T>(options: StackQueueOptions<T>): StackQueue<T> {
  const limit = Math.max(1, Math.floor(options.concurrency));
  const pending = new Map<string, T>();
  const running = new Map<string, { job: T; controller: AbortController; done: Promise<void> }>();
  const order: string[] = [];
  let stopped = false;
  let idleWaiters: (() => void)[] = [];

  function notifyIdle(): void {
    if (running.size > 0 || pending.size > 0) return;
    const waiters = idleWaiters;
    idleWaiters = [];
    for (const resolve of waiters) resolve();
  }

  function pump(): void {
    while (!stopped && running.size < limit) {
      const index = order.findIndex((key) => !running.has(key));
      if (index < 0) break;
      const key = order.splice(index, 1)[0] as string;
      const job = pending.get(key);
      pending.delete(key);
      if (job === undefined) continue;
      start(key, job);
    }
    notifyIdle();
  }

  function start(key: string, job: T): void {
    const controller = new AbortController();
    options.onStart?.(key, job);
    const done = (async (): Promise<void> => {
      try {
        await options.run(key, job, controller.signal);
      } catch {
        // `run` owns its errors; a throw here must not wedge the stack's queue.
      } finally {
        running.delete(key);
        options.onSettled?.(key, job, pending.has(key));
        pump();
      }
    })();
    running.set(key, { job, controller, done });
  }

  function enqueue(key: string, job: T): T | undefined {
    if (stopped) {
      options.onDiscard?.(key, job, 'stopped');
      return undefined;
    }
    const replaced = pending.get(key);
    pending.set(key, job);
    if (replaced === undefined) order.push(key);
    else options.onDiscard?.(key, replaced, 'replaced');
    pump();
    return replaced;
  }

  async function stop(stopOptions: { graceMs?: number; hardMs?: number } = {}): Promise<{
    aborted: number;
  }> {
    stopped = true;
    for (const [key, job] of pending) options.onDiscard?.(key, job, 'stopped');
    pending.clear();
    order.length = 0;
    const all = (): Promise<void> =>
      Promise.all([...running.values()].map((r) => r.done)).then(() => undefined);
    const finished = await race(all(), stopOptions.graceMs ?? 60_000);
    let aborted = 0;
    if (!finished) {
      for (const entry of running.values()) {
        entry.controller.abort(new Error('berth is shutting down'));
        aborted++;
      }
      await race(all(), stopOptions.hardMs ?? 10_000);
    }
    notifyIdle();
    return { aborted };
  }

  return {
    enqueue,
    isRunning: (key) => running.has(key),
    pendingJob: (key) => pending.get(key),
    busy: (key) => running.has(key) || pending.has(key),
    runningCount: () => running.size,
    pendingCount: () => pending.size,
    idle: () =>
      running.size === 0 && pending.size === 0
        ? Promise.resolve()
        : new Promise<void>((resolve) => idleWaiters.push(resolve)),
    stop,
  };
}

/** true when `promise` settled within `ms`. */
async function race(promise: Promise<void>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([promise.then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
