import type Docker from 'dockerode';
import { afterEach, describe, expect, it } from 'vitest';
import type { ControlPlane } from '../../src/control/control-plane.js';
import { createDockerEngine } from '../../src/engine/docker-engine.js';
import { LABEL } from '../../src/engine/types.js';
import { silentLogger } from '../../src/log.js';
import { createApp } from '../../src/main.js';
import { lockDataDir } from '../../src/state/lock.js';
import { FIXTURE_IMAGE, execIn, testDocker } from '../helpers/docker.js';
import { Harness, composeFile } from '../helpers/harness.js';
import { testScope } from '../helpers/scope.js';
import { network, project, service, volume } from './fixtures.js';

/**
 * berth's objects carry its managed label; a Compose project of the same name started by hand
 * is someone else's. berth neither lists, changes nor removes it, refuses to deploy a stack of
 * that name, and takes it over only when the operator says so (adoption).
 */

const docker = testDocker();
const scope = testScope();
const trigger = { by: 'test' };

/** Labels `docker compose -p <project> up` writes: Compose's, none of berth's. */
function composeLabels(project: string, extra: Record<string, string>): Record<string, string> {
  return { [LABEL.project]: project, [LABEL.version]: '2.29.0', ...extra };
}

/** A network as a hand-run Compose project creates it. */
async function handRunNetwork(project: string, key = 'default'): Promise<Docker.Network> {
  return docker.createNetwork({
    Name: `${project}_${key}`,
    Labels: composeLabels(project, { [LABEL.network]: key }),
  });
}

/** A running container as a hand-run Compose project leaves it, on `network`, `mount` at /data. */
async function handRun(
  project: string,
  serviceName: string,
  options: { network?: string; mount?: string } = {},
): Promise<Docker.Container> {
  const { network, mount } = options;
  const container = await docker.createContainer({
    name: `${project}-${serviceName}-1`,
    Image: FIXTURE_IMAGE,
    Cmd: ['sh', '-c', "trap 'exit 0' TERM; touch /data/hand-run; sleep 3600 & wait"],
    StopTimeout: 1,
    Labels: composeLabels(project, {
      [LABEL.service]: serviceName,
      [LABEL.containerNumber]: '1',
      [LABEL.oneoff]: 'False',
      [LABEL.configHash]: 'hand-run',
    }),
    HostConfig: {
      ...(network === undefined ? {} : { NetworkMode: network }),
      ...(mount === undefined ? {} : { Binds: [`${mount}:/data`] }),
    },
    ...(network === undefined
      ? {}
      : { NetworkingConfig: { EndpointsConfig: { [network]: { Aliases: [serviceName] } } } }),
  });
  await container.start();
  return container;
}

/** A volume as a hand-run Compose project creates it; returns its name. */
async function createHandRunVolume(project: string, key: string): Promise<string> {
  const name = `${project}_${key}`;
  await docker.createVolume({
    Name: name,
    Labels: composeLabels(project, { [LABEL.volume]: key }),
  });
  return name;
}

/** What must not change about a container berth leaves alone. */
async function fingerprint(container: Docker.Container): Promise<Record<string, unknown>> {
  const info = await container.inspect();
  return {
    id: info.Id,
    name: info.Name,
    running: info.State.Running,
    startedAt: info.State.StartedAt,
    restarts: info.RestartCount,
    networks: Object.keys(info.NetworkSettings.Networks).sort(),
  };
}

async function gone(inspect: () => Promise<unknown>): Promise<boolean> {
  try {
    await inspect();
    return false;
  } catch (err) {
    return (err as { statusCode?: number }).statusCode === 404;
  }
}

describe('engine: only what carries berth’s label', () => {
  it('does not list, stop or remove a hand-run project’s containers', async () => {
    const name = scope.newProject('foreign');
    const net = await handRunNetwork(name);
    const web = await handRun(name, 'web', { network: `${name}_default` });
    const before = await fingerprint(web);
    const e = createDockerEngine({ logger: silentLogger() });

    expect(await e.foreignContainers(name)).toEqual([`${name}-web-1`]);
    expect((await e.observe(name)).services).toEqual({});
    expect((await e.observeAll()).has(name)).toBe(false);
    expect(await e.plan(project(name, [service('web')]))).toEqual([
      expect.objectContaining({ subject: `${name}-web-1`, action: 'create' }),
    ]);
    await e.stop(name);
    await e.down(name, { volumes: true });

    expect(await fingerprint(web)).toEqual(before);
    expect((await net.inspect()).Name).toBe(`${name}_default`);
  });

  it('leaves a foreign network and volume of a berth-like name alone, and does not use them', async () => {
    const name = scope.newProject('foreign-res');
    const net = await handRunNetwork(name);
    const vol = docker.getVolume(await createHandRunVolume(name, 'data'));
    // Made by hand, no labels at all: berth's name for the stack's `back` network.
    const bare = await docker.createNetwork({ Name: `${name}_back` });
    const e = createDockerEngine({ logger: silentLogger() });

    await e.down(name, { volumes: true });
    expect((await net.inspect()).Name).toBe(`${name}_default`);
    expect((await vol.inspect()).Name).toBe(`${name}_data`);

    const withVolume = project(
      name,
      [
        service('web', {
          volumes: [{ type: 'volume', source: 'data', target: '/data', readOnly: false }],
        }),
      ],
      { volumes: { data: volume(name, 'data') } },
    );
    await expect(e.apply(withVolume)).rejects.toMatchObject({ reason: 'ResourceNotOwned' });
    const onBack = project(name, [service('web', { networks: { back: { aliases: [] } } })], {
      networks: { back: network(name, 'back') },
    });
    await expect(e.apply(onBack)).rejects.toMatchObject({
      reason: 'ResourceNotOwned',
      message: expect.stringContaining('external: true') as unknown,
      place: { stack: name, field: 'networks.back' },
    });
    expect(await docker.listContainers({ all: true, filters: { name: [name] } })).toEqual([]);

    // Declared external, the hand-made network is used as it is, and never removed.
    onBack.networks.back = network(name, 'back', { external: true });
    await e.apply(onBack);
    await e.down(name, { volumes: true });
    expect((await bare.inspect()).Name).toBe(`${name}_back`);
    expect((await vol.inspect()).Name).toBe(`${name}_data`);
  });
});

describe('reconciler: a stack named like a hand-run Compose project', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.cleanup();
    h = undefined;
  });

  /** Opens berth on the harness as createApp does, letting it adopt `adopt`. */
  async function openAdopting(harness: Harness, adopt: string[]): Promise<ControlPlane> {
    await harness.close();
    const lock = await lockDataDir(
      harness.dataDir,
      { role: 'cli', command: 'test' },
      { waitMs: 10_000 },
    );
    harness.lock = lock;
    harness.app = await createApp(harness.config(), {
      logger: silentLogger(),
      lock,
      adopts: (stack) => adopt.includes(stack),
    });
    return harness.app.control;
  }

  it('is refused before anything changes; down leaves the hand-run containers', async () => {
    h = await Harness.create();
    const stack = h.name('held');
    const other = h.name('free');
    await handRunNetwork(stack);
    const web = await handRun(stack, 'web', { network: `${stack}_default` });
    const db = await handRun(stack, 'db', { network: `${stack}_default` });
    const before = [await fingerprint(web), await fingerprint(db)];
    await h.writeStack(stack, composeFile({ web: {} }));
    await h.writeStack(other, composeFile({ web: {} }));
    h.commit('two stacks');
    const control = await h.open();

    const pass = await control.reconcile({});
    const refused = pass.stacks.find((s) => s.stack === stack);
    expect(refused).toMatchObject({ result: 'failed', outcome: 'terminal' });
    expect(refused?.error?.reason).toBe('ProjectNotOwned');
    expect(refused?.message).toContain(`Compose project ${stack}`);
    expect(refused?.message).toContain(`${stack}-db-1, ${stack}-web-1`);
    expect(refused?.message).toContain('policy.adopt');
    expect(pass.stacks.find((s) => s.stack === other)?.result).toBe('deployed');
    expect(h.store.getStack(stack)?.conditions.find((c) => c.type === 'Ready')?.reason).toBe(
      'ProjectNotOwned',
    );
    expect(h.store.listDeployments(stack)[0]).toMatchObject({ state: 'FAILED' });
    expect((await h.named(stack)).map((c) => c.name)).toEqual([`${stack}-db-1`, `${stack}-web-1`]);
    expect(await h.folders.readRunningVersion(stack)).toBeUndefined();

    const down = await control.down(stack, trigger);
    expect(down.result).toBe('down');
    expect([await fingerprint(web), await fingerprint(db)]).toEqual(before);
  });

  it('with adoption, replaces the hand-run containers (simple and blue-green)', async () => {
    h = await Harness.create();
    const simple = h.name('adopt-simple');
    const rolled = h.name('adopt-bg');
    const handRunIds: string[] = [];
    await createHandRunVolume(simple, 'data');
    for (const stack of [simple, rolled]) {
      await handRunNetwork(stack);
      const mount = stack === simple ? `${simple}_data` : undefined;
      const container = await handRun(stack, 'web', {
        network: `${stack}_default`,
        ...(mount === undefined ? {} : { mount }),
      });
      handRunIds.push(container.id);
    }
    const withData = composeFile({ web: { extra: '    volumes: ["data:/data"]' } });
    await h.writeStack(simple, `${withData}volumes:\n  data: {}\n`);
    await h.writeStack(rolled, composeFile({ web: {} }), { 'deploy.yaml': 'method: blue-green\n' });
    h.commit('adopted stacks');
    const control = await openAdopting(h, [simple, rolled]);

    const pass = await control.reconcile({});
    expect(pass.stacks.map((s) => [s.stack, s.result]).sort()).toEqual(
      [simple, rolled].map((s) => [s, 'deployed']).sort(),
    );
    for (const id of handRunIds) {
      expect(await gone(() => docker.getContainer(id).inspect())).toBe(true);
    }
    for (const stack of [simple, rolled]) {
      const [container, ...rest] = await h.named(stack);
      expect(rest).toEqual([]);
      expect(container).toMatchObject({ name: `${stack}-web-1`, state: 'running' });
      const labels = (await docker.getContainer(container!.id).inspect()).Config.Labels;
      expect(labels[LABEL.managed]).toBe('true');
      expect(h.store.getStack(stack)?.running?.version).toBe(container?.version);
      const [deployment] = h.store.listDeployments(stack);
      expect(h.store.getLog(deployment!.id)).toContain(`${stack}-web-1`);
    }
    // The adopted project's volume, with its data, is mounted, not replaced.
    const [web] = await h.named(simple);
    const listing = await execIn(docker.getContainer(web!.id), ['ls', '/data']);
    expect(listing).toContain('hand-run');
    // Blue-green started the new container beside the hand-run one and switched over.
    const [bg] = h.store.listDeployments(rolled);
    expect(h.store.getJournal(bg!.id).map((j) => j.step)).toContain('switch');
    expect(await control.reconcile({})).toMatchObject({ ok: true });
  });

  it('prune removes the stack’s containers, not a hand-run container or volume of its name', async () => {
    h = await Harness.create();
    const stack = h.name('prune');
    await h.writeStack(stack, composeFile({ web: {} }));
    h.commit('one stack');
    let control = await h.open({ prune: true });
    expect((await control.reconcile({})).ok).toBe(true);
    const [berths] = await h.named(stack);

    const volume = await createHandRunVolume(stack, 'cache');
    const extra = await handRun(stack, 'extra', { mount: volume });
    const before = await fingerprint(extra);
    await h.removeStackFolder(stack);
    h.commit('stack left');
    control = await h.open({ prune: true });
    const pass = await control.reconcile({});
    expect(pass.stacks.find((s) => s.stack === stack)?.result).toBe('removed');

    expect(await gone(() => docker.getContainer(berths!.id).inspect())).toBe(true);
    expect(await fingerprint(extra)).toEqual(before);
    expect((await docker.getVolume(volume).inspect()).Name).toBe(volume);
  });
});
