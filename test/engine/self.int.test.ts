import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ComposeProject } from '../../src/compose/types.js';
import { createDockerEngine } from '../../src/engine/docker-engine.js';
import { toHostPath, toHostProject } from '../../src/engine/host-paths.js';
import { detectSelf, PROC_SELF, type SelfProbe } from '../../src/engine/self.js';
import { LABEL } from '../../src/engine/types.js';
import { EngineError } from '../../src/errors.js';
import { silentLogger } from '../../src/log.js';
import { execIn, FIXTURE_IMAGE, testDocker, uniqueName } from '../helpers/docker.js';
import { testScope } from '../helpers/scope.js';
import { project, service } from './fixtures.js';
import { mutatingCalls, recordingDocker } from './recorder.js';

const docker = testDocker();
const scope = testScope();

/**
 * A stand-in for berth's own container: busybox with a named volume on /data and a host folder
 * on /srv. Its mountinfo, read from inside, is what berth would read from /proc/self/mountinfo.
 */
interface Berth {
  container: Docker.Container;
  id: string;
  volume: string;
  mountpoint: string;
  hostDir: string;
  probe: SelfProbe;
}

let berth: Berth;

beforeAll(async () => {
  const volume = uniqueName('self-data');
  await docker.createVolume({ Name: volume });
  const hostDir = await mkdtemp(path.join(os.tmpdir(), 'berth-self-'));
  const container = await docker.createContainer({
    name: uniqueName('self'),
    Image: FIXTURE_IMAGE,
    Cmd: ['sleep', '300'],
    HostConfig: { Binds: [`${volume}:/data`, `${hostDir}:/srv`] },
  });
  await container.start();
  const text = await execIn(container, ['cat', '/proc/1/mountinfo']);
  const { Mountpoint } = await docker.getVolume(volume).inspect();
  berth = {
    container,
    id: container.id,
    volume,
    mountpoint: Mountpoint,
    hostDir,
    probe: { mountinfo: () => Promise.resolve(text), hostname: () => 'not-a-container-id' },
  };
});

afterAll(async () => {
  await berth.container.remove({ force: true, v: true }).catch(() => undefined);
  await docker
    .getVolume(berth.volume)
    .remove({ force: true })
    .catch(() => undefined);
  await rm(berth.hostDir, { recursive: true, force: true });
});

function binding(name: string, source: string, marker = 'v1'): ComposeProject {
  return project(name, [
    service('app', {
      environment: { MARKER: marker },
      volumes: [{ type: 'bind', source, target: '/www/index.html', readOnly: true }],
    }),
  ]);
}

async function running(name: string): Promise<{ id: string; state: string }[]> {
  const listed = await docker.listContainers({
    all: true,
    filters: { label: [`${LABEL.project}=${name}`] },
  });
  return listed.map((c) => ({ id: c.Id, state: c.State }));
}

describe('berth finds its own container', () => {
  it('from the mountinfo, confirmed by the Engine API, with its mounts', async () => {
    const self = await detectSelf(docker, berth.probe);
    expect(self?.id).toBe(berth.id);
    expect(self?.mounts).toEqual(
      expect.arrayContaining([
        {
          type: 'volume',
          name: berth.volume,
          source: berth.mountpoint,
          destination: '/data',
        },
        { type: 'bind', source: berth.hostDir, destination: '/srv' },
      ]),
    );
    const mounts = self!.mounts;
    expect(toHostPath('/data/x/y', mounts)).toBe(`${berth.mountpoint}/x/y`);
    expect(toHostPath('/srv/z', mounts)).toBe(`${berth.hostDir}/z`);
    expect(toHostPath('/tmp/q', mounts)).toBeUndefined();
    const p = binding('web', '/tmp/q');
    expect(() => toHostProject(p, { dataDir: '/tmp', mounts, strict: true })).toThrow(
      /bind mount source \/tmp\/q \(service app of stack web\) is inside berth's container on no mount/,
    );
  });

  it('from its hostname when the mountinfo names no container', async () => {
    const self = await detectSelf(docker, {
      mountinfo: () => Promise.resolve(''),
      hostname: () => berth.id.slice(0, 12),
    });
    expect(self?.id).toBe(berth.id);
  });

  it('not at all when the daemon does not know the container, or outside one', async () => {
    const unknown = randomBytes(32).toString('hex');
    const line = `1 0 8:1 /var/lib/docker/containers/${unknown}/hostname /etc/hostname rw - ext4 /dev/sda1 rw`;
    expect(
      await detectSelf(docker, {
        mountinfo: () => Promise.resolve(line),
        hostname: () => unknown.slice(0, 12),
      }),
    ).toBeUndefined();
    // This machine: a host, or a container of something else; either way not the daemon's.
    expect(await detectSelf(docker, PROC_SELF)).toBeUndefined();
    const engine = createDockerEngine({ logger: silentLogger(), dataDir: os.tmpdir() });
    expect(await engine.self()).toBeUndefined();
  });

  it('and reports it through the engine, with its Compose project', async () => {
    const name = uniqueName('self-labelled');
    const labelled = await docker.createContainer({
      name,
      Image: FIXTURE_IMAGE,
      Cmd: ['sleep', '300'],
      Labels: { [LABEL.project]: 'berth' },
    });
    scope.defer(() => labelled.remove({ force: true }));
    await labelled.start();
    const text = await execIn(labelled, ['cat', '/proc/self/mountinfo']);
    const engine = createDockerEngine({
      logger: silentLogger(),
      selfProbe: { mountinfo: () => Promise.resolve(text), hostname: () => 'x' },
    });
    expect(await engine.self()).toEqual({ id: labelled.id, name, project: 'berth' });
  });
});

describe('bind sources in the data dir reach Docker as host paths', () => {
  it('through a host folder: the container sees the file, and a re-apply is a no-op', async () => {
    const name = scope.newProject('self-bind');
    const runningDir = path.join(berth.hostDir, 'berth', 'running_stacks', name);
    await mkdir(runningDir, { recursive: true });
    await writeFile(path.join(runningDir, 'index.html'), 'hello from the host folder\n');
    const { docker: recorded, calls } = recordingDocker();
    const engine = createDockerEngine({
      logger: silentLogger(),
      docker: recorded,
      dataDir: '/srv/berth',
      selfProbe: berth.probe,
    });
    const p = binding(name, `/srv/berth/running_stacks/${name}/index.html`);
    await engine.apply(p);
    const [app] = await running(name);
    const inspected = await docker.getContainer(app!.id).inspect();
    expect(inspected.HostConfig.Binds).toEqual([`${runningDir}/index.html:/www/index.html:ro`]);
    const seen = await execIn(docker.getContainer(app!.id), ['cat', '/www/index.html']);
    expect(seen).toBe('hello from the host folder\n');

    calls.length = 0;
    const again = await engine.apply(p);
    expect(again.plan.map((e) => e.action)).toEqual(['unchanged']);
    expect(mutatingCalls(calls)).toEqual([]);
    expect((await engine.plan(p)).map((e) => e.action)).toEqual(['unchanged']);
    // A fresh engine (berth restarted) finds itself again and agrees.
    const restarted = createDockerEngine({
      logger: silentLogger(),
      dataDir: '/srv/berth',
      selfProbe: berth.probe,
    });
    expect((await restarted.apply(p)).plan.map((e) => e.action)).toEqual(['unchanged']);
    expect((await running(name)).map((c) => c.id)).toEqual([app!.id]);
  });

  it('through a named volume: a config file berth wrote there is mounted', async () => {
    const name = scope.newProject('self-volume');
    const dir = `/data/berth/running_stacks/${name}`;
    await execIn(berth.container, [
      'sh',
      '-c',
      `mkdir -p ${dir} && echo 'from the volume' > ${dir}/app.conf`,
    ]);
    const p = project(name, [
      service('app', { configs: [{ source: 'conf', target: '/etc/app.conf' }] }),
    ]);
    p.configs = { conf: { key: 'conf', source: 'file', file: `${dir}/app.conf` } };
    const engine = createDockerEngine({
      logger: silentLogger(),
      dataDir: '/data/berth',
      selfProbe: berth.probe,
    });
    await engine.apply(p);
    const [app] = await running(name);
    const seen = await execIn(docker.getContainer(app!.id), ['cat', '/etc/app.conf']);
    expect(seen).toBe('from the volume\n');
    const inspected = await docker.getContainer(app!.id).inspect();
    expect(inspected.HostConfig.Binds).toEqual([
      `${berth.mountpoint}/berth/running_stacks/${name}/app.conf:/etc/app.conf:ro`,
    ]);
  });

  it('a path on no mount fails before the running containers are touched', async () => {
    const name = scope.newProject('self-hidden');
    const hostFile = path.join(berth.hostDir, `${name}.html`);
    await writeFile(hostFile, 'v1\n');
    // v1 runs, deployed by a berth on the host (no translation).
    await createDockerEngine({ logger: silentLogger() }).apply(binding(name, hostFile));
    const before = await running(name);
    expect(before.map((c) => c.state)).toEqual(['running']);

    // Now berth runs in the container, with its data dir (the host temp dir) on no mount.
    const { docker: recorded, calls } = recordingDocker();
    const engine = createDockerEngine({
      logger: silentLogger(),
      docker: recorded,
      dataDir: berth.hostDir,
      selfProbe: berth.probe,
    });
    const v2 = binding(name, hostFile, 'v2');
    const refused = await engine.apply(v2).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(refused).toBeInstanceOf(EngineError);
    expect((refused as EngineError).reason).toBe('PathNotOnMount');
    expect((refused as EngineError).message).toContain(
      `bind mount source ${hostFile} (service app of stack ${name}) is inside berth's container on no mount`,
    );
    await expect(engine.checkHostPaths(v2)).rejects.toMatchObject({ reason: 'PathNotOnMount' });
    await expect(engine.prepare(v2)).rejects.toMatchObject({ reason: 'PathNotOnMount' });
    await expect(
      engine.startCandidate(v2, {
        service: 'app',
        number: 1,
        name: `${name}-app-1-new`,
        serving: false,
        labels: {},
        rolloutId: '1',
      }),
    ).rejects.toMatchObject({ reason: 'PathNotOnMount' });
    // The plan only compares: it reports the change instead of failing.
    expect((await engine.plan(v2)).map((e) => e.action)).toEqual(['recreate']);

    expect(mutatingCalls(calls)).toEqual([]);
    expect(await running(name)).toEqual(before);
  });
});
