import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Clock } from '../../src/clock.js';
import type {
  ContainerEngine,
  ManagedContainerEvent,
  ObservedContainer,
  ObservedProject,
} from '../../src/engine/types.js';
import { silentLogger } from '../../src/log.js';
import {
  createHealer,
  type BrokenEvent,
  type Healer,
  type RepairContext,
} from '../../src/daemon/triggers/healer.js';
import { resumeStack, suspendStack } from '../../src/reconciler/admin.js';
import { openStateStore } from '../../src/state/store.js';
import type { StateStore } from '../../src/state/types.js';

/** A Clock whose sleeps end only when the test moves time forward. */
function manualClock(start = 1_700_000_000_000): Clock & { advance(ms: number): Promise<void> } {
  let now = start;
  const sleepers: { until: number; resolve: () => void }[] = [];
  return {
    now: () => now,
    sleep(ms, signal) {
      return new Promise<void>((resolve, reject) => {
        const sleeper = { until: now + ms, resolve };
        sleepers.push(sleeper);
        signal?.addEventListener('abort', () => reject(new Error('aborted')), { once: true });
      });
    },
    async advance(ms) {
      now += ms;
      for (const s of [...sleepers]) {
        if (s.until <= now) {
          sleepers.splice(sleepers.indexOf(s), 1);
          s.resolve();
        }
      }
      // Let the woken debounce run its observe and repair.
      for (let i = 0; i < 20; i++) await Promise.resolve();
      await new Promise((r) => setImmediate(r));
    },
  };
}

/** The engine's events and listing, as our interface describes them; Docker is not involved. */
function fakeEngine(): Pick<ContainerEngine, 'watchEvents' | 'observe'> & {
  emit(event: Partial<ManagedContainerEvent> & { action: string }): void;
  containers: Map<string, ObservedContainer[]>;
  closed: boolean;
} {
  let listener: ((e: ManagedContainerEvent) => void) | undefined;
  const engine = {
    containers: new Map<string, ObservedContainer[]>(),
    closed: false,
    watchEvents(l: (e: ManagedContainerEvent) => void) {
      listener = l;
      return Promise.resolve({
        close: () => {
          engine.closed = true;
        },
      });
    },
    observe(project: string): Promise<ObservedProject> {
      const services: ObservedProject['services'] = {};
      for (const c of engine.containers.get(project) ?? []) {
        (services[c.service] ??= { name: c.service, containers: [] }).containers.push(c);
      }
      return Promise.resolve({ name: project, services });
    },
    emit(event: Partial<ManagedContainerEvent> & { action: string }) {
      listener?.({
        project: 'app',
        service: 'web',
        containerId: 'c1',
        containerName: 'app-web-1',
        at: clockNow(),
        ...event,
      });
    },
  };
  return engine;
}

let clockNow: () => number = () => 0;

function container(state: ObservedContainer['state'], exitCode?: number): ObservedContainer {
  return {
    id: 'c1',
    name: 'app-web-1',
    service: 'web',
    number: 1,
    state,
    health: 'none',
    image: 'x',
    imageId: 'sha256:x',
    labels: {},
    ...(exitCode === undefined ? {} : { exitCode }),
  };
}

describe('healer (pure logic over fake events)', () => {
  let dir: string;
  let store: StateStore;
  let clock: ReturnType<typeof manualClock>;
  let engine: ReturnType<typeof fakeEngine>;
  let healer: Healer | undefined;
  let repairs: { stack: string; reason: string; context: RepairContext }[];
  let broken: BrokenEvent[];
  let busy: Set<string>;

  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'berth-healer-'));
    clock = manualClock();
    clockNow = () => clock.now();
    store = openStateStore(path.join(dir, 'berth.db'), { clock });
    store.upsertStack('app', { state: 'AVAILABLE', running: { version: 'v1', commit: 'c' } });
    engine = fakeEngine();
    repairs = [];
    broken = [];
    busy = new Set();
  });

  afterEach(async () => {
    await healer?.stop();
    healer = undefined;
    store.close();
    await rm(dir, { recursive: true, force: true });
  });

  async function startHealer(options: { maxRepairs?: number; windowMs?: number } = {}) {
    healer = createHealer({
      engine,
      store,
      clock,
      logger: silentLogger(),
      isBusy: (s) => busy.has(s),
      repair: (stack, context) => {
        repairs.push({ stack, reason: context.reason, context });
        // The repair brings the container back.
        engine.containers.set('app', [container('running')]);
        return Promise.resolve(true);
      },
      onBroken: (e) => broken.push(e),
      debounceMs: 1000,
      ...options,
    });
    await healer.start();
  }

  it('coalesces a stop burst (kill, die, stop) into one repair after the debounce', async () => {
    await startHealer();
    engine.containers.set('app', [container('exited', 0)]);
    engine.emit({ action: 'kill' });
    engine.emit({ action: 'die', exitCode: 0 });
    await clock.advance(500);
    engine.emit({ action: 'stop' });
    expect(repairs).toHaveLength(0);
    await clock.advance(500);
    expect(repairs).toHaveLength(1);
    expect(repairs[0]!.reason).toBe('drift: container app-web-1 stopped');
    expect(repairs[0]!.context).toEqual({
      stopped: ['c1'],
      removed: [],
      unhealthy: [],
      reason: 'drift: container app-web-1 stopped',
    });
    // The healer records the drift; the repair request records its result (healer.int.test.ts).
    const health = store.healthHistory('app');
    expect(health.map((h) => h.health)).toEqual(['unhealthy']);
    expect(health[0]!.detail).toBe('drift: container app-web-1 stopped; repair 1/5 within 300s');
  });

  it('reports a removed container for a redeploy', async () => {
    await startHealer();
    engine.emit({ action: 'destroy' });
    await clock.advance(1000);
    expect(repairs.map((r) => r.context)).toEqual([
      {
        stopped: [],
        removed: ['app-web-1'],
        unhealthy: [],
        reason: 'drift: container app-web-1 removed',
      },
    ]);
  });

  it('leaves alone: unknown, suspended and busy stacks, containers back up, finished one-shots', async () => {
    await startHealer();
    engine.emit({ action: 'die', project: 'other', exitCode: 1 });
    busy.add('app');
    engine.emit({ action: 'destroy' });
    await clock.advance(1000);
    busy.clear();
    suspendStack({ store, logger: silentLogger(), clock }, 'app', 'test');
    engine.emit({ action: 'destroy' });
    await clock.advance(1000);
    resumeStack({ store, logger: silentLogger(), clock }, 'app', 'test');
    // A restart policy brought it back before the debounce ended.
    engine.containers.set('app', [container('running')]);
    engine.emit({ action: 'die', exitCode: 137 });
    engine.emit({ action: 'start' });
    await clock.advance(1000);
    // A one-shot that finished by itself.
    engine.containers.set('app', [container('exited', 0)]);
    engine.emit({ action: 'die', exitCode: 0 });
    engine.emit({ action: 'start' });
    await clock.advance(1000);
    expect(repairs).toHaveLength(0);
  });

  it('checks again while the listing still says running after a die', async () => {
    await startHealer();
    engine.containers.set('app', [container('running')]);
    engine.emit({ action: 'die', exitCode: 137 });
    await clock.advance(1000);
    expect(repairs).toHaveLength(0);
    engine.containers.set('app', [container('exited', 137)]);
    await clock.advance(1000);
    expect(repairs.map((r) => r.context.stopped)).toEqual([['c1']]);
  });

  it('a stack that becomes busy during the debounce is left to berth', async () => {
    await startHealer();
    engine.emit({ action: 'destroy' });
    busy.add('app');
    await clock.advance(1000);
    expect(repairs).toHaveLength(0);
  });

  it('records a container turning unhealthy, restarts it, and counts it against the budget', async () => {
    await startHealer({ maxRepairs: 2, windowMs: 300_000 });
    const unhealthy = (): void => {
      engine.containers.set('app', [{ ...container('running'), health: 'unhealthy' }]);
      engine.emit({ action: 'health_status', health: 'unhealthy' });
    };
    unhealthy();
    expect(store.getStack('app')?.health).toBe('unhealthy');
    expect(store.healthHistory('app')[0]).toMatchObject({
      health: 'unhealthy',
      detail: 'container app-web-1 turned unhealthy',
    });
    expect(store.getStack('app')?.conditions.find((c) => c.type === 'Ready')).toMatchObject({
      status: 'False',
      reason: 'Unhealthy',
    });
    await clock.advance(1000);
    expect(repairs.map((r) => r.context)).toEqual([
      {
        stopped: [],
        removed: [],
        unhealthy: ['c1'],
        reason: 'drift: container app-web-1 unhealthy',
      },
    ]);
    // Healthy again before the debounce ends: nothing to repair.
    engine.containers.set('app', [{ ...container('running'), health: 'unhealthy' }]);
    engine.emit({ action: 'health_status', health: 'unhealthy' });
    engine.containers.set('app', [{ ...container('running'), health: 'healthy' }]);
    engine.emit({ action: 'health_status', health: 'healthy' });
    await clock.advance(1000);
    expect(repairs).toHaveLength(1);
    // Unhealthy again and again: the same budget as a dead container.
    unhealthy();
    await clock.advance(1000);
    unhealthy();
    await clock.advance(1000);
    expect(repairs).toHaveLength(2);
    expect(broken).toEqual([expect.objectContaining({ stack: 'app', repairs: 2 })]);
    expect(store.getStack('app')?.state).toBe('BROKEN');
  });

  it('a healthy event after a runtime failure marks the stack healthy once Docker agrees', async () => {
    await startHealer();
    busy.add('app');
    engine.containers.set('app', [{ ...container('running'), health: 'unhealthy' }]);
    store.upsertStack('app', { health: 'unhealthy' });
    engine.containers.set('app', [{ ...container('running'), health: 'healthy' }]);
    engine.emit({ action: 'health_status', health: 'healthy' });
    await clock.advance(10);
    // berth is acting on it: its own deployment records the health.
    expect(store.getStack('app')?.health).toBe('unhealthy');
    busy.clear();
    engine.emit({ action: 'health_status', health: 'healthy' });
    await clock.advance(10);
    expect(store.getStack('app')?.health).toBe('healthy');
    expect(store.healthHistory('app')[0]).toMatchObject({
      health: 'healthy',
      detail: 'every container healthy again',
    });
  });

  it('after maxRepairs within the window the stack is BROKEN and repairs stop', async () => {
    await startHealer({ maxRepairs: 5, windowMs: 300_000 });
    for (let i = 0; i < 5; i++) {
      engine.containers.set('app', []);
      engine.emit({ action: 'destroy' });
      await clock.advance(10_000);
    }
    expect(repairs).toHaveLength(5);
    expect(broken).toHaveLength(0);
    engine.containers.set('app', []);
    engine.emit({ action: 'destroy' });
    await clock.advance(10_000);
    expect(repairs).toHaveLength(5);
    expect(broken).toEqual([
      expect.objectContaining({ stack: 'app', repairs: 5, windowMs: 300_000 }),
    ]);
    const record = store.getStack('app')!;
    expect(record.state).toBe('BROKEN');
    expect(record.conditions.find((c) => c.type === 'Stalled')).toMatchObject({
      status: 'True',
      reason: 'RepairLimitReached',
    });
    expect(record.conditions.find((c) => c.type === 'Ready')).toMatchObject({
      status: 'False',
      reason: 'RepairLimitReached',
    });
    // Even after the window passed: not until the version changes or a resume.
    await clock.advance(600_000);
    engine.emit({ action: 'destroy' });
    await clock.advance(1000);
    expect(repairs).toHaveLength(5);
    expect(broken).toHaveLength(1);

    resumeStack({ store, logger: silentLogger(), clock }, 'app', 'test');
    engine.containers.set('app', []);
    engine.emit({ action: 'destroy' });
    await clock.advance(1000);
    expect(repairs).toHaveLength(6);
  });

  it('a new version lifts the limit', async () => {
    await startHealer({ maxRepairs: 1, windowMs: 60_000 });
    for (let i = 0; i < 2; i++) {
      engine.containers.set('app', []);
      engine.emit({ action: 'destroy' });
      await clock.advance(1000);
    }
    expect(repairs).toHaveLength(1);
    expect(broken).toHaveLength(1);
    store.upsertStack('app', { state: 'AVAILABLE', running: { version: 'v2', commit: 'd' } });
    engine.containers.set('app', []);
    engine.emit({ action: 'destroy' });
    await clock.advance(1000);
    expect(repairs).toHaveLength(2);
  });

  it('counts in a sliding window: repairs spread out never reach the limit', async () => {
    await startHealer({ maxRepairs: 2, windowMs: 60_000 });
    for (let i = 0; i < 6; i++) {
      engine.containers.set('app', []);
      engine.emit({ action: 'destroy' });
      await clock.advance(31_000);
    }
    expect(repairs).toHaveLength(6);
    expect(broken).toHaveLength(0);
  });

  it('ignores events its own repair caused and a restarted healer remembers the limit', async () => {
    await startHealer({ maxRepairs: 1, windowMs: 60_000 });
    engine.containers.set('app', []);
    engine.emit({ action: 'destroy' });
    await clock.advance(1000);
    expect(repairs).toHaveLength(1);
    // Stamped before the repair ended: the repair's own removal, delivered late.
    engine.containers.set('app', []);
    engine.emit({ action: 'destroy', at: clock.now() - 1 });
    await clock.advance(1000);
    expect(repairs).toHaveLength(1);

    engine.emit({ action: 'destroy' });
    await clock.advance(1000);
    expect(broken).toHaveLength(1);
    await healer!.stop();
    expect(engine.closed).toBe(true);

    engine = fakeEngine();
    await startHealer({ maxRepairs: 1, windowMs: 60_000 });
    engine.emit({ action: 'destroy' });
    await clock.advance(1000);
    expect(repairs).toHaveLength(1);
  });
});
