import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import {
  canonicalCompose,
  formatComposeYaml,
  goDuration,
  MASK,
  maskValues,
  secretValues,
  serviceDocument,
  snakeCase,
} from '../../src/compose/canonical.js';
import { loadProject } from '../../src/compose/load.js';
import type { ComposeProject, ServiceConfig } from '../../src/compose/types.js';

const dirs: string[] = [];

afterEach(async () => {
  await Promise.all(dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'berth-canonical-'));
  dirs.push(dir);
  return dir;
}

const plain = { mask: (value: string): string => value };

/**
 * Every field of ServiceConfig set, none at its default. `Required<…>` makes the compiler refuse
 * this test when ServiceConfig gains a field: add it here, and the tests below check that
 * canonical.ts writes it (generically, or with a writer of its own) and reads back the same.
 */
const FULL: Required<ServiceConfig> = {
  name: 'full',
  image: 'berth-fixture/busybox:latest',
  build: {
    context: '/srv/stack/app',
    dockerfile: 'Dockerfile.prod',
    args: { VERSION: '1.2', EMPTY: '' },
    target: 'runtime',
    labels: { 'org.example.built-by': 'berth' },
    network: 'host',
    extraHosts: ['mirror.local:10.0.0.9'],
    shmSize: 134217728,
    noCache: false,
    pull: true,
  },
  pullPolicy: 'always',
  command: ['sh', '-c', 'echo "$HOME" && sleep 1'],
  entrypoint: ['/bin/sh'],
  environment: { PRICE: '$5', ANSWER: 'yes', TIME: '12:30', EMPTY: '', B: '2', A: '1' },
  ports: [
    { target: 80, published: 8080, hostIp: '127.0.0.1', protocol: 'tcp' },
    { target: 53, protocol: 'udp', mode: 'host' },
  ],
  expose: ['3000/tcp', '4000/udp'],
  volumes: [
    {
      type: 'bind',
      source: '/srv/stack/conf',
      target: '/conf',
      readOnly: true,
      bind: { propagation: 'rshared', createHostPath: false, selinux: 'z' },
    },
    {
      type: 'bind',
      source: '/srv/stack/logs',
      target: '/logs',
      readOnly: false,
      bind: { createHostPath: true },
    },
    {
      type: 'volume',
      source: 'data',
      target: '/data',
      readOnly: false,
      volume: { nocopy: true, subpath: 'sub', labels: { 'com.example.v': '1' } },
    },
    { type: 'volume', target: '/cache', readOnly: false, volume: { nocopy: false } },
    {
      type: 'tmpfs',
      target: '/scratch',
      readOnly: false,
      tmpfs: { size: 67108864, mode: 0o1777 },
      consistency: 'delegated',
    },
  ],
  networks: {
    front: { aliases: ['web', 'www'], ipv4Address: '172.30.0.10', priority: 10 },
    back: {
      aliases: [],
      ipv6Address: 'fd00::10',
      linkLocalIps: ['169.254.1.1'],
      driverOpts: { 'com.docker.network.endpoint.sysctls': 'net.ipv4.conf.IFNAME.log_martians=1' },
    },
  },
  networkMode: 'bridge',
  healthcheck: {
    disable: false,
    test: ['CMD-SHELL', 'true'],
    intervalMs: 30_000,
    timeoutMs: 5_000,
    retries: 3,
    startPeriodMs: 1_500,
    startIntervalMs: 500,
  },
  dependsOn: { solo: { condition: 'service_healthy', required: true, restart: true } },
  restart: { name: 'on-failure', maximumRetryCount: 3 },
  deploy: {
    replicas: 2,
    resources: {
      limits: { cpus: 1.5, memory: 1073741824, pids: 100 },
      reservations: {
        cpus: 0.25,
        memory: 268435456,
        devices: [{ driver: 'nvidia', count: 1, capabilities: ['gpu'], options: { v: '1' } }],
      },
    },
    restartPolicy: { condition: 'on-failure', maxAttempts: 3, delayMs: 5_000, windowMs: 120_000 },
    labels: { 'com.example.tier': 'web' },
  },
  replicas: 2,
  labels: { 'com.example.team': 'ops', 'com.example.cost': '$$' },
  containerName: 'full-one',
  hostname: 'full',
  domainname: 'example.test',
  user: '1000:1000',
  workingDir: '/app',
  extraHosts: ['db.local:10.0.0.5'],
  dns: ['1.1.1.1'],
  dnsSearch: ['example.test'],
  dnsOpt: ['ndots:2'],
  capAdd: ['NET_ADMIN'],
  capDrop: ['ALL'],
  privileged: true,
  devices: [{ source: '/dev/fuse', target: '/dev/fuse', permissions: 'rwm' }],
  securityOpt: ['no-new-privileges:true'],
  tmpfs: ['/run:size=64m'],
  shmSize: 67108864,
  ulimits: { nofile: { soft: 1024, hard: 2048 }, nproc: { soft: 100, hard: 100 } },
  sysctls: { 'net.core.somaxconn': '1024' },
  logging: { driver: 'json-file', options: { 'max-size': '10m', 'max-file': '3' } },
  init: true,
  stopSignal: 'SIGINT',
  stopGracePeriodMs: 90_000,
  memLimit: 536870912,
  memReservation: 134217728,
  cpus: 0.5,
  cpuShares: 512,
  readOnly: true,
  tty: true,
  stdinOpen: true,
  secrets: [
    { source: 'token', target: '/run/secrets/token', uid: '1000', gid: '1000', mode: 0o440 },
  ],
  configs: [{ source: 'settings', target: '/etc/settings.json' }],
  pid: 'host',
  ipc: 'shareable',
  groupAdd: ['audio'],
  volumesFrom: ['service:solo:ro'],
  links: ['solo:db'],
  profiles: ['debug'],
  platform: 'linux/amd64',
  runtime: 'runc',
  cgroup: 'private',
  cgroupParent: 'berth.slice',
  cpuCount: 2,
  cpuPercent: 50,
  cpuPeriod: 100000,
  cpuQuota: 50000,
  cpuRtPeriod: 1000000,
  cpuRtRuntime: 950000,
  cpuset: '0-1',
  memSwappiness: 10,
  memswapLimit: 1073741824,
  oomKillDisable: false,
  oomScoreAdj: -500,
  pidsLimit: 200,
  storageOpt: { size: '20G' },
  usernsMode: 'host',
  uts: 'host',
  deviceCgroupRules: ['c 1:3 mr'],
  blkio: {
    weight: 300,
    weightDevice: [{ path: '/dev/sda', weight: 400 }],
    deviceReadBps: [{ path: '/dev/sda', rate: 1048576 }],
    deviceReadIops: [{ path: '/dev/sda', rate: 120 }],
    deviceWriteBps: [{ path: '/dev/sda', rate: 2097152 }],
    deviceWriteIops: [{ path: '/dev/sda', rate: 30 }],
  },
  macAddress: '02:42:ac:11:00:02',
  externalLinks: ['legacy-db:db'],
  isolation: 'default',
  annotations: { 'com.example.note': 'x', 'a.first': 'y' },
  gpus: [
    { capabilities: ['gpu'], count: -1 },
    { driver: 'nvidia', deviceIds: ['0', '1'], capabilities: ['gpu', 'utility'] },
  ],
};

function project(services: Record<string, ServiceConfig>): ComposeProject {
  return {
    name: 'shop',
    workingDir: '/srv/stack',
    configFiles: ['/srv/stack/compose.yaml'],
    services,
    networks: {
      front: {
        key: 'front',
        name: 'shop_front',
        external: false,
        driver: 'bridge',
        driverOpts: { 'com.docker.network.bridge.name': 'br-shop' },
        ipam: {
          driver: 'default',
          config: [
            {
              subnet: '172.30.0.0/24',
              gateway: '172.30.0.1',
              ipRange: '172.30.0.0/25',
              auxAddresses: { router: '172.30.0.2' },
            },
          ],
          options: { foo: 'bar' },
        },
        internal: true,
        attachable: true,
        enableIpv6: true,
        labels: { 'com.example.net': 'front' },
      },
      back: {
        key: 'back',
        name: 'shared-back',
        external: true,
        driverOpts: {},
        internal: false,
        attachable: false,
        enableIpv6: false,
        labels: {},
      },
      default: {
        key: 'default',
        name: 'shop_default',
        external: false,
        driverOpts: {},
        internal: false,
        attachable: false,
        enableIpv6: false,
        labels: {},
      },
    },
    volumes: {
      data: {
        key: 'data',
        name: 'shop_data',
        external: false,
        driver: 'local',
        driverOpts: { type: 'tmpfs', device: 'tmpfs' },
        labels: { 'com.example.backup': 'daily' },
      },
    },
    secrets: { token: { key: 'token', source: 'file', file: '/srv/stack/token.txt' } },
    configs: {
      settings: { key: 'settings', source: 'content', content: '{"debug": true}' },
    },
    extensions: { 'x-berth': { strategy: 'blue-green', note: 'costs $1' } },
  };
}

/** A minimal service as the loader makes it: every field a service always has, at its default. */
async function minimalService(): Promise<ServiceConfig> {
  const dir = await tempDir();
  await writeFile(join(dir, 'compose.yaml'), 'services:\n  web:\n    image: busybox\n');
  const { project: loaded } = await loadProject(dir, { env: {} });
  const web = loaded.services.web;
  if (web === undefined) throw new Error('no web service');
  return web;
}

/** A service with every field the loader always sets at its default. */
function minimal(name: string): ServiceConfig {
  return {
    name,
    image: 'berth-fixture/busybox:latest',
    pullPolicy: 'missing',
    environment: {},
    ports: [],
    expose: [],
    volumes: [],
    networks: {},
    dependsOn: {},
    replicas: 1,
    labels: {},
    extraHosts: [],
    dns: [],
    dnsSearch: [],
    dnsOpt: [],
    capAdd: [],
    capDrop: [],
    privileged: false,
    devices: [],
    securityOpt: [],
    tmpfs: [],
    ulimits: {},
    sysctls: {},
    readOnly: false,
    tty: false,
    stdinOpen: false,
    secrets: [],
    configs: [],
    groupAdd: [],
    volumesFrom: [],
    links: [],
    profiles: [],
  };
}

/** FULL split in two loadable services: network_mode and container_name exclude other fields. */
function loadableServices(): Record<string, ServiceConfig> {
  const full: ServiceConfig = { ...FULL };
  delete full.networkMode;
  delete full.containerName;
  const solo: ServiceConfig = {
    ...minimal('solo'),
    pullPolicy: 'never',
    containerName: FULL.containerName,
    networkMode: 'host',
    healthcheck: { disable: true },
    command: [],
    init: false,
    oomKillDisable: false,
  };
  return { full, solo };
}

describe('goDuration', () => {
  it('writes milliseconds as Go writes a time.Duration', () => {
    expect(goDuration(0)).toBe('0s');
    expect(goDuration(250)).toBe('250ms');
    expect(goDuration(1.5)).toBe('1.5ms');
    expect(goDuration(0.002)).toBe('2µs');
    expect(goDuration(0.000001)).toBe('1ns');
    expect(goDuration(1_000)).toBe('1s');
    expect(goDuration(1_500)).toBe('1.5s');
    expect(goDuration(90_000)).toBe('1m30s');
    expect(goDuration(120_000)).toBe('2m0s');
    expect(goDuration(3_600_000)).toBe('1h0m0s');
    expect(goDuration(5_430_250)).toBe('1h30m30.25s');
    expect(goDuration(100 * 3_600_000)).toBe('100h0m0s');
  });
});

describe('maskValues', () => {
  it('hides a value whole, and inside longer text', () => {
    const mask = maskValues(['s3cret-pw', 'abc', '']);
    expect(mask('s3cret-pw')).toBe(MASK);
    expect(mask('postgres://app:s3cret-pw@db/app')).toBe(`postgres://app:${MASK}@db/app`);
    expect(mask('abc')).toBe(MASK);
    // Short values only whole: as a part, they would hide half the document.
    expect(mask('abcdef')).toBe('abcdef');
    expect(mask('plain')).toBe('plain');
  });

  it('replaces the longest value first', () => {
    const mask = maskValues(['pass', 'password-1']);
    expect(mask('x=password-1')).toBe(`x=${MASK}`);
  });

  it('lists the contents of secrets, not their files', () => {
    const p = project({});
    p.secrets = {
      file: { key: 'file', source: 'file', file: '/x' },
      env: { key: 'env', source: 'environment', environment: 'TOKEN', content: 'from-env' },
      inline: { key: 'inline', source: 'content', content: 'inline-text' },
    };
    expect(secretValues(p).sort()).toEqual(['from-env', 'inline-text']);
  });
});

describe('every ServiceConfig field', () => {
  it('knows every field a loaded service has', async () => {
    // A field the loader always sets that FULL lacks fails here, before any writer is needed.
    const known = new Set(Object.keys(FULL));
    const unknown = Object.keys(await minimalService()).filter((key) => !known.has(key));
    expect(unknown, 'ServiceConfig fields missing from FULL (and maybe canonical.ts)').toEqual([]);
  });

  it('writes each field: none is dropped', async () => {
    const base = await minimalService();
    const before = serviceDocument(base);
    const dropped: string[] = [];
    for (const field of Object.keys(FULL) as (keyof ServiceConfig)[]) {
      if (field === 'name') continue;
      const after = serviceDocument({ ...base, [field]: FULL[field] });
      if (JSON.stringify(after) === JSON.stringify(before)) dropped.push(field);
    }
    expect(dropped).toEqual([]);
  });

  it('reads back as the same services, networks and volumes', async () => {
    const services = loadableServices();
    const original = project(services);
    // Neither service is on the default network: the loader keeps only networks in use.
    delete original.networks.default;
    const yaml = formatComposeYaml(canonicalCompose(original, plain));
    const dir = await tempDir();
    await writeFile(join(dir, 'compose.yaml'), yaml);
    const { project: loaded } = await loadProject(dir, {
      env: {},
      confine: false,
      profiles: ['debug'],
    });
    expect(loaded.name).toBe('shop');
    expect(loaded.services).toEqual(services);
    expect(loaded.networks).toEqual(original.networks);
    expect(loaded.volumes).toEqual(original.volumes);
    expect(loaded.secrets).toEqual(original.secrets);
    expect(loaded.configs).toEqual(original.configs);
    expect(loaded.extensions).toEqual(original.extensions);
  });

  it('writes fields it has no writer for in snake_case, durations as Go durations', () => {
    const future = {
      futureMode: 'fast',
      futureLimit: 100,
      futureFlag: true,
      futureOff: false,
      futureOpts: { 'b.key': '2', 'a.key': '1' },
      futureList: ['x'],
      futureNested: { maxCount: 3, perDevice: [{ devicePath: '/dev/sda', rate: 1 }] },
      futureTimeoutMs: 1_500,
    };
    const doc = serviceDocument({ ...minimal('web'), ...future });
    expect(doc).toMatchObject({
      future_mode: 'fast',
      future_limit: 100,
      future_flag: true,
      future_opts: { 'a.key': '1', 'b.key': '2' },
      future_list: ['x'],
      future_nested: { max_count: 3, per_device: [{ device_path: '/dev/sda', rate: 1 }] },
      future_timeout: '1.5s',
    });
    expect(Object.keys(doc.future_opts as object)).toEqual(['a.key', 'b.key']);
    expect(doc).not.toHaveProperty('future_off');
    expect(snakeCase('enableIpv6')).toBe('enable_ipv6');
  });

  it('writes the newer fields under their compose names', () => {
    const doc = serviceDocument(FULL);
    expect(doc).toMatchObject({
      runtime: 'runc',
      cgroup_parent: 'berth.slice',
      cpu_rt_period: 1000000,
      memswap_limit: '1073741824',
      oom_kill_disable: false,
      pids_limit: 200,
      userns_mode: 'host',
      mac_address: '02:42:ac:11:00:02',
      external_links: ['legacy-db:db'],
      blkio_config: {
        weight: 300,
        device_read_bps: [{ path: '/dev/sda', rate: '1048576' }],
        device_read_iops: [{ path: '/dev/sda', rate: 120 }],
      },
      gpus: [
        { count: 'all', capabilities: ['gpu'] },
        { driver: 'nvidia', device_ids: ['0', '1'], capabilities: ['gpu', 'utility'] },
      ],
    });
    expect(serviceDocument({ ...FULL, memswapLimit: -1 }).memswap_limit).toBe(-1);
  });
});

describe('canonicalCompose', () => {
  it('writes the canonical document', () => {
    const web: ServiceConfig = {
      ...minimal('web'),
      command: ['sh', '-c', 'echo $$HOME'],
      environment: { TOKEN: 'abc-secret-123', ON: 'on' },
      ports: [{ target: 80, published: 8080, protocol: 'tcp' }],
      networks: { default: { aliases: [] } },
      dependsOn: { db: { condition: 'service_started', required: true, restart: false } },
      stopGracePeriodMs: 90_000,
      memLimit: 536870912,
    };
    const db: ServiceConfig = { ...web, name: 'db', command: undefined, dependsOn: {} };
    delete db.command;
    const p = project({ web, db });
    p.networks = { default: p.networks.default! };
    p.volumes = {};
    p.configs = {};
    p.secrets = {
      token: { key: 'token', source: 'environment', environment: 'TOKEN', content: 'x' },
      inline: { key: 'inline', source: 'content', content: 'hunter2' },
    };
    const doc = canonicalCompose(p, { mask: maskValues(['abc-secret-123']) });
    expect(Object.keys(doc)).toEqual(['name', 'services', 'networks', 'secrets', 'x-berth']);
    expect(formatComposeYaml(doc)).toBe(
      [
        'name: shop',
        'services:',
        '  db:',
        '    environment:',
        '      "ON": "on"',
        `      TOKEN: "${MASK}"`,
        '    image: berth-fixture/busybox:latest',
        '    mem_limit: "536870912"',
        '    networks:',
        '      default: null',
        '    ports:',
        '      - target: 80',
        '        published: 8080',
        '        protocol: tcp',
        '    stop_grace_period: 1m30s',
        '  web:',
        '    command:',
        '      - sh',
        '      - -c',
        '      - echo $$$$HOME',
        '    depends_on:',
        '      db:',
        '        condition: service_started',
        '        required: true',
        '    environment:',
        '      "ON": "on"',
        `      TOKEN: "${MASK}"`,
        '    image: berth-fixture/busybox:latest',
        '    mem_limit: "536870912"',
        '    networks:',
        '      default: null',
        '    ports:',
        '      - target: 80',
        '        published: 8080',
        '        protocol: tcp',
        '    stop_grace_period: 1m30s',
        'networks:',
        '  default:',
        '    name: shop_default',
        'secrets:',
        '  inline:',
        `    content: "${MASK}"`,
        '  token:',
        '    environment: TOKEN',
        'x-berth:',
        '  strategy: blue-green',
        '  note: costs $$1',
        '',
      ].join('\n'),
    );
  });

  it('reads as YAML 1.1 and 1.2 alike: ambiguous strings are quoted', () => {
    const doc = canonicalCompose(project(loadableServices()), plain);
    const text = formatComposeYaml(doc);
    expect(parse(text, { version: '1.1' })).toEqual(parse(text, { version: '1.2' }));
    expect(text).toContain('ANSWER: "yes"');
    expect(text).toContain('TIME: "12:30"');
    expect(text).toContain('PRICE: $$5');
  });

  it('leaves unset and default fields out', async () => {
    const base = await minimalService();
    expect(serviceDocument(base)).toEqual({
      image: 'busybox',
      networks: { default: null },
    });
  });
});
