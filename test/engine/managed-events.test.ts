import { describe, expect, it } from 'vitest';
import { WATCHED_ACTIONS } from '../../src/engine/events.js';
import { parseManagedEvent } from '../../src/engine/managed-events.js';

const attributes = {
  'com.docker.compose.project': 'p',
  'com.docker.compose.service': 'web',
  name: 'p-web-1',
};

function line(action: string, extra: Record<string, string> = {}): string {
  return JSON.stringify({
    Type: 'container',
    Action: action,
    timeNano: 1_700_000_000_500_000_000,
    Actor: { ID: 'c1', Attributes: { ...attributes, ...extra } },
  });
}

describe('parseManagedEvent: health transitions', () => {
  it.each(['healthy', 'unhealthy', 'starting'] as const)(
    'turns "health_status: %s" into action health_status with the health',
    (health) => {
      expect(parseManagedEvent(line(`health_status: ${health}`))).toEqual({
        project: 'p',
        service: 'web',
        containerId: 'c1',
        containerName: 'p-web-1',
        action: 'health_status',
        health,
        at: 1_700_000_000_500,
      });
    },
  );

  it('skips a health status berth does not know, and leaves other actions without health', () => {
    expect(parseManagedEvent(line('health_status: sideways'))).toBeUndefined();
    const die = parseManagedEvent(line('die', { exitCode: '137' }));
    expect(die).toMatchObject({ action: 'die', exitCode: 137 });
    expect(die).not.toHaveProperty('health');
  });

  it('subscribes with a bare health_status, which Docker prefix-matches', () => {
    // A value with the colon would be matched exactly, and only that one status would arrive.
    expect(WATCHED_ACTIONS).toContain('health_status');
    expect(WATCHED_ACTIONS.some((a) => a.includes(':'))).toBe(false);
  });
});
