import { describe, expect, it } from 'vitest';
import type { Clock } from '../../src/clock.js';
import { DEFAULT_BACKOFF, backoffDelay, createRetryTracker } from '../../src/control/backoff.js';

/** A clock whose sleeps end when the test advances time. */
function fakeClock(): Clock & { advance(ms: number): Promise<void> } {
  let now = 0;
  const sleepers: { at: number; resolve: () => void }[] = [];
  return {
    now: () => now,
    sleep: (ms, signal) =>
      new Promise<void>((resolve, reject) => {
        const sleeper = { at: now + ms, resolve };
        sleepers.push(sleeper);
        signal?.addEventListener('abort', () => {
          sleepers.splice(sleepers.indexOf(sleeper), 1);
          reject(new Error('aborted'));
        });
      }),
    async advance(ms) {
      now += ms;
      for (const s of sleepers.filter((x) => x.at <= now)) {
        sleepers.splice(sleepers.indexOf(s), 1);
        s.resolve();
      }
      await new Promise((r) => setImmediate(r));
    },
  };
}

describe('backoffDelay', () => {
  it('starts at 5 s, doubles, caps at 5 min and then stops', () => {
    const delays = Array.from({ length: 9 }, (_, i) => backoffDelay(i + 1));
    expect(delays).toEqual([
      5_000,
      10_000,
      20_000,
      40_000,
      80_000,
      160_000,
      300_000,
      undefined,
      undefined,
    ]);
    expect(backoffDelay(0)).toBeUndefined();
    expect(DEFAULT_BACKOFF.maxMs).toBe(300_000);
  });
});

describe('createRetryTracker', () => {
  it('retries a transient failure after the backoff delay, then gives up at the cap', async () => {
    const clock = fakeClock();
    const due: string[] = [];
    const tracker = createRetryTracker({ clock, onDue: (key) => due.push(key) });

    expect(tracker.fail('web', 'v1', true)).toEqual({ kind: 'retry', attempt: 1, delayMs: 5_000 });
    expect(tracker.allowed('web', 'v1')).toBe(false);
    await clock.advance(4_999);
    expect(due).toEqual([]);
    await clock.advance(1);
    expect(due).toEqual(['web']);
    expect(tracker.allowed('web', 'v1')).toBe(true);

    let delay = 5_000;
    for (let attempt = 2; attempt <= 7; attempt++) {
      tracker.attempting('web', 'v1');
      delay = Math.min(delay * 2, 300_000);
      expect(tracker.fail('web', 'v1', true)).toEqual({ kind: 'retry', attempt, delayMs: delay });
      await clock.advance(delay);
    }
    expect(due).toHaveLength(7);
    expect(tracker.fail('web', 'v1', true)).toEqual({ kind: 'gave-up', attempts: 7 });
    expect(tracker.allowed('web', 'v1')).toBe(false);
    await clock.advance(3_600_000);
    expect(due).toHaveLength(7);
    // A new version is worth trying at once.
    expect(tracker.allowed('web', 'v2')).toBe(true);
  });

  it('does not retry a terminal failure until the version changes', async () => {
    const clock = fakeClock();
    const due: string[] = [];
    const tracker = createRetryTracker({ clock, onDue: (key) => due.push(key) });
    expect(tracker.fail('db', 'v1', false)).toEqual({ kind: 'terminal' });
    await clock.advance(600_000);
    expect(due).toEqual([]);
    expect(tracker.allowed('db', 'v1')).toBe(false);
    expect(tracker.allowed('db', 'v2')).toBe(true);
    expect(tracker.fail('db', 'v2', true).kind).toBe('retry');
    expect(tracker.state('db')).toMatchObject({ version: 'v2', attempts: 1, waiting: true });
  });

  it('a success clears the key and cancels its timer', async () => {
    const clock = fakeClock();
    const due: string[] = [];
    const tracker = createRetryTracker({ clock, onDue: (key) => due.push(key) });
    tracker.fail('web', 'v1', true);
    tracker.clear('web');
    await clock.advance(10_000);
    expect(due).toEqual([]);
    expect(tracker.state('web')).toBeUndefined();
    tracker.fail('api', 'v1', true);
    tracker.cancelAll();
    await clock.advance(10_000);
    expect(due).toEqual([]);
  });
});
