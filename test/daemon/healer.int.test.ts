import { afterEach, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/clock.js';
import { silentLogger } from '../../src/log.js';
import {
  createHealer,
  controlRepair,
  type BrokenEvent,
  type HealEvent,
  type Healer,
} from '../../src/daemon/triggers/healer.js';
import { suspendStack } from '../../src/reconciler/admin.js';
import { testDocker } from '../helpers/docker.js';
import { Harness, composeFile } from '../helpers/harness.js';

/** Resolves with the next n items pushed, or rejects after the timeout. */
function collector<T>(): {
  items: T[];
  push: (item: T) => void;
  next: (n: number, ms?: number) => Promise<T[]>;
} {
  const items: T[] = [];
  const waiters: { n: number; resolve: (v: T[]) => void }[] = [];
  return {
    items,
    push(item) {
      items.push(item);
      for (const w of [...waiters]) {
        if (items.length >= w.n) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(items);
        }
      }
    },
    next(n, ms = 90_000) {
      if (items.length >= n) return Promise.resolve(items);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`only ${items.length} of ${n} after ${ms} ms`)),
          ms,
        );
        waiters.push({
          n,
          resolve: (v) => {
            clearTimeout(timer);
            resolve(v);
          },
        });
      });
    },
  };
}

describe('healer: restores containers changed out of band (real Docker, real git)', () => {
  let h: Harness | undefined;
  let healer: Healer | undefined;
  afterEach(async () => {
    await healer?.stop();
    healer = undefined;
    await h?.cleanup();
    h = undefined;
  });

  async function deployed(): Promise<{ stack: string; harness: Harness }> {
    h = await Harness.create();
    const stack = h.name('heal');
    await h.writeStack(stack, composeFile({ web: {} }));
    h.commit('one stack');
    const control = await h.open({ defaults: { healthTimeoutMs: 60_000 } });
    const pass = await control.reconcile({});
    expect(pass.ok).toBe(true);
    return { stack, harness: h };
  }

  function startHealer(
    harness: Harness,
    options: { maxRepairs?: number; windowMs?: number } = {},
  ): {
    healed: ReturnType<typeof collector<HealEvent>>;
    broken: ReturnType<typeof collector<BrokenEvent>>;
    started: Promise<void>;
  } {
    const healed = collector<HealEvent>();
    const broken = collector<BrokenEvent>();
    healer = createHealer({
      engine: harness.engine,
      store: harness.store,
      clock: systemClock,
      logger: silentLogger(),
      repair: controlRepair(harness.control),
      isBusy: (stack) => harness.control.busy(stack),
      onHealed: (e) => healed.push(e),
      onBroken: (e) => broken.push(e),
      debounceMs: 200,
      ...options,
    });
    return { healed, broken, started: healer.start() };
  }

  it('a removed container is restored by a heal deployment, once', async () => {
    const { stack, harness } = await deployed();
    const { healed, started } = startHealer(harness);
    await started;
    const [before] = await harness.containers(stack);
    await testDocker().getContainer(before!.id).remove({ force: true });

    const [event] = await healed.next(1);
    expect(event).toMatchObject({ stack, repairs: 1 });
    // `rm -f` kills before it removes: on a loaded machine the healer can look in between,
    // when the container is still there, stopped. Either way it is the same drift, healed once.
    expect(event!.reason).toMatch(/removed|stopped/);
    const after = await harness.containers(stack);
    expect(after).toHaveLength(1);
    expect(after[0]!.state).toBe('running');
    expect(after[0]!.id).not.toBe(before!.id);
    const [deployment] = harness.store.listDeployments(stack, 1);
    expect(deployment).toMatchObject({ trigger: 'heal', result: 'succeeded' });
    expect(
      harness.store.healthHistory(stack, 5).some((x) => x.detail.startsWith('repaired:')),
    ).toBe(true);
    // The redeploy's own container events do not start another repair.
    await new Promise((r) => setTimeout(r, 800));
    expect(healed.items).toHaveLength(1);
  });

  it('a container stopped with docker stop is started again', async () => {
    const { stack, harness } = await deployed();
    const { healed, started } = startHealer(harness);
    await started;
    const [before] = await harness.containers(stack);
    await testDocker().getContainer(before!.id).stop({ t: 1 });

    await healed.next(1);
    const after = await harness.containers(stack);
    expect(after.map((c) => [c.id, c.state])).toEqual([[before!.id, 'running']]);
  });

  it('a container killed again and again: 5 repairs, then BROKEN and onBroken', async () => {
    const { stack, harness } = await deployed();
    const { healed, broken, started } = startHealer(harness, { maxRepairs: 5, windowMs: 60_000 });
    await started;
    const [c] = await harness.containers(stack);
    const docker = testDocker();
    for (let i = 1; i <= 5; i++) {
      await docker.getContainer(c!.id).kill();
      await healed.next(i);
    }
    expect(healed.items.map((e) => e.repairs)).toEqual([1, 2, 3, 4, 5]);
    await docker.getContainer(c!.id).kill();
    const [event] = await broken.next(1);
    expect(event).toMatchObject({ stack, repairs: 5, windowMs: 60_000 });
    const record = harness.store.getStack(stack)!;
    expect(record.state).toBe('BROKEN');
    expect(record.conditions).toContainEqual(
      expect.objectContaining({ type: 'Stalled', status: 'True', reason: 'RepairLimitReached' }),
    );
    // Left down: no sixth repair.
    expect((await harness.containers(stack))[0]!.state).toBe('exited');
    expect(healed.items).toHaveLength(5);
  });

  it('ignores the events of a suspended stack', async () => {
    const { stack, harness } = await deployed();
    const { healed, started } = startHealer(harness);
    await started;
    suspendStack({ store: harness.store, logger: silentLogger() }, stack, 'test');
    const [c] = await harness.containers(stack);
    await testDocker().getContainer(c!.id).stop({ t: 1 });
    // Nothing to wait for: give the healer well past its debounce to (not) act.
    await new Promise((r) => setTimeout(r, 1000));
    expect(healed.items).toHaveLength(0);
    expect((await harness.containers(stack))[0]!.state).toBe('exited');
  });
});
