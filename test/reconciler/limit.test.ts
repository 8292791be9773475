import { describe, expect, it } from 'vitest';
import { createKeyedLock, mapLimit } from '../../src/reconciler/limit.js';

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

describe('mapLimit', () => {
  it('keeps at most `limit` calls in flight and the input order in the results', async () => {
    let inFlight = 0;
    let peak = 0;
    const results = await mapLimit([30, 10, 20, 5, 1], 2, async (ms) => {
      inFlight++;
      peak = Math.max(peak, inFlight);
      await new Promise((r) => setTimeout(r, ms));
      inFlight--;
      return ms * 2;
    });
    expect(results).toEqual([60, 20, 40, 10, 2]);
    expect(peak).toBe(2);
  });

  it('handles an empty list', async () => {
    expect(await mapLimit([], 2, () => Promise.resolve(1))).toEqual([]);
  });
});

describe('createKeyedLock', () => {
  it('runs work of one key one at a time, other keys alongside', async () => {
    const withLock = createKeyedLock();
    const order: string[] = [];
    const gate = deferred();
    const first = withLock('a', async () => {
      order.push('a1 start');
      await gate.promise;
      order.push('a1 end');
    });
    const second = withLock('a', () => {
      order.push('a2');
      return Promise.resolve();
    });
    const other = withLock('b', () => {
      order.push('b');
      return Promise.resolve();
    });
    await other;
    expect(order).toEqual(['a1 start', 'b']);
    gate.resolve();
    await Promise.all([first, second]);
    expect(order).toEqual(['a1 start', 'b', 'a1 end', 'a2']);
  });

  it('keeps going after a failure', async () => {
    const withLock = createKeyedLock();
    await expect(withLock('a', () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(await withLock('a', () => Promise.resolve(7))).toBe(7);
  });
});
