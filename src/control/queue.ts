/**
 * Per-stack queues (seed 001): one job running per stack, the others waiting in order, several
 * stacks in parallel up to a global limit. A newer job may replace a waiting one it supersedes
 * (the newest revision wins); the replaced job is handed back so its bookkeeping can be closed.
 */
export interface StackQueueOptions<T> {
  concurrency: number;
  run: (key: string, job: T, signal: AbortSignal) => Promise<void>;
  /** Whether `next` supersedes the waiting `queued`; every newer job does by default. */
  replaces?: (queued: T, next: T) => boolean;
  /** A waiting job that will never run: replaced by a newer one, or dropped at stop. */
  onDiscard?: (key: string, job: T, why: 'replaced' | 'stopped') => void;
  /** A job left the waiting line and starts now. */
  onStart?: (key: string, job: T) => void;
  /** A job finished (whatever its outcome); `pending` tells whether another one waits. */
  onSettled?: (key: string, job: T, pending: boolean) => void;
}

export interface StackQueue<T> {
  /** Queues `job` for `key`; returns the waiting job it replaced, if any. */
  enqueue(key: string, job: T): T | undefined;
  isRunning(key: string): boolean;
  /** The newest waiting job of `key`. */
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

interface Running<T> {
  job: T;
  controller: AbortController;
  done: Promise<void>;
}

/** Keys take turns in arrival order; a key never runs two jobs at once. */
export function createStackQueue<T>(options: StackQueueOptions<T>): StackQueue<T> {
  const limit = Math.max(1, Math.floor(options.concurrency));
  const replaces = options.replaces ?? ((): boolean => true);
  const waiting = new Map<string, T[]>();
  const running = new Map<string, Running<T>>();
  const order: string[] = [];
  let stopped = false;
  let idleWaiters: (() => void)[] = [];

  const pendingCount = (): number => [...waiting.values()].reduce((n, l) => n + l.length, 0);

  function notifyIdle(): void {
    if (running.size > 0 || waiting.size > 0) return;
    const waiters = idleWaiters;
    idleWaiters = [];
    for (const resolve of waiters) resolve();
  }

  function take(key: string): T | undefined {
    const list = waiting.get(key);
    const job = list?.shift();
    if (list !== undefined && list.length === 0) waiting.delete(key);
    else if (list !== undefined) order.push(key);
    return job;
  }

  function pump(): void {
    while (!stopped && running.size < limit) {
      const index = order.findIndex((key) => !running.has(key));
      if (index < 0) break;
      const key = order.splice(index, 1)[0] as string;
      const job = take(key);
      if (job !== undefined) start(key, job);
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
        options.onSettled?.(key, job, waiting.has(key));
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
    const list = waiting.get(key) ?? [];
    const index = list.findIndex((queued) => replaces(queued, job));
    const replaced = index < 0 ? undefined : list[index];
    if (replaced !== undefined) {
      list[index] = job;
      options.onDiscard?.(key, replaced, 'replaced');
    } else {
      if (list.length === 0) order.push(key);
      list.push(job);
      waiting.set(key, list);
    }
    pump();
    return replaced;
  }

  async function stop(stopOptions: { graceMs?: number; hardMs?: number } = {}): Promise<{
    aborted: number;
  }> {
    stopped = true;
    for (const [key, list] of waiting)
      for (const job of list) options.onDiscard?.(key, job, 'stopped');
    waiting.clear();
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
    pendingJob: (key) => waiting.get(key)?.at(-1),
    busy: (key) => running.has(key) || waiting.has(key),
    runningCount: () => running.size,
    pendingCount,
    idle: () =>
      running.size === 0 && waiting.size === 0
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
