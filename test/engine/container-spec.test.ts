import { describe, expect, it } from 'vitest';
import type { ComposeProject, ServiceConfig } from '../../src/compose/types.js';
import {
  apiVersionAtLeast,
  buildContainerSpec,
  networksByPriority,
  type ContainerSpec,
  type ContainerSpecInput,
  type MountSpec,
} from '../../src/engine/container-spec.js';
import { normalizeService } from '../../src/compose/normalize.js';
import { RawService } from '../../src/compose/schema.js';
import { serviceConfigHash } from '../../src/engine/hash.js';
import { ComposeError } from '../../src/errors.js';
import { bareService } from '../helpers/compose.js';

function service(overrides: Partial<ServiceConfig> = {}): ServiceConfig {
  return bareService('web', overrides);
}

function network(key: string, name = `demo_${key}`): ComposeProject['networks'][string] {
  return {
    key,
    name,
    external: false,
    driverOpts: {},
    internal: false,
    attachable: false,
    enableIpv6: false,
    labels: {},
  };
}

function project(svc: ServiceConfig, extra: Partial<ComposeProject> = {}): ComposeProject {
  return {
    name: 'demo',
    workingDir: '/stacks/demo',
    configFiles: ['/stacks/demo/compose.yaml'],
    services: { [svc.name]: svc, db: service({ name: 'db' }) },
    networks: { default: network('default') },
    volumes: {},
    secrets: {},
    configs: {},
    extensions: {},
    ...extra,
  };
}

function build(
  overrides: Partial<ServiceConfig> = {},
  extra: Partial<ComposeProject> = {},
  input: Partial<ContainerSpecInput> = {},
): ContainerSpec {
  const svc = service(overrides);
  return buildContainerSpec({
    project: project(svc, extra),
    service: svc,
    number: 1,
    containerName: `demo-${svc.name}-1`,
    labels: { 'com.docker.compose.project': 'demo' },
    resolveServiceContainer: (name) => `demo-${name}-1`,
    image: svc.image ?? 'demo-web',
    ...input,
  });
}

function mounts(spec: ContainerSpec): MountSpec[] {
  return (spec.create.HostConfig?.Mounts ?? []) as unknown as MountSpec[];
}

function thrown(fn: () => unknown): ComposeError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ComposeError) return err;
    throw err;
  }
  throw new Error('expected a ComposeError');
}

describe('buildContainerSpec basics', () => {
  it('names the container and passes image and the given labels unchanged', () => {
    const spec = build({}, {}, { labels: { a: '1', 'com.docker.compose.service': 'web' } });
    expect(spec.create.name).toBe('demo-web-1');
    expect(spec.create.Image).toBe('berth-fixture/busybox:latest');
    expect(spec.create.Labels).toEqual({ a: '1', 'com.docker.compose.service': 'web' });
  });

  it('passes command and entrypoint as argv and leaves them out when unset', () => {
    const spec = build({ command: ['sleep', '3600'], entrypoint: ['/bin/sh', '-c'] });
    expect(spec.create.Cmd).toEqual(['sleep', '3600']);
    expect(spec.create.Entrypoint).toEqual(['/bin/sh', '-c']);
    const bare = build();
    expect(bare.create).not.toHaveProperty('Cmd');
    expect(bare.create).not.toHaveProperty('Entrypoint');
  });

  it('keeps an empty command or entrypoint, which overrides the image', () => {
    const spec = build({ command: [], entrypoint: [] });
    expect(spec.create.Cmd).toEqual([]);
    expect(spec.create.Entrypoint).toEqual([]);
  });

  it('turns environment into KEY=value in the loader order, empty values kept', () => {
    const spec = build({ environment: { B: '2', A: 'x=y', EMPTY: '' } });
    expect(spec.create.Env).toEqual(['B=2', 'A=x=y', 'EMPTY=']);
  });

  it('maps identity and process fields', () => {
    const spec = build({
      hostname: 'app',
      domainname: 'example.internal',
      user: '1000:1000',
      workingDir: '/srv',
      stopSignal: 'SIGINT',
      stopGracePeriodMs: 90_500,
      tty: true,
      stdinOpen: true,
    });
    expect(spec.create).toMatchObject({
      Hostname: 'app',
      Domainname: 'example.internal',
      User: '1000:1000',
      WorkingDir: '/srv',
      StopSignal: 'SIGINT',
      StopTimeout: 90,
      Tty: true,
      OpenStdin: true,
      AttachStdin: false,
      StdinOnce: false,
      AttachStdout: true,
      AttachStderr: true,
    });
  });

  it('leaves unset optional fields out', () => {
    const spec = build();
    for (const field of [
      'Hostname',
      'Domainname',
      'User',
      'WorkingDir',
      'StopSignal',
      'StopTimeout',
      'Healthcheck',
      'ExposedPorts',
      'platform',
    ]) {
      expect(spec.create).not.toHaveProperty(field);
    }
    const host = spec.create.HostConfig ?? {};
    for (const field of [
      'RestartPolicy',
      'Binds',
      'Mounts',
      'PortBindings',
      'Init',
      'Memory',
      'LogConfig',
      'Links',
    ]) {
      expect(host).not.toHaveProperty(field);
    }
  });

  it('passes platform as the create query parameter', () => {
    expect(build({ platform: 'linux/arm64' }).create.platform).toBe('linux/arm64');
  });
});

describe('ports', () => {
  it('exposes published and expose-only ports and binds host ip and port', () => {
    const spec = build({
      ports: [
        { target: 80, published: 8080, protocol: 'tcp' },
        { target: 80, published: 8443, hostIp: '127.0.0.1', protocol: 'tcp' },
        { target: 53, protocol: 'udp', hostIp: '127.0.0.1' },
        { target: 9000, protocol: 'tcp' },
      ],
      expose: ['3000/tcp', '4000/udp', '5000'],
    });
    expect(spec.create.ExposedPorts).toEqual({
      '80/tcp': {},
      '53/udp': {},
      '9000/tcp': {},
      '3000/tcp': {},
      '4000/udp': {},
      '5000/tcp': {},
    });
    expect(spec.create.HostConfig?.PortBindings).toEqual({
      '80/tcp': [
        { HostIp: '', HostPort: '8080' },
        { HostIp: '127.0.0.1', HostPort: '8443' },
      ],
      '53/udp': [{ HostIp: '127.0.0.1', HostPort: '' }],
      '9000/tcp': [{ HostIp: '', HostPort: '' }],
    });
  });
});

describe('volumes', () => {
  it('uses Binds for bind mounts that may create the host path', () => {
    const spec = build({
      volumes: [
        {
          type: 'bind',
          source: '/srv/data',
          target: '/data',
          readOnly: false,
          bind: { createHostPath: true },
        },
        {
          type: 'bind',
          source: '/srv/conf',
          target: '/conf',
          readOnly: true,
          bind: { createHostPath: true, selinux: 'z' },
        },
        { type: 'bind', source: '/srv/plain', target: '/plain', readOnly: false },
      ],
    });
    expect(spec.create.HostConfig?.Binds).toEqual([
      '/srv/data:/data:rw',
      '/srv/conf:/conf:ro,z',
      '/srv/plain:/plain:rw',
    ]);
    expect(mounts(spec)).toEqual([]);
  });

  it('uses Mounts for binds that must not create the path or set propagation', () => {
    const spec = build({
      volumes: [
        {
          type: 'bind',
          source: '/srv/a',
          target: '/a',
          readOnly: true,
          bind: { createHostPath: false },
        },
        {
          type: 'bind',
          source: '/srv/b',
          target: '/b',
          readOnly: false,
          bind: { createHostPath: true, propagation: 'rslave' },
        },
        {
          type: 'bind',
          source: '/srv/c',
          target: '/c',
          readOnly: false,
          bind: { createHostPath: false },
          consistency: 'cached',
        },
      ],
    });
    expect(spec.create.HostConfig).not.toHaveProperty('Binds');
    expect(mounts(spec)).toEqual([
      { Type: 'bind', Source: '/srv/a', Target: '/a', ReadOnly: true },
      {
        Type: 'bind',
        Source: '/srv/b',
        Target: '/b',
        BindOptions: { Propagation: 'rslave', CreateMountpoint: true },
      },
      { Type: 'bind', Source: '/srv/c', Target: '/c', Consistency: 'cached' },
    ]);
  });

  it('mounts named volumes by their Docker name, anonymous ones without source', () => {
    const spec = build(
      {
        volumes: [
          { type: 'volume', source: 'data', target: '/data', readOnly: false },
          {
            type: 'volume',
            source: 'shared',
            target: '/shared',
            readOnly: true,
            volume: { nocopy: true },
          },
          { type: 'volume', target: '/anon', readOnly: false },
          {
            type: 'volume',
            source: 'undeclared',
            target: '/u',
            readOnly: false,
            volume: { nocopy: false },
          },
        ],
      },
      {
        volumes: {
          data: { key: 'data', name: 'demo_data', external: false, driverOpts: {}, labels: {} },
          shared: {
            key: 'shared',
            name: 'global-shared',
            external: true,
            driverOpts: {},
            labels: {},
          },
        },
      },
    );
    expect(mounts(spec)).toEqual([
      { Type: 'volume', Source: 'demo_data', Target: '/data' },
      {
        Type: 'volume',
        Source: 'global-shared',
        Target: '/shared',
        ReadOnly: true,
        VolumeOptions: { NoCopy: true },
      },
      { Type: 'volume', Target: '/anon' },
      { Type: 'volume', Source: 'undeclared', Target: '/u' },
    ]);
  });

  it('refuses a volume subpath on Engine API 1.41 and passes it on 1.45', () => {
    const overrides: Partial<ServiceConfig> = {
      volumes: [
        {
          type: 'volume',
          source: 'data',
          target: '/d',
          readOnly: false,
          volume: { nocopy: false, subpath: 'sub' },
        },
      ],
    };
    const err = thrown(() => build(overrides));
    expect(err.reason).toBe('UnsupportedByEngine');
    expect(err.place).toEqual({ service: 'web', field: 'volumes.volume.subpath' });
    const spec = build(overrides, {}, { apiVersion: '1.45' });
    expect(mounts(spec)[0]?.VolumeOptions).toEqual({ Subpath: 'sub' });
  });

  it('maps tmpfs mounts with size and mode, and service tmpfs entries to HostConfig.Tmpfs', () => {
    const spec = build({
      volumes: [
        { type: 'tmpfs', target: '/t1', readOnly: false, tmpfs: { size: 1048576, mode: 0o1777 } },
        { type: 'tmpfs', target: '/t2', readOnly: false },
      ],
      tmpfs: ['/run', '/cache:size=1m,mode=1777'],
    });
    expect(mounts(spec)).toEqual([
      { Type: 'tmpfs', Target: '/t1', TmpfsOptions: { SizeBytes: 1048576, Mode: 0o1777 } },
      { Type: 'tmpfs', Target: '/t2' },
    ]);
    expect(spec.create.HostConfig?.Tmpfs).toEqual({ '/run': '', '/cache': 'size=1m,mode=1777' });
  });
});

describe('networks', () => {
  it('attaches the first network at create with container name, service name and aliases', () => {
    const spec = build(
      {
        networks: {
          front: { aliases: ['www'], ipv4Address: '172.20.0.5' },
          back: { aliases: [] },
        },
      },
      { networks: { front: network('front'), back: network('back', 'shared-back') } },
    );
    // Same priority: by key, so `back` comes first.
    expect(spec.networks.map((n) => n.networkName)).toEqual(['shared-back', 'demo_front']);
    expect(spec.create.HostConfig?.NetworkMode).toBe('shared-back');
    expect(spec.create.NetworkingConfig).toEqual({
      EndpointsConfig: { 'shared-back': { Aliases: ['demo-web-1', 'web'] } },
    });
    expect(spec.networks[1]?.endpoint).toEqual({
      Aliases: ['demo-web-1', 'web', 'www'],
      IPAMConfig: { IPv4Address: '172.20.0.5' },
    });
  });

  it('orders networks by priority, highest first', () => {
    expect(
      networksByPriority({
        a: { aliases: [] },
        b: { aliases: [], priority: 10 },
        c: { aliases: [], priority: 5 },
      }),
    ).toEqual(['b', 'c', 'a']);
  });

  it('passes ipv6 and link-local addresses', () => {
    const spec = build({
      networks: { default: { aliases: [], ipv6Address: 'fd00::5', linkLocalIps: ['169.254.1.1'] } },
    });
    expect(spec.networks[0]?.endpoint.IPAMConfig).toEqual({
      IPv6Address: 'fd00::5',
      LinkLocalIPs: ['169.254.1.1'],
    });
  });

  it('falls back to the default network, and to none without any network', () => {
    const spec = build({ networks: {} });
    expect(spec.create.HostConfig?.NetworkMode).toBe('demo_default');
    const none = build({ networks: {} }, { networks: {} });
    expect(none.create.HostConfig?.NetworkMode).toBe('none');
    expect(none.create).not.toHaveProperty('NetworkingConfig');
    expect(none.networks).toEqual([]);
  });

  it('rejects an undeclared network', () => {
    const err = thrown(() => build({ networks: { missing: { aliases: [] } } }));
    expect(err.reason).toBe('UndeclaredNetwork');
    expect(err.place).toEqual({ service: 'web', field: 'networks.missing' });
  });

  it.each([
    ['host', 'host'],
    ['none', 'none'],
    ['bridge', 'bridge'],
    ['container:other', 'container:other'],
    ['service:db', 'container:demo-db-1'],
  ])('maps network_mode %s to %s without endpoints', (mode, expected) => {
    const spec = build({ networkMode: mode, networks: {} });
    expect(spec.create.HostConfig?.NetworkMode).toBe(expected);
    expect(spec.create).not.toHaveProperty('NetworkingConfig');
    expect(spec.networks).toEqual([]);
  });

  it('disables networking for network_mode disabled', () => {
    expect(build({ networkMode: 'disabled', networks: {} }).create.NetworkDisabled).toBe(true);
  });

  it('maps links to three names per linked container and puts them on the endpoints', () => {
    const spec = build({ links: ['db', 'db:database'] }, {}, { number: 2 });
    const links = [
      'demo-db-1:db',
      'demo-db-1:db-2',
      'demo-db-1:demo-db-2',
      'demo-db-1:database',
      'demo-db-1:db-2',
      'demo-db-1:demo-db-2',
    ];
    expect(spec.create.HostConfig?.Links).toEqual(links);
    expect(spec.networks[0]?.endpoint.Links).toEqual(links);
  });
});

describe('healthcheck', () => {
  it('converts milliseconds to nanoseconds', () => {
    const spec = build({
      healthcheck: {
        disable: false,
        test: ['CMD-SHELL', 'wget -q -O- localhost'],
        intervalMs: 500,
        timeoutMs: 2000,
        retries: 3,
        startPeriodMs: 90_000,
      },
    });
    expect(spec.create.Healthcheck).toEqual({
      Test: ['CMD-SHELL', 'wget -q -O- localhost'],
      Interval: 500_000_000,
      Timeout: 2_000_000_000,
      Retries: 3,
      StartPeriod: 90_000_000_000,
    });
  });

  it('turns disable into Test NONE and keeps only given fields', () => {
    expect(build({ healthcheck: { disable: true } }).create.Healthcheck).toEqual({
      Test: ['NONE'],
    });
    expect(build({ healthcheck: { disable: false, intervalMs: 1000 } }).create.Healthcheck).toEqual(
      {
        Interval: 1_000_000_000,
      },
    );
  });

  it('needs Engine API 1.44 for start_interval', () => {
    const overrides: Partial<ServiceConfig> = {
      healthcheck: { disable: false, test: ['CMD', 'true'], startIntervalMs: 200 },
    };
    expect(thrown(() => build(overrides)).reason).toBe('UnsupportedByEngine');
    expect(build(overrides, {}, { apiVersion: '1.44' }).create.Healthcheck).toEqual({
      Test: ['CMD', 'true'],
      StartInterval: 200_000_000,
    });
  });
});

describe('restart policy', () => {
  it.each([
    [{ name: 'always' } as const, { Name: 'always', MaximumRetryCount: 0 }],
    [{ name: 'unless-stopped' } as const, { Name: 'unless-stopped', MaximumRetryCount: 0 }],
    [
      { name: 'on-failure', maximumRetryCount: 3 } as const,
      { Name: 'on-failure', MaximumRetryCount: 3 },
    ],
    [{ name: 'no' } as const, { Name: 'no', MaximumRetryCount: 0 }],
  ])('maps restart %j', (restart, expected) => {
    expect(build({ restart }).create.HostConfig?.RestartPolicy).toEqual(expected);
  });

  it.each([
    ['any', { Name: 'always', MaximumRetryCount: 0 }],
    ['on-failure', { Name: 'on-failure', MaximumRetryCount: 5 }],
    ['none', { Name: 'no', MaximumRetryCount: 0 }],
  ] as const)('maps deploy condition %s, which wins over restart', (condition, expected) => {
    const spec = build({
      restart: { name: 'unless-stopped' },
      deploy: {
        restartPolicy: { condition, ...(condition === 'on-failure' ? { maxAttempts: 5 } : {}) },
      },
    });
    expect(spec.create.HostConfig?.RestartPolicy).toEqual(expected);
  });
  it('treats a deploy restart_policy without condition as any', () => {
    const spec = build({ deploy: { restartPolicy: { delayMs: 5000 } } });
    expect(spec.create.HostConfig?.RestartPolicy).toEqual({ Name: 'always', MaximumRetryCount: 0 });
  });
});

describe('host config fields', () => {
  it('maps dns, hosts, capabilities and security fields', () => {
    const spec = build({
      extraHosts: ['db.local:10.0.0.5'],
      dns: ['10.0.0.53'],
      dnsSearch: ['example.internal'],
      dnsOpt: ['ndots:2'],
      capAdd: ['NET_ADMIN'],
      capDrop: ['MKNOD'],
      privileged: true,
      securityOpt: ['no-new-privileges:true'],
      groupAdd: ['100'],
      readOnly: true,
      init: true,
      shmSize: 16 * 1024 * 1024,
      sysctls: { 'net.core.somaxconn': '1024' },
      pid: 'host',
      ipc: 'shareable',
    });
    expect(spec.create.HostConfig).toMatchObject({
      ExtraHosts: ['db.local:10.0.0.5'],
      Dns: ['10.0.0.53'],
      DnsSearch: ['example.internal'],
      DnsOptions: ['ndots:2'],
      CapAdd: ['NET_ADMIN'],
      CapDrop: ['MKNOD'],
      Privileged: true,
      SecurityOpt: ['no-new-privileges:true'],
      GroupAdd: ['100'],
      ReadonlyRootfs: true,
      Init: true,
      ShmSize: 16777216,
      Sysctls: { 'net.core.somaxconn': '1024' },
      PidMode: 'host',
      IpcMode: 'shareable',
    });
  });

  it('keeps init false, which overrides a daemon default of true', () => {
    expect(build({ init: false }).create.HostConfig?.Init).toBe(false);
  });

  it('turns systempaths=unconfined into empty masked and read-only paths', () => {
    const host = build({ securityOpt: ['systempaths=unconfined', 'seccomp=unconfined'] }).create
      .HostConfig;
    expect(host?.SecurityOpt).toEqual(['seccomp=unconfined']);
    expect(host?.MaskedPaths).toEqual([]);
    expect(host?.ReadonlyPaths).toEqual([]);
  });

  it('resolves service: references of pid and ipc to the container', () => {
    const host = build({ pid: 'service:db', ipc: 'service:db' }).create.HostConfig;
    expect(host?.PidMode).toBe('container:demo-db-1');
    expect(host?.IpcMode).toBe('container:demo-db-1');
  });

  it('resolves volumes_from services and containers, keeping the access mode', () => {
    const host = build({
      volumesFrom: [
        'service:db',
        'service:db:ro',
        'container:legacy:rw',
        'container:other',
        'db:ro',
        'unknown',
      ],
    }).create.HostConfig;
    expect(host?.VolumesFrom).toEqual([
      'demo-db-1',
      'demo-db-1:ro',
      'legacy:rw',
      'other',
      'demo-db-1:ro',
      'unknown',
    ]);
  });

  it('maps devices, ulimits and logging', () => {
    const host = build({
      devices: [{ source: '/dev/null', target: '/dev/n', permissions: 'rwm' }],
      ulimits: { nofile: { soft: 1024, hard: 2048 }, nproc: { soft: 512, hard: 512 } },
      logging: { driver: 'json-file', options: { 'max-size': '1m' } },
    }).create.HostConfig;
    expect(host?.Devices).toEqual([
      { PathOnHost: '/dev/null', PathInContainer: '/dev/n', CgroupPermissions: 'rwm' },
    ]);
    expect(host?.Ulimits).toEqual([
      { Name: 'nofile', Soft: 1024, Hard: 2048 },
      { Name: 'nproc', Soft: 512, Hard: 512 },
    ]);
    expect(host?.LogConfig).toEqual({ Type: 'json-file', Config: { 'max-size': '1m' } });
  });

  it('maps service-level resources', () => {
    const host = build({ memLimit: 64 << 20, cpus: 0.5, memReservation: 32 << 20, cpuShares: 512 })
      .create.HostConfig;
    expect(host).toMatchObject({
      Memory: 67108864,
      NanoCpus: 500_000_000,
      MemoryReservation: 33554432,
      CpuShares: 512,
    });
    expect(host).not.toHaveProperty('PidsLimit');
  });

  it('lets deploy.resources override the service-level ones', () => {
    const host = build({
      memLimit: 128 << 20,
      cpus: 2,
      memReservation: 64 << 20,
      deploy: {
        resources: {
          limits: { cpus: 0.25, memory: 48 << 20, pids: 100 },
          reservations: { memory: 16 << 20 },
        },
      },
    }).create.HostConfig;
    expect(host).toMatchObject({
      Memory: 50331648,
      NanoCpus: 250_000_000,
      PidsLimit: 100,
      MemoryReservation: 16777216,
    });
  });

  it('rounds fractional CPUs to whole nanocpus', () => {
    expect(build({ cpus: 0.1 + 0.2 }).create.HostConfig?.NanoCpus).toBe(300_000_000);
  });
});

describe('secrets and configs', () => {
  const files = {
    secrets: {
      password: { key: 'password', source: 'file', file: '/stacks/demo/password.txt' },
      token: { key: 'token', source: 'environment', environment: 'TOKEN', content: 't0ken' },
    },
    configs: {
      nginx: { key: 'nginx', source: 'file', file: '/stacks/demo/nginx.conf' },
      inline: { key: 'inline', source: 'content', content: 'a=1\n' },
    },
  } satisfies Partial<ComposeProject>;

  it('mounts file secrets read-only and binds file configs read-only', () => {
    const spec = build(
      {
        secrets: [{ source: 'password', target: '/run/secrets/password' }],
        configs: [{ source: 'nginx', target: '/etc/nginx/nginx.conf' }],
      },
      files,
    );
    expect(mounts(spec)).toEqual([
      {
        Type: 'bind',
        Source: '/stacks/demo/password.txt',
        Target: '/run/secrets/password',
        ReadOnly: true,
      },
    ]);
    expect(spec.create.HostConfig?.Binds).toEqual([
      '/stacks/demo/nginx.conf:/etc/nginx/nginx.conf:ro',
    ]);
    expect(spec.files).toEqual([]);
  });

  it('lets a volume on the same target win over a secret', () => {
    const spec = build(
      {
        volumes: [{ type: 'bind', source: '/x', target: '/run/secrets/password', readOnly: false }],
        secrets: [{ source: 'password', target: '/run/secrets/password' }],
      },
      files,
    );
    expect(spec.create.HostConfig?.Binds).toEqual(['/x:/run/secrets/password:rw']);
    expect(mounts(spec)).toEqual([]);
  });

  it('copies environment and content sources in as files, mode 0444 by default', () => {
    const spec = build(
      {
        secrets: [
          { source: 'token', target: '/run/secrets/token', uid: '1000', gid: '1000', mode: 0o400 },
        ],
        configs: [{ source: 'inline', target: '/inline' }],
      },
      files,
    );
    expect(spec.files).toEqual([
      { path: '/run/secrets/token', content: 't0ken', uid: '1000', gid: '1000', mode: 0o400 },
      { path: '/inline', content: 'a=1\n', mode: 0o444 },
    ]);
    expect(spec.create.HostConfig).not.toHaveProperty('Mounts');
  });

  it('refuses to copy files into a read-only service', () => {
    const err = thrown(() =>
      build({ readOnly: true, configs: [{ source: 'inline', target: '/inline' }] }, files),
    );
    expect(err.reason).toBe('ReadOnlyFileInjection');
  });

  it('rejects undeclared secrets and configs', () => {
    expect(
      thrown(() => build({ secrets: [{ source: 'nope', target: '/run/secrets/nope' }] })).reason,
    ).toBe('UndeclaredSecret');
    expect(thrown(() => build({ configs: [{ source: 'nope', target: '/nope' }] })).reason).toBe(
      'UndeclaredConfig',
    );
  });
});

describe('apiVersionAtLeast', () => {
  it.each([
    ['1.41', '1.41', true],
    ['1.45', '1.44', true],
    ['1.41', '1.44', false],
    ['2.0', '1.44', true],
    ['1.9', '1.10', false],
  ])('%s >= %s is %s', (actual, wanted, expected) => {
    expect(apiVersionAtLeast(actual, wanted)).toBe(expected);
  });
});

describe('runtime, cgroup, CPU, memory and namespace fields', () => {
  it('maps each service field to its HostConfig field', () => {
    const host = build({
      runtime: 'runc',
      cgroup: 'private',
      cgroupParent: 'berth.slice',
      cpuCount: 2,
      cpuPercent: 50,
      cpuPeriod: 100_000,
      cpuQuota: 50_000,
      cpuRtPeriod: 1_000_000,
      cpuRtRuntime: 950_000,
      cpuset: '0-1',
      memSwappiness: 10,
      memswapLimit: -1,
      oomKillDisable: true,
      oomScoreAdj: -500,
      pidsLimit: 64,
      storageOpt: { size: '1G' },
      usernsMode: 'host',
      uts: 'host',
      deviceCgroupRules: ['c 1:3 mr'],
      isolation: 'default',
    }).create.HostConfig;
    expect(host).toMatchObject({
      Runtime: 'runc',
      CgroupnsMode: 'private',
      CgroupParent: 'berth.slice',
      CpuCount: 2,
      CpuPercent: 50,
      CpuPeriod: 100_000,
      CpuQuota: 50_000,
      CpuRealtimePeriod: 1_000_000,
      CpuRealtimeRuntime: 950_000,
      CpusetCpus: '0-1',
      MemorySwappiness: 10,
      MemorySwap: -1,
      OomKillDisable: true,
      OomScoreAdj: -500,
      PidsLimit: 64,
      StorageOpt: { size: '1G' },
      UsernsMode: 'host',
      UTSMode: 'host',
      DeviceCgroupRules: ['c 1:3 mr'],
      Isolation: 'default',
    });
  });

  it('keeps false and zero values, which override daemon defaults', () => {
    const host = build({ oomKillDisable: false, oomScoreAdj: 0 }).create.HostConfig;
    expect(host).toMatchObject({ OomKillDisable: false, OomScoreAdj: 0 });
  });

  it('leaves every one of them out when unset', () => {
    const host = build().create.HostConfig ?? {};
    for (const field of [
      'Runtime',
      'CgroupnsMode',
      'CgroupParent',
      'CpuCount',
      'CpuPercent',
      'CpuPeriod',
      'CpuQuota',
      'CpuRealtimePeriod',
      'CpuRealtimeRuntime',
      'CpusetCpus',
      'MemorySwappiness',
      'MemorySwap',
      'OomKillDisable',
      'OomScoreAdj',
      'PidsLimit',
      'StorageOpt',
      'UsernsMode',
      'UTSMode',
      'DeviceCgroupRules',
      'Isolation',
      'Annotations',
      'DeviceRequests',
      'BlkioWeight',
      'BlkioDeviceReadBps',
    ])
      expect(host).not.toHaveProperty(field);
    expect(build().create).not.toHaveProperty('MacAddress');
  });

  it('lets deploy.resources.limits.pids win over pids_limit', () => {
    const host = build({ pidsLimit: 64, deploy: { resources: { limits: { pids: 100 } } } }).create
      .HostConfig;
    expect(host?.PidsLimit).toBe(100);
  });

  it('maps blkio_config', () => {
    const host = build({
      blkio: {
        weight: 300,
        weightDevice: [{ path: '/dev/vda', weight: 400 }],
        deviceReadBps: [{ path: '/dev/vda', rate: 1048576 }],
        deviceReadIops: [{ path: '/dev/vda', rate: 100 }],
        deviceWriteBps: [{ path: '/dev/vda', rate: 2097152 }],
        deviceWriteIops: [{ path: '/dev/vda', rate: 200 }],
      },
    }).create.HostConfig;
    expect(host).toMatchObject({
      BlkioWeight: 300,
      BlkioWeightDevice: [{ Path: '/dev/vda', Weight: 400 }],
      BlkioDeviceReadBps: [{ Path: '/dev/vda', Rate: 1048576 }],
      BlkioDeviceReadIOps: [{ Path: '/dev/vda', Rate: 100 }],
      BlkioDeviceWriteBps: [{ Path: '/dev/vda', Rate: 2097152 }],
      BlkioDeviceWriteIOps: [{ Path: '/dev/vda', Rate: 200 }],
    });
  });

  it('turns gpus and reserved devices into device requests', () => {
    const host = build({
      gpus: [{ capabilities: ['gpu'], count: -1 }],
      deploy: {
        resources: {
          reservations: {
            devices: [
              {
                driver: 'nvidia',
                deviceIds: ['0', '3'],
                capabilities: ['gpu', 'utility'],
                options: { a: 'b' },
              },
            ],
          },
        },
      },
    }).create.HostConfig;
    expect(host?.DeviceRequests).toEqual([
      {
        Driver: 'nvidia',
        Count: 0,
        DeviceIDs: ['0', '3'],
        Capabilities: [['gpu', 'utility']],
        Options: { a: 'b' },
      },
      { Driver: '', Count: -1, DeviceIDs: [], Capabilities: [['gpu']], Options: {} },
    ]);
  });

  it('needs Engine API 1.43 for annotations', () => {
    const err = thrown(() => build({ annotations: { 'io.example/a': 'b' } }));
    expect(err.reason).toBe('UnsupportedByEngine');
    expect(err.place).toMatchObject({ service: 'web', field: 'annotations' });
    const host = build({ annotations: { 'io.example/a': 'b' } }, {}, { apiVersion: '1.43' }).create
      .HostConfig as Record<string, unknown>;
    expect(host.Annotations).toEqual({ 'io.example/a': 'b' });
  });
});

describe('mac_address, external_links, endpoint driver options and volume labels', () => {
  it('puts mac_address on the container before Engine API 1.44 and on the first endpoint from 1.44', () => {
    const old = build({ macAddress: '02:42:ac:11:00:99' });
    expect(old.create.MacAddress).toBe('02:42:ac:11:00:99');
    expect(old.networks[0]?.endpoint).not.toHaveProperty('MacAddress');
    const recent = build({ macAddress: '02:42:ac:11:00:99' }, {}, { apiVersion: '1.44' });
    expect(recent.create).not.toHaveProperty('MacAddress');
    expect(recent.networks[0]?.endpoint.MacAddress).toBe('02:42:ac:11:00:99');
  });

  it('keeps mac_address on the container without a network to carry it', () => {
    const spec = build(
      { macAddress: '02:42:ac:11:00:99', networkMode: 'host', networks: {} },
      {},
      {
        apiVersion: '1.44',
      },
    );
    expect(spec.create.MacAddress).toBe('02:42:ac:11:00:99');
  });

  it('links external containers under their alias or their own name', () => {
    const spec = build({ links: ['db'], externalLinks: ['legacy-redis:cache', 'metrics'] });
    const links = spec.create.HostConfig?.Links;
    expect(links).toEqual([
      'demo-db-1:db',
      'demo-db-1:db-1',
      'demo-db-1:demo-db-1',
      'legacy-redis:cache',
      'metrics:metrics',
    ]);
    expect(spec.networks[0]?.endpoint.Links).toEqual(links);
  });

  it('passes per-network driver options to the endpoint', () => {
    const spec = build({
      networks: { default: { aliases: [], driverOpts: { 'com.example.opt': '1' } } },
    });
    expect(spec.networks[0]?.endpoint.DriverOpts).toEqual({ 'com.example.opt': '1' });
    expect(build().networks[0]?.endpoint).not.toHaveProperty('DriverOpts');
  });

  it('labels the volume a mount creates', () => {
    const spec = build(
      {
        volumes: [
          {
            type: 'volume',
            source: 'data',
            target: '/data',
            readOnly: false,
            volume: { nocopy: false, labels: { backup: 'daily' } },
          },
        ],
      },
      {
        volumes: {
          data: {
            key: 'data',
            name: 'demo_data',
            external: false,
            driverOpts: {},
            labels: {},
          },
        },
      },
    );
    expect(mounts(spec)[0]?.VolumeOptions).toEqual({ Labels: { backup: 'daily' } });
  });
});

describe('config hash of existing stacks', () => {
  it('is unchanged for a service that sets none of the newly mapped fields', () => {
    // The hash this service had before runtime, cgroup, CPU, blkio and the other fields were
    // mapped: a different one would recreate every deployed container on upgrade.
    const raw = {
      image: 'nginx:1.27',
      command: 'nginx -g "daemon off;"',
      environment: { A: '1' },
      ports: ['8080:80'],
      volumes: [{ type: 'volume', source: 'data', target: '/data' }],
      healthcheck: { test: 'true', interval: '5s' },
      restart: 'unless-stopped',
      deploy: {
        resources: {
          limits: { cpus: '0.5', memory: '64m', pids: 100 },
          reservations: { memory: '16m' },
        },
      },
      labels: { a: 'b' },
      cap_add: ['NET_ADMIN'],
      mem_limit: '128m',
      cpu_shares: 512,
      ulimits: { nofile: 1024 },
      sysctls: { 'net.core.somaxconn': '1024' },
      logging: { driver: 'json-file', options: { 'max-size': '1m' } },
      init: true,
      stop_grace_period: '30s',
      platform: 'linux/amd64',
      networks: { front: { aliases: ['x'], priority: 2 } },
    };
    const svc = normalizeService(
      {
        file: '/stacks/demo/compose.yaml',
        service: 'web',
        baseDir: '/stacks/demo',
        lookup: () => undefined,
        declared: {
          networks: new Set(['front']),
          volumes: new Set(['data']),
          secrets: new Set(),
          configs: new Set(),
        },
      },
      RawService.parse(raw),
    );
    const demo: ComposeProject = {
      name: 'demo',
      workingDir: '/stacks/demo',
      configFiles: [],
      services: { web: svc },
      networks: {},
      volumes: {},
      secrets: {},
      configs: {},
      extensions: {},
    };
    expect(serviceConfigHash(demo, svc)).toBe(
      '074937440fc596e48be69c1370387443f529588d88ea46d1f2c0da107670652a',
    );
  });
});
