import { schedule as scheduleCron, type ScheduledTask } from 'node-cron';

export interface CronTrigger {
  stop(): void;
}

/** The ms between two runs of a cron expression, to size the jitter. */
function intervalOf(task: ScheduledTask): number | undefined {
  const [a, b] = task.getNextRuns(2);
  return a === undefined || b === undefined ? undefined : b.getTime() - a.getTime();
}

/**
 * Calls `onTick` on the cron schedule, each time after a random delay of up to `maxJitterMs`
 * (default: a tenth of the interval, at most 5 s), so many hosts do not fetch at once.
 */
export function startCron(
  expression: string,
  onTick: () => void,
  options: { maxJitterMs?: number } = {},
): CronTrigger {
  const timers = new Set<NodeJS.Timeout>();
  let jitterMs = options.maxJitterMs;
  const task = scheduleCron(
    expression,
    () => {
      const timer = setTimeout(
        () => {
          timers.delete(timer);
          onTick();
        },
        Math.floor(Math.random() * (jitterMs ?? 0)),
      );
      timers.add(timer);
    },
    { name: 'berth-sync', noOverlap: false },
  );
  jitterMs ??= Math.min(5_000, Math.floor((intervalOf(task) ?? 60_000) / 10));
  return {
    stop() {
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      void task.stop();
      void task.destroy();
    },
  };
}
