import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { gate, tick, type Gate } from '../helpers/gate.js';
import { systemClock } from '../../src/clock.js';
import { createDispatcher, type OutcomeEvent } from '../../src/control/dispatcher.js';
import { BerthError } from '../../src/errors.js';
import { silentLogger } from '../../src/log.js';
import type { StackPlan } from '../../src/plan/stack-plan.js';
import { openDeployment } from '../../src/reconciler/record.js';
import type {
  PreparedRequest,
  StackOutcome,
  StackRequest,
  StackWork,
} from '../../src/reconciler/types.js';
import { openStateStore } from '../../src/state/store.js';
import type { StateStore } from '../../src/state/types.js';

function applyWork(version: string): StackWork {
  const entry = {
    stack: 'web',
    subject: 'web',
    action: 'recreate',
    reason: 'x',
    version,
  } as StackPlan;
  return {
    kind: 'apply',
    entry,
    pass: {
      revision: { commit: 'c', ref: 'main', dir: '/x' },
      sources: [{ name: 'default', revision: { commit: 'c', ref: 'main', dir: '/x' } }],
      owners: new Map([['web', ['default']]]),
      discovery: { stacks: [], broken: [] },
    },
  };
}

/** A reconciler that records what it was asked and waits for the test to let each run end. */
function fakeReconciler(store: StateStore) {
  const gates = new Map<string, Gate>();
  const ran: string[] = [];
  const released: string[] = [];
  const calls: string[] = [];
  const label = (r: StackRequest): string =>
    r.work.kind === 'apply'
      ? `${r.stack}:apply:${r.work.entry.version}`
      : `${r.stack}:${r.work.kind}`;
  return {
    ran,
    released,
    calls,
    open: (what: string) => gates.get(what)?.open(),
    recover: () => {
      calls.push('recover');
      return Promise.resolve();
    },
    prepare(request: StackRequest): Promise<PreparedRequest> {
      const what = label(request);
      calls.push(`prepare ${what}`);
      const deployment =
        request.work.kind === 'apply' || request.work.kind === 'rollback'
          ? openDeployment({ store, clock: systemClock }, request.stack, request.trigger.by, {
              version: what,
              commit: 'c',
              method: 'simple',
            })
          : undefined;
      return Promise.resolve({
        ...request,
        deployment,
        release: () => {
          released.push(what);
          return Promise.resolve();
        },
      });
    },
    async run(request: PreparedRequest): Promise<StackOutcome> {
      const what = label(request);
      ran.push(what);
      const g = gate();
      gates.set(what, g);
      await g.promise;
      await request.release();
      if (what.endsWith(':rollback'))
        throw new BerthError('NoGoodVersion', 'nothing to roll back to');
      request.deployment?.finish({ state: 'DONE', result: 'succeeded', message: 'ok' });
      store.upsertStack(request.stack, { state: 'STABLE' });
      return { stack: request.stack, outcome: 'done', result: 'deployed', message: what };
    },
  };
}

function dispatcherWith(
  reconciler: ReturnType<typeof fakeReconciler>,
  store: StateStore,
  concurrency = 1,
) {
  return createDispatcher({
    reconciler,
    store,
    clock: systemClock,
    logger: silentLogger(),
    concurrency,
  });
}

describe('dispatcher', () => {
  let dir: string;
  let store: StateStore;

  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'berth-dispatch-'));
    store = openStateStore(path.join(dir, 'berth.db'));
  });
  afterEach(async () => {
    store.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('recovers first, runs one request per stack, and a newer apply replaces the waiting one', async () => {
    const reconciler = fakeReconciler(store);
    const events: OutcomeEvent[] = [];
    const dispatcher = createDispatcher({
      reconciler,
      store,
      clock: systemClock,
      logger: silentLogger(),
      concurrency: 2,
      onOutcome: (e) => events.push(e),
    });
    const trigger = { by: 'test' };
    const first = await dispatcher.submit({ stack: 'web', trigger, work: applyWork('v1') });
    const second = await dispatcher.submit({ stack: 'web', trigger, work: applyWork('v2') });
    const third = await dispatcher.submit({ stack: 'web', trigger, work: applyWork('v3') });
    // Crash recovery comes before anything is prepared for a stack.
    expect(reconciler.calls.slice(0, 2)).toEqual(['recover', 'prepare web:apply:v1']);
    expect(dispatcher.busy('web')).toBe(true);
    // v2 waited behind v1 (WAITING), then v3 superseded it: closed as skipped, files released.
    const [v3, v2, v1] = store.listDeployments('web');
    expect(v1).toMatchObject({ state: 'TRIGGERED' });
    expect(v2).toMatchObject({
      state: 'DONE',
      result: 'skipped',
      message: 'superseded by a newer revision',
    });
    expect(v3).toMatchObject({ state: 'WAITING' });
    expect(reconciler.released).toEqual(['web:apply:v2']);

    reconciler.open('web:apply:v1');
    expect((await first.outcome).message).toBe('web:apply:v1');
    await tick();
    // The stack picked the next request: still STABLE, not AVAILABLE yet.
    expect(store.getStack('web')?.state).toBe('STABLE');
    reconciler.open('web:apply:v3');
    // Whoever waited on v2 gets the outcome of v3, which replaced it.
    expect((await second.outcome).message).toBe('web:apply:v3');
    expect((await third.outcome).message).toBe('web:apply:v3');
    await dispatcher.idle();
    expect(reconciler.ran).toEqual(['web:apply:v1', 'web:apply:v3']);
    expect(store.getStack('web')?.state).toBe('AVAILABLE');
    expect(events.map((e) => e.outcome.message)).toEqual(['web:apply:v1', 'web:apply:v3']);
  });

  it('queues other kinds in order behind a running deploy, and a failed request rejects its waiter', async () => {
    const reconciler = fakeReconciler(store);
    const dispatcher = dispatcherWith(reconciler, store);
    const trigger = { by: 'test' };
    const deploy = await dispatcher.submit({ stack: 'web', trigger, work: applyWork('v1') });
    const rollback = await dispatcher.submit({ stack: 'web', trigger, work: { kind: 'rollback' } });
    const suspend = await dispatcher.submit({ stack: 'web', trigger, work: { kind: 'suspend' } });
    const other = await dispatcher.submit({ stack: 'api', trigger, work: applyWork('v1') });
    reconciler.open('web:apply:v1');
    await deploy.outcome;
    await tick();
    // One at a time overall (concurrency 1), requests in arrival order; a stack with more
    // waiting goes to the back of the line after each of its requests.
    expect(reconciler.ran).toEqual(['web:apply:v1', 'web:rollback']);
    reconciler.open('web:rollback');
    await expect(rollback.outcome).rejects.toThrow(/nothing to roll back to/);
    await tick();
    reconciler.open('api:apply:v1');
    await other.outcome;
    await tick();
    reconciler.open('web:suspend');
    await suspend.outcome;
    expect(reconciler.ran).toEqual(['web:apply:v1', 'web:rollback', 'api:apply:v1', 'web:suspend']);
  });

  it('stop drops waiting requests with ShuttingDown and refuses new ones', async () => {
    const reconciler = fakeReconciler(store);
    const dispatcher = dispatcherWith(reconciler, store);
    const trigger = { by: 'test' };
    const running = await dispatcher.submit({ stack: 'web', trigger, work: applyWork('v1') });
    const waiting = await dispatcher.submit({ stack: 'web', trigger, work: { kind: 'rollback' } });
    const stopping = dispatcher.stop({ graceMs: 5_000 });
    await expect(waiting.outcome).rejects.toMatchObject({ reason: 'ShuttingDown' });
    reconciler.open('web:apply:v1');
    await running.outcome;
    await stopping;
    expect(store.listDeployments('web')[0]).toMatchObject({
      result: 'skipped',
      message: 'berth stopped',
    });
    await expect(
      dispatcher.submit({ stack: 'web', trigger, work: { kind: 'down' } }),
    ).rejects.toMatchObject({
      reason: 'ShuttingDown',
    });
  });
});
