import { describe, expect, it } from 'vitest';
import type Docker from 'dockerode';
import { dependencyLevels, serviceDependencies } from '../../src/engine/converge.js';
import { canonicalJson, serviceConfigHash } from '../../src/engine/hash.js';
import {
  containerLabels,
  containerName,
  dependsOnLabel,
  imageRef,
} from '../../src/engine/naming.js';
import { groupByProject, parseExitCode, parseHealth } from '../../src/engine/observe.js';
import { LABEL } from '../../src/engine/types.js';
import { ComposeError } from '../../src/errors.js';
import { project, service } from './fixtures.js';

describe('config hash', () => {
  it('is stable under key order and ignores fields that do not change a container', () => {
    const p = project('p', [service('a')]);
    const base = serviceConfigHash(p, service('a'));
    expect(serviceConfigHash(p, service('a', { environment: {} }))).toBe(base);
    expect(
      serviceConfigHash(p, service('a', { replicas: 3, profiles: ['x'], pullPolicy: 'always' })),
    ).toBe(base);
    expect(
      serviceConfigHash(
        p,
        service('a', {
          dependsOn: { b: { condition: 'service_started', required: true, restart: false } },
        }),
      ),
    ).toBe(base);
    expect(serviceConfigHash(p, service('a', { deploy: { replicas: 4 } }))).toBe(
      serviceConfigHash(p, service('a', { deploy: {} })),
    );
  });

  it('changes with the config, the extra labels and mounted secret content', () => {
    const p = project('p', [service('a')]);
    const base = serviceConfigHash(p, service('a'));
    expect(serviceConfigHash(p, service('a', { environment: { X: '1' } }))).not.toBe(base);
    expect(serviceConfigHash(p, service('a'), { v: '1' })).not.toBe(base);
    const withSecret = service('a', { secrets: [{ source: 's', target: '/run/secrets/s' }] });
    const one = project('p', [withSecret], {
      secrets: { s: { key: 's', source: 'content', content: '1' } },
    });
    const two = project('p', [withSecret], {
      secrets: { s: { key: 's', source: 'content', content: '2' } },
    });
    expect(serviceConfigHash(one, withSecret)).not.toBe(serviceConfigHash(two, withSecret));
  });

  it('canonical JSON sorts keys at every level and drops undefined', () => {
    expect(canonicalJson({ b: 1, a: { d: [2, { z: 1, y: undefined }], c: null } })).toBe(
      '{"a":{"c":null,"d":[2,{"z":1}]},"b":1}',
    );
  });
});

describe('naming and labels', () => {
  it('names containers and built images as Compose v2 does', () => {
    expect(containerName('p', service('web'), 2)).toBe('p-web-2');
    expect(containerName('p', service('web', { containerName: 'fixed' }), 1)).toBe('fixed');
    expect(imageRef('p', service('web', { image: undefined }))).toBe('p-web');
  });

  it('writes depends_on in Compose v2 format', () => {
    const s = service('app', {
      dependsOn: {
        db: { condition: 'service_healthy', required: true, restart: true },
        cache: { condition: 'service_started', required: false, restart: false },
      },
    });
    expect(dependsOnLabel(s)).toBe('db:service_healthy:true,cache:service_started:false');
  });

  it('lets Compose labels win over user labels', () => {
    const p = project('p', [service('a')]);
    const labels = containerLabels({
      project: p,
      service: service('a', { labels: { [LABEL.project]: 'spoof', mine: '1' } }),
      number: 1,
      hash: 'h',
      image: 'img',
      extra: {},
    });
    expect(labels[LABEL.project]).toBe('p');
    expect(labels.mine).toBe('1');
  });
});

describe('dependency levels', () => {
  it('orders services over depends_on, links, volumes_from and network_mode', () => {
    const p = project('p', [
      service('db'),
      service('cache'),
      service('api', {
        dependsOn: { db: { condition: 'service_healthy', required: true, restart: false } },
        links: ['cache:c'],
      }),
      service('side', { networkMode: 'service:api', networks: {} }),
      service('backup', { volumesFrom: ['service:db:ro', 'container:other'] }),
    ]);
    expect(serviceDependencies(p.services.backup!)).toEqual(['db']);
    expect(dependencyLevels(p)).toEqual([['cache', 'db'], ['api', 'backup'], ['side']]);
  });

  it('orders services over ipc and pid service: references', () => {
    const p = project('p', [
      service('follower', { ipc: 'service:leader', pid: 'service:leader' }),
      service('leader', { ipc: 'shareable' }),
    ]);
    expect(serviceDependencies(p.services.follower!)).toEqual(['leader']);
    expect(dependencyLevels(p)).toEqual([['leader'], ['follower']]);
  });

  it('refuses a cycle', () => {
    const dep = { condition: 'service_started' as const, required: true, restart: false };
    const p = project('p', [
      service('a', { dependsOn: { b: dep } }),
      service('b', { dependsOn: { a: dep } }),
    ]);
    expect(() => dependencyLevels(p)).toThrow(ComposeError);
  });
});

describe('observe parsing', () => {
  it('reads health and exit codes from the listing status', () => {
    expect(parseHealth('Up 3 seconds (healthy)')).toBe('healthy');
    expect(parseHealth('Up 1 second (health: starting)')).toBe('starting');
    expect(parseHealth('Up 2 minutes (unhealthy)')).toBe('unhealthy');
    expect(parseHealth('Up 2 minutes')).toBe('none');
    expect(parseExitCode('Exited (137) 5 seconds ago')).toBe(137);
    expect(parseExitCode('Up 2 minutes')).toBeUndefined();
  });

  it('groups a listing by project and skips one-off containers', () => {
    const info = (
      name: string,
      projectName: string,
      svc: string,
      extra: Record<string, string> = {},
    ) =>
      ({
        Id: name,
        Names: [`/${name}`],
        Image: 'img',
        ImageID: 'sha256:1',
        State: 'running',
        Status: 'Up 1 second',
        Labels: {
          [LABEL.project]: projectName,
          [LABEL.service]: svc,
          [LABEL.containerNumber]: '1',
          [LABEL.stackVersion]: 'v7',
          ...extra,
        },
      }) as unknown as Docker.ContainerInfo;
    const grouped = groupByProject([
      info('p-a-1', 'p', 'a'),
      info('q-b-1', 'q', 'b'),
      info('p-a-run', 'p', 'a', { [LABEL.oneoff]: 'True' }),
    ]);
    expect([...grouped.keys()].sort()).toEqual(['p', 'q']);
    expect(grouped.get('p')?.services.a?.containers.map((c) => c.name)).toEqual(['p-a-1']);
    expect(grouped.get('p')?.stackVersion).toBe('v7');
  });
});
