import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BerthConfig } from '../../src/config/index.js';
import { silentLogger } from '../../src/log.js';
import { createDaemon, type Daemon } from '../../src/daemon/daemon.js';
import { openStateStore } from '../../src/state/store.js';
import type { DeploymentRecord } from '../../src/state/types.js';
import { DEFAULTS, Harness, composeFile } from '../helpers/harness.js';
import { oneSource } from '../helpers/sources.js';

const YEARLY = '0 0 1 1 *';

describe('createDaemon in-process (real git and Docker)', { timeout: 300_000 }, () => {
  let harness: Harness;
  let daemon: Daemon | undefined;
  let stack: string;

  beforeAll(async () => {
    harness = await Harness.create();
    stack = harness.name('dmnp');
  });

  afterAll(async () => {
    await daemon?.stop();
    await harness?.cleanup();
  });

  function config(): BerthConfig {
    // Not marked bad: only the daemon's own bookkeeping keeps it from retrying in a loop.
    // A generous health timeout: the suite shares two cores; unhealthy versions fail at once.
    const defaults = { ...DEFAULTS, markBad: false, healthTimeoutMs: 30_000 };
    return {
      ...oneSource(
        {
          kind: 'git',
          git: { url: `file://${harness.remote}`, branch: 'main', depth: 1 },
          paths: ['stacks/*'],
        },
        defaults,
      ),
      dataDir: harness.dataDir,
      defaults,
      prune: false,
      log: { level: 'silent' },
      schedule: YEARLY,
      concurrency: 2,
    };
  }

  function history(): DeploymentRecord[] {
    const store = openStateStore(path.join(harness.dataDir, 'berth.db'));
    try {
      return store.listDeployments(stack);
    } finally {
      store.close();
    }
  }

  const real = (list: DeploymentRecord[]): DeploymentRecord[] =>
    list.filter((d) => d.result !== 'skipped');

  it('records states, does not retry a failed version on every sync, deploys the next one', async () => {
    await harness.writeStack(stack, composeFile({ app: { marker: 'v1' } }));
    harness.commit('v1');
    daemon = createDaemon({
      config: config(),
      logger: silentLogger(),
      shutdownGraceMs: 20_000,
    });
    await daemon.start();
    await daemon.idle();
    expect(daemon.control.getStack(stack)?.state).toBe('AVAILABLE');
    const first = real(history());
    expect(first).toHaveLength(1);
    expect(first[0]).toMatchObject({ state: 'DONE', result: 'succeeded', trigger: 'startup' });

    // An unhealthy version: rolled back once, then left alone by later syncs.
    await harness.writeStack(stack, composeFile({ app: { marker: 'v2', health: 'false' } }));
    harness.commit('v2 unhealthy');
    daemon.trigger({ by: 'test' });
    await daemon.idle();
    const failed = real(history());
    expect(failed).toHaveLength(2);
    expect(failed[0]).toMatchObject({
      state: 'ROLLED_BACK',
      result: 'rolled-back',
      trigger: 'test',
    });
    for (let i = 0; i < 3; i++) {
      daemon.trigger({ by: 'test' });
      await daemon.idle();
    }
    expect(real(history())).toHaveLength(2);

    // Asked for explicitly, it is tried again.
    const forced = await daemon.control.deploy(stack, { by: 'api:ops' });
    expect(forced.result).toBe('rolled-back');
    expect(real(history())).toHaveLength(3);

    // A new version goes out at once.
    await harness.writeStack(stack, composeFile({ app: { marker: 'v3' } }));
    harness.commit('v3');
    daemon.trigger({ by: 'test' });
    await daemon.idle();
    const all = history();
    expect(real(all)).toHaveLength(4);
    expect(all[0]).toMatchObject({ state: 'DONE', result: 'succeeded', trigger: 'test' });
    expect(all.every((d) => ['DONE', 'FAILED', 'ROLLED_BACK'].includes(d.state))).toBe(true);
    expect(daemon.control.getStack(stack)?.state).toBe('AVAILABLE');

    const metrics = await daemon.metrics.render();
    expect(metrics).toContain(`berth_deployments_total{stack="${stack}",result="rolled-back"} 2`);

    await daemon.stop();
    daemon = undefined;
  });
});
