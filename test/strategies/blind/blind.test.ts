import { describe, expect, it } from 'vitest';
import { getStrategy } from '../../../src/strategies/index.js';
import { context, world } from '../fake-context.js';

describe('blind strategy', () => {
  it('applies without waiting for health', async () => {
    const w = world({ health: { new: false } });
    const result = await getStrategy('blind').run(context(w, { method: 'blind' }));
    expect(result).toMatchObject({ result: 'succeeded', health: 'unknown' });
    expect(w.calls.some((c) => c.startsWith('wait'))).toBe(false);
  });
});
