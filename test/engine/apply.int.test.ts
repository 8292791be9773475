import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createDockerEngine } from '../../src/engine/docker-engine.js';
import { LABEL } from '../../src/engine/types.js';
import type { ContainerEngine } from '../../src/engine/types.js';
import { EngineError } from '../../src/errors.js';
import { silentLogger } from '../../src/log.js';
import { FIXTURE_IMAGE, testDocker } from '../helpers/docker.js';
import { testScope } from '../helpers/scope.js';
import { network, project, service, volume } from './fixtures.js';
import { mutatingCalls, recordingDocker } from './recorder.js';

const docker = testDocker();
const scope = testScope();
const { newProject } = scope;

function engine(): ContainerEngine {
  return createDockerEngine({ logger: silentLogger() });
}

async function containerIds(name: string): Promise<Record<string, string>> {
  const list = await docker.listContainers({
    all: true,
    filters: { label: [`${LABEL.project}=${name}`] },
  });
  return Object.fromEntries(list.map((c) => [c.Names[0]!.slice(1), c.Id]));
}

describe('apply', () => {
  it('creates networks, volumes and containers labelled as Compose v2 does', async () => {
    const name = newProject('labels');
    const p = project(
      name,
      [
        service('web', {
          networks: { default: { aliases: [] }, back: { aliases: ['api'] } },
          volumes: [{ type: 'volume', source: 'data', target: '/data', readOnly: false }],
          labels: { 'user.label': 'x' },
        }),
        service('db', { networks: { back: { aliases: [] } } }),
      ],
      { volumes: { data: volume(name, 'data') } },
    );
    p.networks.back = network(name, 'back');
    const e = engine();
    const result = await e.apply(p, { labels: { [LABEL.stackVersion]: 'v1' } });
    expect(result.plan.map((x) => [x.subject, x.action, x.reason]).sort()).toEqual([
      [`${name}-db-1`, 'create', 'missing'],
      [`${name}-web-1`, 'create', 'missing'],
    ]);

    const web = await docker.getContainer(`${name}-web-1`).inspect();
    expect(web.State.Running).toBe(true);
    const labels = web.Config.Labels;
    expect(labels).toMatchObject({
      [LABEL.project]: name,
      [LABEL.service]: 'web',
      [LABEL.containerNumber]: '1',
      [LABEL.oneoff]: 'False',
      [LABEL.workingDir]: `/tmp/${name}`,
      [LABEL.configFiles]: `/tmp/${name}/compose.yaml`,
      [LABEL.dependsOn]: '',
      [LABEL.image]: FIXTURE_IMAGE,
      [LABEL.managed]: 'true',
      [LABEL.stackVersion]: 'v1',
      'user.label': 'x',
    });
    expect(labels[LABEL.configHash]).toMatch(/^[0-9a-f]{64}$/);
    expect(labels[LABEL.version]).toMatch(/^2\.\d+\.\d+$/);
    expect(Object.keys(web.NetworkSettings.Networks).sort()).toEqual([
      `${name}_back`,
      `${name}_default`,
    ]);

    for (const key of ['default', 'back']) {
      const net = await docker.getNetwork(`${name}_${key}`).inspect();
      expect(net.Labels).toMatchObject({ [LABEL.project]: name, [LABEL.network]: key });
      expect(net.Labels?.[LABEL.configHash]).toBeUndefined();
    }
    const vol = await docker.getVolume(`${name}_data`).inspect();
    expect(vol.Labels).toMatchObject({ [LABEL.project]: name, [LABEL.volume]: 'data' });
    expect(vol.Labels[LABEL.configHash]).toBeUndefined();

    // The query Compose v2 runs to find a project's containers.
    const composeView = await docker.listContainers({
      all: true,
      filters: { label: [`${LABEL.project}=${name}`, LABEL.configHash] },
    });
    expect(composeView.map((c) => c.Labels[LABEL.service]).sort()).toEqual(['db', 'web']);

    const observed = await e.observe(name);
    expect(Object.keys(observed.services).sort()).toEqual(['db', 'web']);
    expect(observed.stackVersion).toBe('v1');
    expect(observed.services.web!.containers[0]).toMatchObject({
      name: `${name}-web-1`,
      state: 'running',
      number: 1,
      configHash: labels[LABEL.configHash],
    });
    const all = await e.observeAll();
    expect(all.get(name)?.services.db?.containers).toHaveLength(1);
  });

  it('a second apply makes no container calls and keeps the containers', async () => {
    const name = newProject('noop');
    const p = project(name, [
      service('a'),
      service('b', {
        dependsOn: { a: { condition: 'service_started', required: true, restart: false } },
      }),
    ]);
    const { docker: recorded, calls } = recordingDocker();
    const e = createDockerEngine({ logger: silentLogger(), docker: recorded });
    await e.apply(p);
    const before = await containerIds(name);
    calls.length = 0;
    const countBefore = e.callCount();
    const second = await e.apply(p);
    expect(second.plan.every((x) => x.action === 'unchanged')).toBe(true);
    expect(mutatingCalls(calls)).toEqual([]);
    expect(e.callCount() - countBefore).toBe(calls.length);
    expect(await containerIds(name)).toEqual(before);
  });

  it('recreates only the changed service and starts stopped ones', async () => {
    const name = newProject('change');
    const p = project(name, [service('a'), service('b')]);
    const e = engine();
    await e.apply(p);
    const before = await containerIds(name);
    p.services.b = service('b', { environment: { CHANGED: '1' } });
    const result = await e.apply(p);
    expect(result.plan.find((x) => x.subject === `${name}-b-1`)).toMatchObject({
      action: 'recreate',
      reason: 'config hash changed',
    });
    expect(result.plan.find((x) => x.subject === `${name}-a-1`)?.action).toBe('unchanged');
    const after = await containerIds(name);
    expect(after[`${name}-a-1`]).toBe(before[`${name}-a-1`]);
    expect(after[`${name}-b-1`]).not.toBe(before[`${name}-b-1`]);

    await docker.getContainer(`${name}-a-1`).stop({ t: 0 });
    const third = await e.apply(p);
    expect(third.plan.find((x) => x.subject === `${name}-a-1`)?.reason).toMatch(/exited.*started/);
    expect((await docker.getContainer(`${name}-a-1`).inspect()).State.Running).toBe(true);
  });

  it('recreates when the image behind the tag changed', async () => {
    const name = newProject('image');
    const tag = `${name}-img:latest`;
    await docker.getImage(FIXTURE_IMAGE).tag({ repo: `${name}-img`, tag: 'latest' });
    scope.defer(() =>
      docker
        .getImage(tag)
        .remove({ force: true })
        .then(() => undefined),
    );
    const p = project(name, [service('a', { image: tag })]);
    const e = engine();
    await e.apply(p);
    // A different image under the same tag: commit a container with an extra file.
    const builder = await docker.createContainer({
      Image: FIXTURE_IMAGE,
      Cmd: ['touch', '/marker'],
    });
    scope.defer(() => builder.remove({ force: true }).then(() => undefined));
    await builder.start();
    await builder.wait();
    await builder.commit({ repo: `${name}-img`, tag: 'latest' });
    const result = await e.apply(p);
    expect(result.plan).toEqual([
      { subject: `${name}-a-1`, action: 'recreate', reason: 'image changed' },
    ]);
  });

  it('removes orphans and scales replicas up and down', async () => {
    const name = newProject('scale');
    const e = engine();
    await e.apply(project(name, [service('a'), service('gone')]));
    const up = await e.apply(project(name, [service('a', { replicas: 3 })]));
    expect(up.plan.map((x) => [x.subject, x.action, x.reason]).sort()).toEqual([
      [`${name}-a-1`, 'unchanged', 'up to date'],
      [`${name}-a-2`, 'create', 'missing'],
      [`${name}-a-3`, 'create', 'missing'],
      [`${name}-gone-1`, 'remove', 'orphan: service left the file'],
    ]);
    expect(Object.keys(await containerIds(name)).sort()).toEqual([
      `${name}-a-1`,
      `${name}-a-2`,
      `${name}-a-3`,
    ]);
    const down = await e.apply(project(name, [service('a', { replicas: 1 })]));
    expect(down.plan.filter((x) => x.action === 'remove').map((x) => x.reason)).toEqual([
      'scale down',
      'scale down',
    ]);
    expect(Object.keys(await containerIds(name))).toEqual([`${name}-a-1`]);
  });

  it('converges only the selected services and recreates on force', async () => {
    const name = newProject('select');
    const e = engine();
    const p = project(name, [service('a'), service('b')]);
    const first = await e.apply(p, { services: ['a'] });
    expect(first.plan.map((x) => x.subject)).toEqual([`${name}-a-1`]);
    expect(Object.keys(await containerIds(name))).toEqual([`${name}-a-1`]);
    await e.apply(p);
    const before = await containerIds(name);
    const forced = await e.apply(p, { services: ['b'], forceRecreate: true });
    expect(forced.plan).toEqual([
      { subject: `${name}-b-1`, action: 'recreate', reason: 'forced recreate' },
    ]);
    const after = await containerIds(name);
    expect(after[`${name}-a-1`]).toBe(before[`${name}-a-1`]);
    expect(after[`${name}-b-1`]).not.toBe(before[`${name}-b-1`]);
  });

  it('uses external networks and volumes without creating them, and fails clearly when missing', async () => {
    const name = newProject('external');
    const extNet = `${name}-extnet`;
    const extVol = `${name}-extvol`;
    await docker.createNetwork({ Name: extNet });
    scope.defer(() => docker.getNetwork(extNet).remove());
    await docker.createVolume({ Name: extVol });
    scope.defer(() => docker.getVolume(extVol).remove());
    const p = project(
      name,
      [
        service('a', {
          networks: { shared: { aliases: [] } },
          volumes: [{ type: 'volume', source: 'keep', target: '/keep', readOnly: false }],
        }),
      ],
      {
        networks: { shared: network(name, 'shared', { name: extNet, external: true }) },
        volumes: { keep: volume(name, 'keep', { name: extVol, external: true }) },
      },
    );
    const e = engine();
    await e.apply(p);
    const info = await docker.getContainer(`${name}-a-1`).inspect();
    expect(Object.keys(info.NetworkSettings.Networks)).toEqual([extNet]);
    expect(
      (await docker.listNetworks({ filters: { label: [`${LABEL.project}=${name}`] } })).length,
    ).toBe(0);

    await e.down(name, { volumes: true });
    await expect(docker.getVolume(extVol).inspect()).resolves.toBeDefined();
    await expect(docker.getNetwork(extNet).inspect()).resolves.toBeDefined();

    const missing = project(name, [service('a', { networks: { gone: { aliases: [] } } })], {
      networks: { gone: network(name, 'gone', { name: `${name}-nope`, external: true }) },
    });
    const err = await e.apply(missing).catch((x: unknown) => x);
    expect(err).toBeInstanceOf(EngineError);
    expect((err as EngineError).reason).toBe('NetworkMissing');
    expect((err as EngineError).message).toContain(`${name}-nope`);
  });

  it('down removes containers and networks, named volumes only with volumes', async () => {
    const name = newProject('down');
    const p = project(
      name,
      [
        service('a', {
          volumes: [{ type: 'volume', source: 'data', target: '/data', readOnly: false }],
        }),
      ],
      { volumes: { data: volume(name, 'data') } },
    );
    const e = engine();
    await e.apply(p);
    await e.down(name, { timeoutMs: 0 });
    expect(await containerIds(name)).toEqual({});
    expect(await docker.listNetworks({ filters: { label: [`${LABEL.project}=${name}`] } })).toEqual(
      [],
    );
    await expect(docker.getVolume(`${name}_data`).inspect()).resolves.toBeDefined();
    await e.apply(p);
    await e.down(name, { volumes: true, timeoutMs: 0 });
    await expect(docker.getVolume(`${name}_data`).inspect()).rejects.toThrow();
  });

  it('stop and start keep the containers', async () => {
    const name = newProject('stopstart');
    const e = engine();
    await e.apply(project(name, [service('a')]));
    const ids = await containerIds(name);
    await e.stop(name, { timeoutMs: 0 });
    expect((await e.observe(name)).services.a!.containers[0]!.state).toBe('exited');
    await e.start(name);
    expect((await e.observe(name)).services.a!.containers[0]!.state).toBe('running');
    expect(await containerIds(name)).toEqual(ids);
  });

  it('pull_policy never with a missing image is a clear ImageUnavailable error', async () => {
    const name = newProject('never');
    const image = `${name}-absent:latest`;
    const e = engine();
    const err = await e
      .apply(project(name, [service('app', { image, pullPolicy: 'never' })]))
      .catch((x: unknown) => x);
    expect(err).toBeInstanceOf(EngineError);
    expect((err as EngineError).reason).toBe('ImageUnavailable');
    expect((err as EngineError).place).toMatchObject({ stack: name, service: 'app' });
    expect((err as EngineError).message).toContain(image);
    expect((err as EngineError).message).toContain('app');
  });

  it('does not pull a present image under pull_policy missing', async () => {
    const name = newProject('missing');
    const { docker: recorded, calls } = recordingDocker();
    const e = createDockerEngine({ logger: silentLogger(), docker: recorded });
    await e.apply(project(name, [service('app', { pullPolicy: 'missing' })]));
    expect(calls.filter((c) => c.path.startsWith('/images/create'))).toEqual([]);
  });

  it('builds an image through the Engine API and tags it <project>-<service>', async () => {
    const name = newProject('build');
    const dir = await mkdtemp(path.join(os.tmpdir(), 'berth-build-'));
    scope.defer(() => rm(dir, { recursive: true, force: true }));
    scope.defer(() =>
      docker
        .getImage(`${name}-app`)
        .remove({ force: true })
        .then(() => undefined),
    );
    await writeFile(
      path.join(dir, 'Dockerfile'),
      `FROM ${FIXTURE_IMAGE}\nARG GREETING\nCOPY hello.txt /hello.txt\nRUN echo "$GREETING" > /greeting\n`,
    );
    await writeFile(path.join(dir, 'hello.txt'), 'built by berth\n');
    const e = engine();
    const progress: string[] = [];
    await e.apply(
      project(name, [
        service('app', {
          image: undefined,
          build: { context: dir, dockerfile: 'Dockerfile', args: { GREETING: 'hi' }, pull: false },
          command: ['sh', '-c', 'cat /hello.txt /greeting; sleep 3600'],
        }),
      ]),
      { onProgress: (x) => progress.push(`${x.step} ${x.subject}`) },
    );
    expect(progress).toContain('build app');
    const info = await docker.getContainer(`${name}-app-1`).inspect();
    expect(info.Config.Image).toBe(`${name}-app`);
    const image = await docker.getImage(`${name}-app`).inspect();
    expect(info.Image).toBe(image.Id);
  });
});
