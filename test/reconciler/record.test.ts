import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/clock.js';
import { closeAllUnfinished, openDeployment } from '../../src/reconciler/record.js';
import {
  failed,
  isRepairLimited,
  repairLimitReached,
  setStatus,
} from '../../src/reconciler/status.js';
import { openStateStore } from '../../src/state/store.js';
import type { StateStore } from '../../src/state/types.js';

describe('deployment records and status conditions', () => {
  let dir: string;
  let store: StateStore;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'berth-record-'));
    store = openStateStore(path.join(dir, 'berth.db'));
  });
  afterEach(async () => {
    store.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('moves through seed 001’s states and is finished exactly once', () => {
    const deps = { store, clock: systemClock };
    const handle = openDeployment(deps, 'web', 'cli:alice', {
      version: 'v1',
      commit: 'c1',
      method: 'simple',
    });
    const state = (): string | undefined => store.listDeployments('web')[0]?.state;
    expect(state()).toBe('QUEUED');
    handle.waiting();
    expect(state()).toBe('WAITING');
    handle.triggered();
    expect(state()).toBe('TRIGGERED');
    handle.running({ version: 'v2', commit: 'c2', method: 'canary', previousVersion: 'v1' });
    expect(store.listDeployments('web')[0]).toMatchObject({
      state: 'RUNNING',
      version: 'v2',
      method: 'canary',
    });
    handle.finish({ state: 'ROLLED_BACK', result: 'rolled-back', message: 'back to v1' });
    handle.finish({ state: 'DONE', result: 'skipped', message: 'too late' });
    handle.running({ version: 'v3', commit: 'c3', method: 'simple' });
    expect(handle.finished).toBe(true);
    expect(store.listDeployments('web')[0]).toMatchObject({
      state: 'ROLLED_BACK',
      result: 'rolled-back',
      message: 'back to v1',
      version: 'v2',
      trigger: 'cli:alice',
    });
  });

  it('closes what a stop left unfinished as interrupted', () => {
    const deps = { store, clock: systemClock };
    openDeployment(deps, 'web', 'schedule', {
      version: 'v1',
      commit: 'c1',
      method: 'simple',
    }).triggered();
    expect(closeAllUnfinished(deps)).toBe(1);
    expect(store.unfinishedDeployments()).toEqual([]);
    expect(store.listDeployments('web')[0]).toMatchObject({
      state: 'FAILED',
      result: 'interrupted',
    });
  });

  it('status: a failure that needs a change stalls, a transient one does not; the repair limit is told apart', () => {
    store.upsertStack('web', { state: 'AVAILABLE' });
    setStatus(store, 'web', failed('HealthCheckFailed', 'unhealthy', { stalled: false }));
    expect(store.getStack('web')!.conditions.find((c) => c.type === 'Stalled')).toMatchObject({
      status: 'False',
      reason: 'Progressing',
    });
    setStatus(
      store,
      'web',
      failed('HealthCheckFailed', 'unhealthy', {
        stalled: true,
        stalledReason: 'VersionMarkedBad',
      }),
    );
    expect(store.getStack('web')!.conditions.find((c) => c.type === 'Stalled')).toMatchObject({
      status: 'True',
      reason: 'VersionMarkedBad',
    });
    expect(isRepairLimited(store.getStack('web')!.conditions)).toBe(false);
    setStatus(store, 'web', repairLimitReached('too many repairs'));
    expect(isRepairLimited(store.getStack('web')!.conditions)).toBe(true);
  });
});
