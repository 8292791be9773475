import { describe, expect, it } from 'vitest';
import { normalizeService, type NormalizeContext } from '../../src/compose/normalize.js';
import { parseRaw, RawService } from '../../src/compose/schema.js';
import type { ServiceConfig } from '../../src/compose/types.js';
import { ComposeError } from '../../src/errors.js';
import { parseExpose, parseShortPort } from '../../src/compose/ports.js';
import { splitShellWords } from '../../src/compose/shellwords.js';
import { parseSize } from '../../src/compose/units.js';
import { parseShortVolume } from '../../src/compose/volumes.js';
import { normalizeProjectName } from '../../src/compose/load.js';

describe('splitShellWords', () => {
  it.each([
    ['sleep 3600', ['sleep', '3600']],
    ['  a   b\tc ', ['a', 'b', 'c']],
    [`sh -c 'echo "hi there"'`, ['sh', '-c', 'echo "hi there"']],
    [`echo "a b" c`, ['echo', 'a b', 'c']],
    ['echo a\\ b', ['echo', 'a b']],
    [`echo "say \\"x\\""`, ['echo', 'say "x"']],
    [`echo ''`, ['echo', '']],
    [`x'y'"z"`, ['xyz']],
    ['', []],
  ])('%s', (text, words) => {
    expect(splitShellWords(text)).toEqual(words);
  });

  it('returns undefined for an unterminated quote', () => {
    expect(splitShellWords(`echo 'oops`)).toBeUndefined();
  });
});

describe('parseSize', () => {
  it.each([
    ['512m', 512 * 1024 ** 2],
    ['1g', 1024 ** 3],
    ['1GB', 1024 ** 3],
    ['64k', 65536],
    ['100b', 100],
    ['1.5g', 1.5 * 1024 ** 3],
    [2048, 2048],
    ['2048', 2048],
  ] as const)('%s', (text, bytes) => {
    expect(parseSize(text)).toBe(bytes);
  });

  it('rejects garbage', () => {
    expect(parseSize('lots')).toBeUndefined();
    expect(parseSize('12x')).toBeUndefined();
  });
});

describe('parseShortPort', () => {
  it.each([
    ['80', [{ target: 80, protocol: 'tcp' }]],
    [80, [{ target: 80, protocol: 'tcp' }]],
    ['8080:80', [{ target: 80, published: 8080, protocol: 'tcp' }]],
    [
      '127.0.0.1:8080:80/udp',
      [{ target: 80, published: 8080, hostIp: '127.0.0.1', protocol: 'udp' }],
    ],
    ['127.0.0.1::80', [{ target: 80, hostIp: '127.0.0.1', protocol: 'tcp' }]],
    ['[::1]:8080:80', [{ target: 80, published: 8080, hostIp: '::1', protocol: 'tcp' }]],
    [
      '8000-8002:9000-9002',
      [
        { target: 9000, published: 8000, protocol: 'tcp' },
        { target: 9001, published: 8001, protocol: 'tcp' },
        { target: 9002, published: 8002, protocol: 'tcp' },
      ],
    ],
    [
      '3000-3001',
      [
        { target: 3000, protocol: 'tcp' },
        { target: 3001, protocol: 'tcp' },
      ],
    ],
  ] as const)('%s', (spec, expected) => {
    expect(parseShortPort(spec)).toEqual(expected);
  });

  it.each([['80/xyz'], ['abc'], ['8000-8002:80-81'], ['1:2:3:4'], ['0'], ['70000']])(
    '%s is invalid',
    (spec) => {
      expect(typeof parseShortPort(spec)).toBe('string');
    },
  );
});

describe('parseExpose', () => {
  it('adds the protocol and expands ranges', () => {
    expect(parseExpose('3000')).toEqual(['3000/tcp']);
    expect(parseExpose(53)).toEqual(['53/tcp']);
    expect(parseExpose('53/udp')).toEqual(['53/udp']);
    expect(parseExpose('4000-4001')).toEqual(['4000/tcp', '4001/tcp']);
    expect(typeof parseExpose('x')).toBe('string');
  });
});

describe('parseShortVolume', () => {
  it('parses binds, named and anonymous volumes with options', () => {
    expect(parseShortVolume('./data:/data:ro', '/stack')).toEqual({
      type: 'bind',
      source: '/stack/data',
      target: '/data',
      read_only: true,
      bind: { create_host_path: true },
    });
    expect(parseShortVolume('/abs:/y:rw,z', '/stack')).toEqual({
      type: 'bind',
      source: '/abs',
      target: '/y',
      read_only: false,
      bind: { create_host_path: true, selinux: 'z' },
    });
    expect(parseShortVolume('~/conf:/conf:rshared', '/stack', '/home/me')).toEqual({
      type: 'bind',
      source: '/home/me/conf',
      target: '/conf',
      bind: { create_host_path: true, propagation: 'rshared' },
    });
    expect(parseShortVolume('named:/x:nocopy', '/stack')).toEqual({
      type: 'volume',
      source: 'named',
      target: '/x',
      volume: { nocopy: true },
    });
    expect(parseShortVolume('/anon', '/stack')).toEqual({
      type: 'volume',
      target: '/anon',
      volume: { nocopy: false },
    });
  });

  it('reports bad specs', () => {
    expect(parseShortVolume('a:/b:bogus', '/s')).toMatch(/unknown option "bogus"/);
    expect(parseShortVolume('a:b:c:d', '/s')).toMatch(/too many/);
    expect(parseShortVolume(':/x', '/s')).toMatch(/empty/);
  });
});

describe('normalizeProjectName', () => {
  it.each([
    ['MyStack', 'mystack'],
    ['my.stack!', 'mystack'],
    ['_-lead', 'lead'],
    ['a_b-c9', 'a_b-c9'],
    ['Über', 'ber'],
  ])('%s -> %s', (input, output) => {
    expect(normalizeProjectName(input)).toBe(output);
  });
});

/** Validates and normalizes one service the way the loader does, with nothing declared but `front`. */
function normalized(raw: Record<string, unknown>): ServiceConfig {
  const ctx: NormalizeContext = {
    file: '/stack/compose.yaml',
    service: 'web',
    baseDir: '/stack',
    lookup: () => undefined,
    declared: {
      networks: new Set(['front']),
      volumes: new Set(['data']),
      secrets: new Set(),
      configs: new Set(),
    },
  };
  const parsed = parseRaw(
    RawService,
    { image: 'a', ...raw },
    {
      file: ctx.file,
      service: 'web',
      what: 'service',
    },
  );
  return normalizeService(ctx, parsed);
}

function normalizeError(raw: Record<string, unknown>): ComposeError {
  try {
    normalized(raw);
  } catch (err) {
    if (err instanceof ComposeError) return err;
    throw err;
  }
  throw new Error('expected a ComposeError');
}

describe('normalizeService: runtime, cgroup, CPU, memory and namespace fields', () => {
  it('normalizes each field', () => {
    const service = normalized({
      runtime: 'runc',
      cgroup: 'host',
      cgroup_parent: 'berth.slice',
      cpu_count: '2',
      cpu_percent: 50,
      cpu_period: '100000',
      cpu_quota: 50000,
      cpu_rt_period: 1000000,
      cpu_rt_runtime: '950ms',
      cpuset: 0,
      mem_swappiness: '10',
      memswap_limit: '1g',
      oom_kill_disable: 'true',
      oom_score_adj: -500,
      pids_limit: -1,
      storage_opt: { size: '1G', count: 2 },
      userns_mode: 'host',
      uts: 'host',
      device_cgroup_rules: ['c 1:3 mr'],
      mac_address: '02:42:ac:11:00:99',
      external_links: ['legacy:db'],
      isolation: 'default',
      annotations: ['io.example/a=b', 'flag'],
    });
    expect(service).toMatchObject({
      runtime: 'runc',
      cgroup: 'host',
      cgroupParent: 'berth.slice',
      cpuCount: 2,
      cpuPercent: 50,
      cpuPeriod: 100000,
      cpuQuota: 50000,
      cpuRtPeriod: 1000000,
      cpuRtRuntime: 950000,
      cpuset: '0',
      memSwappiness: 10,
      memswapLimit: 1024 ** 3,
      oomKillDisable: true,
      oomScoreAdj: -500,
      pidsLimit: -1,
      storageOpt: { size: '1G', count: '2' },
      usernsMode: 'host',
      uts: 'host',
      deviceCgroupRules: ['c 1:3 mr'],
      macAddress: '02:42:ac:11:00:99',
      externalLinks: ['legacy:db'],
      isolation: 'default',
      annotations: { 'io.example/a': 'b', flag: '' },
    });
  });

  it('leaves every new field out of a service that does not set it', () => {
    const service = normalized({ ports: [{ target: 80, name: 'web', app_protocol: 'http' }] });
    for (const field of [
      'runtime',
      'cgroup',
      'cgroupParent',
      'cpuCount',
      'cpuPercent',
      'cpuPeriod',
      'cpuQuota',
      'cpuRtPeriod',
      'cpuRtRuntime',
      'cpuset',
      'memSwappiness',
      'memswapLimit',
      'oomKillDisable',
      'oomScoreAdj',
      'pidsLimit',
      'storageOpt',
      'usernsMode',
      'uts',
      'deviceCgroupRules',
      'blkio',
      'macAddress',
      'externalLinks',
      'isolation',
      'annotations',
      'gpus',
    ])
      expect(service).not.toHaveProperty(field);
    // Port names and application protocols are metadata with no Engine field.
    expect(service.ports).toEqual([{ target: 80, protocol: 'tcp' }]);
  });

  it('accepts attach, which changes nothing for a detached deploy', () => {
    expect(normalized({ attach: false })).toEqual(normalized({}));
  });

  it('takes -1 as unlimited swap', () => {
    expect(normalized({ memswap_limit: -1 }).memswapLimit).toBe(-1);
    expect(normalized({ memswap_limit: '-1' }).memswapLimit).toBe(-1);
  });

  it.each([
    ['oom_score_adj', 1001],
    ['mem_swappiness', 101],
    ['cpu_percent', 101],
    ['cpu_count', -1],
  ])('refuses %s %s out of range', (field, value) => {
    expect(normalizeError({ [field]: value }).place.field).toBe(field);
  });

  it('refuses a cgroup mode other than host or private', () => {
    expect(normalizeError({ cgroup: 'shared' }).place.field).toBe('cgroup');
  });

  it('normalizes blkio_config, byte rates as sizes', () => {
    const service = normalized({
      blkio_config: {
        weight: 300,
        weight_device: [{ path: '/dev/vda', weight: 400 }],
        device_read_bps: [{ path: '/dev/vda', rate: '1mb' }],
        device_write_iops: [{ path: '/dev/vda', rate: '120' }],
      },
    });
    expect(service.blkio).toEqual({
      weight: 300,
      weightDevice: [{ path: '/dev/vda', weight: 400 }],
      deviceReadBps: [{ path: '/dev/vda', rate: 1048576 }],
      deviceWriteIops: [{ path: '/dev/vda', rate: 120 }],
    });
    expect(normalizeError({ blkio_config: { weight: 5 } }).place.field).toBe('blkio_config.weight');
  });

  it('turns gpus into device requests with the gpu capability', () => {
    expect(normalized({ gpus: 'all' }).gpus).toEqual([{ capabilities: ['gpu'], count: -1 }]);
    expect(
      normalized({
        gpus: [
          { driver: 'nvidia', count: 2 },
          { device_ids: ['1'], capabilities: ['compute'] },
        ],
      }).gpus,
    ).toEqual([
      { capabilities: ['gpu'], driver: 'nvidia', count: 2 },
      { capabilities: ['compute', 'gpu'], deviceIds: ['1'] },
    ]);
  });

  it('reads reserved devices as Compose does: all devices unless count or device_ids say', () => {
    const devices = (list: unknown[]): unknown =>
      normalized({ deploy: { resources: { reservations: { devices: list } } } }).deploy?.resources
        ?.reservations?.devices;
    expect(devices([{ capabilities: ['gpu'] }])).toEqual([{ capabilities: ['gpu'], count: -1 }]);
    expect(devices([{ capabilities: ['gpu'], count: 'all', options: { a: 1 } }])).toEqual([
      { capabilities: ['gpu'], count: -1, options: { a: '1' } },
    ]);
    expect(devices([{ capabilities: ['gpu'], count: '1', driver: 'nvidia' }])).toEqual([
      { capabilities: ['gpu'], count: 1, driver: 'nvidia' },
    ]);
    const reservations = 'deploy.resources.reservations';
    expect(
      normalizeError({ deploy: { resources: { reservations: { devices: [{ count: 1 }] } } } }).place
        .field,
    ).toBe(`${reservations}.devices[0].capabilities`);
    expect(
      normalizeError({
        deploy: {
          resources: {
            reservations: { devices: [{ capabilities: ['gpu'], count: 1, device_ids: ['0'] }] },
          },
        },
      }).place.field,
    ).toBe(`${reservations}.devices[0]`);
  });

  it('accepts deploy.mode replicated and refuses global', () => {
    expect(normalized({ deploy: { mode: 'replicated' } }).deploy).toEqual({});
    const err = normalizeError({ deploy: { mode: 'global' } });
    expect(err.place.field).toBe('deploy.mode');
    expect(err.message).toContain('swarm');
  });

  it('keeps per-network driver options and volume labels', () => {
    const service = normalized({
      networks: { front: { driver_opts: { 'com.example.opt': 1 } } },
      volumes: [{ type: 'volume', source: 'data', target: '/data', volume: { labels: ['a=b'] } }],
    });
    expect(service.networks.front).toEqual({ aliases: [], driverOpts: { 'com.example.opt': '1' } });
    expect(service.volumes[0]?.volume).toEqual({ nocopy: false, labels: { a: 'b' } });
  });
});
