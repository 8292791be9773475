import { describe, expect, it } from 'vitest';
import type { ComposeProject } from '../../src/compose/types.js';
import {
  coveringMount,
  isWithin,
  relocateProject,
  toHostPath,
  toHostProject,
  type HostMount,
} from '../../src/engine/host-paths.js';
import { serviceConfigHash } from '../../src/engine/hash.js';
import { EngineError } from '../../src/errors.js';
import { project, service } from './fixtures.js';

const VOLUME_ROOT = '/var/lib/docker/volumes/berth_data/_data';

const MOUNTS: HostMount[] = [
  { type: 'volume', name: 'berth_data', source: VOLUME_ROOT, destination: '/data' },
  { type: 'bind', source: '/srv/berth/staging', destination: '/data/staging' },
  { type: 'bind', source: '/var/run/docker.sock', destination: '/var/run/docker.sock' },
  { type: 'bind', source: '/home/me/stacks/', destination: '/stacks/' },
  { type: 'tmpfs', source: '', destination: '/scratch' },
  { type: 'volume', name: 'nfs', source: '', destination: '/remote' },
];

function bind(source: string, target = '/www/index.html'): ComposeProject['services'][string] {
  return service('app', {
    volumes: [{ type: 'bind', source, target, readOnly: true }],
  });
}

function webProject(...sources: string[]): ComposeProject {
  return project('web', [
    service('app', {
      volumes: sources.map((source, i) => ({
        type: 'bind' as const,
        source,
        target: `/mnt/${i}`,
        readOnly: false,
      })),
    }),
  ]);
}

function sourcesOf(p: ComposeProject): (string | undefined)[] {
  return p.services.app!.volumes.map((v) => v.source);
}

describe('host paths', () => {
  it('compares whole segments', () => {
    expect(isWithin('/data/x', '/data')).toBe(true);
    expect(isWithin('/data', '/data')).toBe(true);
    expect(isWithin('/data/', '/data')).toBe(true);
    expect(isWithin('/database', '/data')).toBe(false);
    expect(isWithin('/anything', '/')).toBe(true);
  });

  it('takes the mount with the longest destination', () => {
    expect(coveringMount('/data/staging/web-1/web/a', MOUNTS)?.source).toBe('/srv/berth/staging');
    expect(coveringMount('/data/running_stacks/web/a', MOUNTS)?.name).toBe('berth_data');
    expect(coveringMount('/data-other/a', MOUNTS)).toBeUndefined();
  });

  it('maps a path to the mount source plus the rest', () => {
    expect(toHostPath('/data/x/y', MOUNTS)).toBe(`${VOLUME_ROOT}/x/y`);
    expect(toHostPath('/data', MOUNTS)).toBe(VOLUME_ROOT);
    expect(toHostPath('/data/staging/s/web/a.html', MOUNTS)).toBe(
      '/srv/berth/staging/s/web/a.html',
    );
    expect(toHostPath('/stacks/web/index.html', MOUNTS)).toBe('/home/me/stacks/web/index.html');
    expect(toHostPath('/database/x', MOUNTS)).toBeUndefined();
    expect(toHostPath('/tmp/q', MOUNTS)).toBeUndefined();
  });

  it('gives no host path through a tmpfs or a volume without a mountpoint', () => {
    expect(toHostPath('/scratch/a', MOUNTS)).toBeUndefined();
    expect(toHostPath('/remote/a', MOUNTS)).toBeUndefined();
  });

  it('translates only paths in the data dir; other absolute paths are the user’s host paths', () => {
    const p = webProject(
      '/data/running_stacks/web/index.html',
      '/var/run/docker.sock',
      '/srv/media',
      '/database/x',
    );
    const hosted = toHostProject(p, { dataDir: '/data', mounts: MOUNTS, strict: true });
    expect(sourcesOf(hosted)).toEqual([
      `${VOLUME_ROOT}/running_stacks/web/index.html`,
      '/var/run/docker.sock',
      '/srv/media',
      '/database/x',
    ]);
    // The input is left as it was.
    expect(sourcesOf(p)[0]).toBe('/data/running_stacks/web/index.html');
  });

  it('returns the same project when nothing is in the data dir', () => {
    const p = webProject('/srv/media');
    expect(toHostProject(p, { dataDir: '/data', mounts: MOUNTS, strict: true })).toBe(p);
  });

  it('refuses a path in the data dir on no mount, naming it, the service and the fix', () => {
    const p = project('web', [bind('/tmp/berth-data/running_stacks/web/index.html')]);
    const run = (): ComposeProject =>
      toHostProject(p, { dataDir: '/tmp/berth-data', mounts: MOUNTS, strict: true });
    expect(run).toThrow(EngineError);
    try {
      run();
    } catch (err) {
      const e = err as EngineError;
      expect(e.reason).toBe('PathNotOnMount');
      expect(e.transient).toBe(false);
      expect(e.place).toMatchObject({ stack: 'web', service: 'app', field: 'volumes' });
      expect(e.message).toBe(
        'bind mount source /tmp/berth-data/running_stacks/web/index.html (service app of stack web) ' +
          "is inside berth's container on no mount, so the Docker host cannot see it; put berth's " +
          "data dir (/tmp/berth-data, BERTH_DATA_DIR) on a volume or a host folder mounted into berth's container",
      );
    }
  });

  it('refuses a path on a mount without host path, and names that mount', () => {
    const p = project('web', [bind('/scratch/berth/running_stacks/web/a')]);
    expect(() =>
      toHostProject(p, { dataDir: '/scratch/berth', mounts: MOUNTS, strict: true }),
    ).toThrow(/is on berth's tmpfs mount \/scratch, which has no path on the Docker host/);
  });

  it('leaves an untranslatable path as it is when not strict (plan)', () => {
    const p = project('web', [bind('/tmp/berth-data/running_stacks/web/index.html')]);
    expect(toHostProject(p, { dataDir: '/tmp/berth-data', mounts: MOUNTS, strict: false })).toBe(p);
  });

  it('translates secret and config files a service uses, and refuses them by name', () => {
    const p = project('web', [
      service('app', {
        secrets: [{ source: 'token', target: '/run/secrets/token' }],
        configs: [{ source: 'conf', target: '/etc/app.conf' }],
      }),
    ]);
    p.secrets = { token: { key: 'token', source: 'file', file: '/data/running_stacks/web/token' } };
    p.configs = {
      conf: { key: 'conf', source: 'file', file: '/data/running_stacks/web/app.conf' },
      unused: { key: 'unused', source: 'file', file: '/elsewhere/x' },
    };
    const hosted = toHostProject(p, { dataDir: '/data', mounts: MOUNTS, strict: true });
    expect(hosted.secrets.token).toMatchObject({ file: `${VOLUME_ROOT}/running_stacks/web/token` });
    expect(hosted.configs.conf).toMatchObject({
      file: `${VOLUME_ROOT}/running_stacks/web/app.conf`,
    });
    expect(hosted.configs.unused).toBe(p.configs.unused);
    expect(() =>
      toHostProject(p, { dataDir: '/data', mounts: MOUNTS.slice(1), strict: true }),
    ).toThrow(/^secret file \/data\/running_stacks\/web\/token \(secret token of stack web\)/);
  });

  it('hashes the same after each translation: a re-apply is a no-op', () => {
    const p = project('web', [bind('/data/running_stacks/web/index.html')]);
    const context = { dataDir: '/data', mounts: MOUNTS, strict: true };
    const once = toHostProject(p, context);
    const twice = toHostProject(p, context);
    expect(serviceConfigHash(once, once.services.app!)).toBe(
      serviceConfigHash(twice, twice.services.app!),
    );
    // What Docker mounts is part of the hash: another host path is another container.
    const moved = toHostProject(p, {
      ...context,
      mounts: [{ type: 'bind', source: '/srv/elsewhere', destination: '/data' }],
    });
    expect(serviceConfigHash(moved, moved.services.app!)).not.toBe(
      serviceConfigHash(once, once.services.app!),
    );
  });

  it('relocates a staged copy’s paths to running_stacks', () => {
    const p = webProject('/data/staging/web-ab12/web/index.html', '/srv/media');
    const moved = relocateProject(p, '/data/staging/web-ab12/web', '/data/running_stacks/web');
    expect(sourcesOf(moved)).toEqual(['/data/running_stacks/web/index.html', '/srv/media']);
  });
});
