import { describe, expect, it } from 'vitest';
import { gate, tick, type Gate } from '../helpers/gate.js';
import { createStackQueue } from '../../src/control/queue.js';

describe('createStackQueue', () => {
  it('runs one job per stack; a newer waiting job replaces the older one', async () => {
    const gates = new Map<string, Gate>();
    const ran: string[] = [];
    const discarded: string[] = [];
    const queue = createStackQueue<string>({
      concurrency: 2,
      run: async (_key, job) => {
        ran.push(job);
        const g = gate();
        gates.set(job, g);
        await g.promise;
      },
      onDiscard: (_key, job, why) => discarded.push(`${job}:${why}`),
    });
    queue.enqueue('a', 'a1');
    expect(queue.isRunning('a')).toBe(true);
    expect(queue.enqueue('a', 'a2')).toBeUndefined();
    expect(queue.enqueue('a', 'a3')).toBe('a2');
    expect(queue.enqueue('a', 'a4')).toBe('a3');
    expect(queue.pendingJob('a')).toBe('a4');
    expect(discarded).toEqual(['a2:replaced', 'a3:replaced']);
    gates.get('a1')?.open();
    await tick();
    expect(ran).toEqual(['a1', 'a4']);
    gates.get('a4')?.open();
    await queue.idle();
    expect(queue.busy('a')).toBe(false);
  });

  it('keeps to the global concurrency limit, in arrival order', async () => {
    const gates = new Map<string, Gate>();
    const ran: string[] = [];
    let inFlight = 0;
    let maxInFlight = 0;
    const queue = createStackQueue<string>({
      concurrency: 2,
      run: async (key) => {
        ran.push(key);
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        const g = gate();
        gates.set(key, g);
        await g.promise;
        inFlight--;
      },
    });
    for (const key of ['a', 'b', 'c', 'd']) queue.enqueue(key, key);
    expect(ran).toEqual(['a', 'b']);
    expect(queue.pendingCount()).toBe(2);
    gates.get('b')?.open();
    await tick();
    expect(ran).toEqual(['a', 'b', 'c']);
    gates.get('a')?.open();
    await tick();
    expect(ran).toEqual(['a', 'b', 'c', 'd']);
    gates.get('c')?.open();
    gates.get('d')?.open();
    await queue.idle();
    expect(maxInFlight).toBe(2);
  });

  it('a job that throws does not wedge its stack', async () => {
    const ran: string[] = [];
    const queue = createStackQueue<string>({
      concurrency: 1,
      run: (_key, job) => {
        ran.push(job);
        return job === 'boom' ? Promise.reject(new Error('boom')) : Promise.resolve();
      },
    });
    queue.enqueue('a', 'boom');
    queue.enqueue('a', 'ok');
    await queue.idle();
    expect(ran).toEqual(['boom', 'ok']);
  });

  it('stop discards waiting jobs, waits for running ones, aborts after the grace period', async () => {
    const discarded: string[] = [];
    let sawAbort = false;
    const queue = createStackQueue<string>({
      concurrency: 1,
      run: (_key, _job, signal) =>
        new Promise<void>((resolve) => {
          signal.addEventListener('abort', () => {
            sawAbort = true;
            resolve();
          });
        }),
      onDiscard: (_key, job, why) => discarded.push(`${job}:${why}`),
    });
    queue.enqueue('a', 'a1');
    queue.enqueue('b', 'b1');
    const result = await queue.stop({ graceMs: 20, hardMs: 1000 });
    expect(result.aborted).toBe(1);
    expect(sawAbort).toBe(true);
    expect(discarded).toEqual(['b1:stopped']);
    queue.enqueue('c', 'c1');
    expect(discarded).toEqual(['b1:stopped', 'c1:stopped']);
    expect(queue.runningCount()).toBe(0);
  });
});
