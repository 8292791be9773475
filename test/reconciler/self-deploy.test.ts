import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/clock.js';
import type { ContainerEngine, ObservedProject, SelfContainer } from '../../src/engine/types.js';
import { silentLogger } from '../../src/log.js';
import { refuseSelf } from '../../src/reconciler/ownership.js';
import { openDeployment, type DeploymentHandle } from '../../src/reconciler/record.js';
import type { ReconcilerDeps } from '../../src/reconciler/types.js';
import { openStateStore } from '../../src/state/store.js';
import type { StateStore } from '../../src/state/types.js';

const SELF_ID = 'c'.repeat(64);
const TARGET = { stack: 'web', projectName: 'web', version: 'v2' };

/** The guard reads only `engine.self()`; the rest of the deps it needs are real. */
function depsWith(store: StateStore, self: SelfContainer | undefined): ReconcilerDeps {
  const engine: Pick<ContainerEngine, 'self'> = { self: () => Promise.resolve(self) };
  return {
    engine: engine as ContainerEngine,
    store,
    logger: silentLogger(),
  } as unknown as ReconcilerDeps;
}

function observedWith(ids: string[]): ObservedProject {
  return {
    name: 'web',
    services: {
      app: {
        name: 'app',
        containers: ids.map((id, i) => ({
          id,
          name: `web-app-${i + 1}`,
          service: 'app',
          number: i + 1,
          state: 'running' as const,
          health: 'none' as const,
          image: 'x',
          imageId: 'sha256:x',
          labels: {},
        })),
      },
    },
  };
}

describe('the self-deploy guard', () => {
  let dir: string;
  let store: StateStore;
  let deployment: DeploymentHandle;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'berth-self-guard-'));
    store = openStateStore(path.join(dir, 'berth.db'));
    deployment = openDeployment({ store, clock: systemClock }, 'web', 'schedule', {
      version: 'v2',
      commit: 'c2',
      method: 'simple',
    });
  });
  afterEach(async () => {
    store.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('lets everything through when berth runs in no container', async () => {
    const deps = depsWith(store, undefined);
    expect(await refuseSelf(deps, TARGET, observedWith(['a']), deployment)).toBeUndefined();
    expect(deployment.finished).toBe(false);
    expect(store.getStack('web')).toBeUndefined();
  });

  it('lets other projects through', async () => {
    const deps = depsWith(store, { id: SELF_ID, name: 'berth-berth-1', project: 'berth' });
    expect(await refuseSelf(deps, TARGET, observedWith(['a']), deployment)).toBeUndefined();
    expect(deployment.finished).toBe(false);
  });

  it('refuses the Compose project berth runs in, terminal, with what to do instead', async () => {
    const deps = depsWith(store, { id: SELF_ID, name: 'web-berth-1', project: 'web' });
    const outcome = await refuseSelf(deps, TARGET, undefined, deployment);
    expect(outcome).toMatchObject({
      stack: 'web',
      outcome: 'terminal',
      result: 'failed',
      version: 'v2',
      deploymentId: deployment.id,
      message:
        'stack web is the Compose project berth itself runs in; berth does not redeploy itself ' +
        '(it would stop its own container mid-deploy). Update berth from its own folder: ' +
        'docker compose pull && docker compose up -d',
    });
    expect(outcome?.error?.reason).toBe('SelfDeployRefused');
    expect(store.listDeployments('web')[0]).toMatchObject({ state: 'FAILED', result: 'failed' });
    const record = store.getStack('web');
    expect(record).toMatchObject({ state: 'BROKEN', lastAttemptedVersion: 'v2' });
    expect(record?.conditions.find((c) => c.type === 'Stalled')).toMatchObject({
      status: 'True',
      reason: 'SelfDeployRefused',
    });
  });

  it('refuses a project one of whose containers is berth’s own', async () => {
    const deps = depsWith(store, { id: SELF_ID, name: 'berth' });
    const outcome = await refuseSelf(deps, TARGET, observedWith(['a', SELF_ID]), deployment);
    expect(outcome?.error?.reason).toBe('SelfDeployRefused');
  });
});
