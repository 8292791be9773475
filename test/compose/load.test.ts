import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { findComposeFile, loadProject, type LoadOptions } from '../../src/compose/load.js';
import type { LoadResult, ServiceConfig } from '../../src/compose/types.js';
import { ComposeError } from '../../src/errors.js';

const dirs: string[] = [];

afterEach(async () => {
  await Promise.all(dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

/** Writes the files into a fresh temp folder named `stack` and returns the folder. */
async function project(files: Record<string, string>): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'berth-compose-'));
  dirs.push(root);
  const dir = join(root, 'stack');
  await mkdir(dir);
  for (const [name, text] of Object.entries(files)) {
    await mkdir(dirname(join(dir, name)), { recursive: true });
    await writeFile(join(dir, name), text);
  }
  return dir;
}

async function load(
  files: Record<string, string>,
  options: LoadOptions = {},
): Promise<LoadResult & { dir: string }> {
  const dir = await project(files);
  const result = await loadProject(dir, { env: {}, ...options });
  return { ...result, dir };
}

async function service(yaml: string, options: LoadOptions = {}): Promise<ServiceConfig> {
  const { project } = await load({ 'compose.yaml': yaml }, options);
  const web = project.services.web;
  if (web === undefined) throw new Error('no web service');
  return web;
}

async function loadError(
  files: Record<string, string>,
  options: LoadOptions = {},
): Promise<ComposeError> {
  try {
    await load(files, options);
  } catch (err) {
    if (err instanceof ComposeError) return err;
    throw err;
  }
  throw new Error('expected a ComposeError');
}

describe('finding the compose file', () => {
  it('prefers compose.yaml over the other names', async () => {
    const dir = await project({
      'docker-compose.yml': 'services: {}',
      'compose.yml': 'services: {}',
    });
    expect(await findComposeFile(dir)).toBe(join(dir, 'compose.yml'));
    expect(await findComposeFile(join(dir, 'nope'))).toBeUndefined();
  });

  it('fails with ComposeFileNotFound when there is none', async () => {
    const err = await loadError({ 'README.md': 'hi' });
    expect(err.reason).toBe('ComposeFileNotFound');
  });

  it('loads an explicit file', async () => {
    const { project: p, dir } = await load(
      { 'other.yaml': 'services:\n  web:\n    image: nginx\n' },
      { files: ['other.yaml'] },
    );
    expect(p.configFiles).toEqual([join(dir, 'other.yaml')]);
    expect(p.workingDir).toBe(dir);
  });
});

describe('project basics', () => {
  it('names the project after the folder, top-level name, or the option', async () => {
    const yaml = 'services:\n  web:\n    image: nginx\n';
    expect((await load({ 'compose.yaml': yaml })).project.name).toBe('stack');
    expect((await load({ 'compose.yaml': `name: My.App\n${yaml}` })).project.name).toBe('myapp');
    expect(
      (await load({ 'compose.yaml': `name: ignored\n${yaml}` }, { projectName: 'Given' })).project
        .name,
    ).toBe('given');
  });

  it('accepts version and keeps top-level x- fields as extensions', async () => {
    const { project: p } = await load({
      'compose.yaml':
        'version: "3.8"\nx-berth:\n  strategy: blue-green\n  port: ${PORT:-80}\nservices:\n  web:\n    image: nginx\n    x-note: ignored\n',
    });
    expect(p.extensions).toEqual({ 'x-berth': { strategy: 'blue-green', port: '80' } });
    expect(p.services.web?.image).toBe('nginx');
  });

  it('gives defaults for a minimal service and the default network', async () => {
    const { project: p } = await load({ 'compose.yaml': 'services:\n  web:\n    image: nginx\n' });
    expect(p.services.web).toEqual({
      name: 'web',
      image: 'nginx',
      pullPolicy: 'missing',
      environment: {},
      ports: [],
      expose: [],
      volumes: [],
      networks: { default: { aliases: [] } },
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
    });
    expect(p.networks).toEqual({
      default: {
        key: 'default',
        name: 'stack_default',
        external: false,
        driverOpts: {},
        internal: false,
        attachable: false,
        enableIpv6: false,
        labels: {},
      },
    });
  });

  it('reports invalid YAML with the file', async () => {
    const err = await loadError({ 'compose.yaml': 'services:\n  web: [\n' });
    expect(err.reason).toBe('ComposeYamlInvalid');
    expect(err.message).toContain('compose.yaml');
  });

  it('rejects an unknown top-level key', async () => {
    const err = await loadError({ 'compose.yaml': 'services: {}\nfoo: 1\n' });
    expect(err.message).toContain('foo');
    expect(err.place.field).toBe('foo');
  });
});

describe('YAML features', () => {
  it('resolves anchors and merge keys', async () => {
    const web = await service(`
x-common: &common
  image: nginx
  environment:
    A: "1"
services:
  web:
    <<: *common
    labels: &labels
      team: core
  other:
    image: busybox
    labels: *labels
`);
    expect(web.image).toBe('nginx');
    expect(web.environment).toEqual({ A: '1' });
    expect(web.labels).toEqual({ team: 'core' });
  });

  it('!reset drops an inherited value and !override replaces it', async () => {
    const { project: p } = await load({
      'compose.yaml': `
services:
  base:
    image: nginx
    ports: ["80:80"]
    environment: { A: "1", B: "2" }
    labels: { a: "1" }
  web:
    extends: base
    ports: !reset []
    environment: !override { C: "3" }
    labels: { b: "2" }
`,
    });
    const web = p.services.web!;
    expect(web.ports).toEqual([]);
    expect(web.environment).toEqual({ C: '3' });
    expect(web.labels).toEqual({ a: '1', b: '2' });
  });

  it('!reset null on a scalar removes it', async () => {
    const { project: p } = await load({
      'compose.yaml': `
services:
  base:
    image: nginx
    user: "1000"
  web:
    extends: base
    user: !reset null
`,
    });
    expect(p.services.web!.user).toBeUndefined();
    expect('user' in p.services.web!).toBe(false);
  });

  it('reads a leading-zero number as octal, like Go YAML', async () => {
    const { project: p } = await load({
      'compose.yaml': `
services:
  web:
    image: nginx
    secrets: [{ source: s, mode: 0440 }]
secrets:
  s: { content: hi }
`,
    });
    expect(p.services.web!.secrets[0]!.mode).toBe(0o440);
  });
});

describe('interpolation in the project', () => {
  it('takes variables from .env, with the environment winning', async () => {
    const { project: p } = await load(
      {
        '.env': 'TAG=from-file\nPORT=8080\n',
        'compose.yaml': 'services:\n  web:\n    image: nginx:${TAG}\n    ports: ["${PORT}:80"]\n',
      },
      { env: { TAG: 'from-env' } },
    );
    expect(p.services.web!.image).toBe('nginx:from-env');
    expect(p.services.web!.ports).toEqual([{ target: 80, published: 8080, protocol: 'tcp' }]);
  });

  it('warns about unset variables and uses an empty string', async () => {
    const { project: p, warnings } = await load({
      'compose.yaml': 'services:\n  web:\n    image: nginx${SUFFIX}\n',
    });
    expect(p.services.web!.image).toBe('nginx');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('SUFFIX');
    expect(warnings[0]).toContain('services.web.image');
  });

  it('fails on :? naming the variable, file and service', async () => {
    const err = await loadError({
      'compose.yaml': 'services:\n  web:\n    image: ${IMAGE:?set IMAGE}\n',
    });
    expect(err.message).toContain('IMAGE');
    expect(err.message).toContain('compose.yaml');
    expect(err.place).toMatchObject({ service: 'web', field: 'image' });
  });

  it('coerces interpolated strings for numbers and booleans', async () => {
    const web = await service(
      'services:\n  web:\n    image: nginx\n    scale: ${N}\n    read_only: ${RO}\n    cpus: ${C}\n',
      { env: { N: '3', RO: 'true', C: '0.5' } },
    );
    expect(web.replicas).toBe(3);
    expect(web.readOnly).toBe(true);
    expect(web.cpus).toBe(0.5);
  });

  it('does not interpolate keys', async () => {
    const web = await service('services:\n  web:\n    image: nginx\n    labels:\n      $$KEY: v\n');
    expect(web.labels).toEqual({ $$KEY: 'v' });
  });
});

describe('environment and env_file', () => {
  it('merges env files then environment, list and map forms', async () => {
    const { project: p } = await load(
      {
        'a.env': 'A=from-a\nB=from-a\n',
        'b.env': 'B=from-b\nC=from-b\n',
        'compose.yaml': `
services:
  web:
    image: nginx
    env_file: [a.env, b.env]
    environment:
      - C=from-environment
      - FROM_HOST
      - NOT_SET
  other:
    image: nginx
    env_file: a.env
    environment:
      X: 1
      HOST_NULL:
`,
      },
      { env: { FROM_HOST: 'h', HOST_NULL: 'n' } },
    );
    expect(p.services.web!.environment).toEqual({
      A: 'from-a',
      B: 'from-b',
      C: 'from-environment',
      FROM_HOST: 'h',
    });
    expect(p.services.other!.environment).toEqual({
      A: 'from-a',
      B: 'from-a',
      X: '1',
      HOST_NULL: 'n',
    });
  });

  it('bare keys can come from .env', async () => {
    const web = await service(
      'services:\n  web:\n    image: nginx\n    environment: [SECRET]\n',
      {},
    );
    expect(web.environment).toEqual({});
    const { project: p } = await load({
      '.env': 'SECRET=s3\n',
      'compose.yaml': 'services:\n  web:\n    image: nginx\n    environment: [SECRET]\n',
    });
    expect(p.services.web!.environment).toEqual({ SECRET: 's3' });
  });

  it('skips a missing optional env file and fails on a missing required one', async () => {
    const web = await service(
      'services:\n  web:\n    image: nginx\n    env_file:\n      - path: ./missing.env\n        required: false\n',
    );
    expect(web.environment).toEqual({});
    const err = await loadError({
      'compose.yaml': 'services:\n  web:\n    image: nginx\n    env_file: ./missing.env\n',
    });
    expect(err.message).toContain('missing.env');
    expect(err.place).toMatchObject({ service: 'web', field: 'env_file[0]' });
  });
});

describe('profiles', () => {
  const yaml = `
services:
  web:
    image: nginx
  debug:
    image: busybox
    profiles: [debug]
  tools:
    image: busybox
    profiles: [tools, debug]
`;
  it('leaves out services whose profiles are not active', async () => {
    const { project: p } = await load({ 'compose.yaml': yaml });
    expect(Object.keys(p.services)).toEqual(['web']);
  });

  it('enables them from the option or COMPOSE_PROFILES', async () => {
    expect(
      Object.keys((await load({ 'compose.yaml': yaml }, { profiles: ['tools'] })).project.services),
    ).toEqual(['web', 'tools']);
    expect(
      Object.keys(
        (await load({ 'compose.yaml': yaml }, { env: { COMPOSE_PROFILES: 'debug' } })).project
          .services,
      ),
    ).toEqual(['web', 'debug', 'tools']);
    expect(
      Object.keys((await load({ 'compose.yaml': yaml }, { profiles: ['*'] })).project.services),
    ).toHaveLength(3);
  });

  it('rejects a required dependency on a disabled service, allows an optional one', async () => {
    const err = await loadError({
      'compose.yaml': `${yaml}    depends_on: [web]\n  app:\n    image: nginx\n    depends_on: [debug]\n`,
    });
    expect(err.message).toContain('not enabled');
    expect(err.place).toMatchObject({ service: 'app', field: 'depends_on.debug' });
    const { project: p } = await load({
      'compose.yaml': `${yaml}  app:\n    image: nginx\n    depends_on:\n      debug:\n        condition: service_started\n        required: false\n`,
    });
    expect(p.services.app!.dependsOn.debug!.required).toBe(false);
  });
});

describe('extends', () => {
  it('merges a same-file service with Compose rules', async () => {
    const { project: p } = await load({
      'compose.yaml': `
services:
  base:
    image: nginx
    command: ["a", "b"]
    ports: ["80:80"]
    expose: ["3000"]
    volumes: ["./one:/one", "./x:/shared"]
    environment: { A: "1" }
    healthcheck: { test: ["CMD", "true"], interval: 1s }
  mid:
    extends: { service: base }
    environment: { B: "2" }
  web:
    extends: mid
    command: c
    ports: ["80:80", "81:81"]
    expose: ["3001"]
    volumes: ["./y:/shared"]
    healthcheck: { test: ["CMD", "false"] }
`,
    });
    const web = p.services.web!;
    expect(web.image).toBe('nginx');
    expect(web.command).toEqual(['c']);
    expect(web.ports.map((port) => port.target)).toEqual([80, 81]);
    expect(web.expose).toEqual(['3000/tcp', '3001/tcp']);
    expect(web.volumes.map((v) => [v.source, v.target])).toEqual([
      [join(p.workingDir, 'one'), '/one'],
      [join(p.workingDir, 'y'), '/shared'],
    ]);
    expect(web.environment).toEqual({ A: '1', B: '2' });
    expect(web.healthcheck).toEqual({ disable: false, test: ['CMD', 'false'], intervalMs: 1000 });
  });

  it('extends a service from another file with paths relative to that file', async () => {
    const { project: p } = await load({
      'common/base.yaml': `
services:
  app:
    image: busybox
    volumes: ["./conf:/conf"]
    env_file: base.env
`,
      'common/base.env': 'FROM_BASE=1\n',
      'compose.yaml': `
services:
  web:
    extends:
      file: common/base.yaml
      service: app
    environment: [LOCAL=2]
`,
    });
    const web = p.services.web!;
    expect(web.image).toBe('busybox');
    expect(web.volumes[0]!.source).toBe(join(p.workingDir, 'common', 'conf'));
    expect(web.environment).toEqual({ FROM_BASE: '1', LOCAL: '2' });
  });

  it('reports a missing base and a cycle', async () => {
    const missing = await loadError({
      'compose.yaml': 'services:\n  web:\n    extends: nope\n',
    });
    expect(missing.place).toMatchObject({ service: 'web', field: 'extends.service' });
    const cycle = await loadError({
      'compose.yaml':
        'services:\n  web:\n    image: a\n    extends: other\n  other:\n    image: b\n    extends: web\n',
    });
    expect(cycle.message).toContain('circular');
  });
});

describe('include', () => {
  it('merges services, networks and volumes from included files', async () => {
    const { project: p } = await load({
      'db/compose.yaml': `
services:
  db:
    image: postgres:\${PG_TAG}
    volumes: ["data:/var/lib/postgresql/data", "./init:/init"]
    networks: [back]
networks:
  back: {}
volumes:
  data: {}
`,
      'db/.env': 'PG_TAG=16\n',
      'compose.yaml': `
include:
  - db/compose.yaml
services:
  web:
    image: nginx
    networks: [back]
    depends_on: [db]
`,
    });
    expect(Object.keys(p.services).sort()).toEqual(['db', 'web']);
    expect(p.services.db!.image).toBe('postgres:16');
    expect(p.services.db!.volumes[1]!.source).toBe(join(p.workingDir, 'db', 'init'));
    expect(p.networks.back!.name).toBe('stack_back');
    expect(p.volumes.data!.name).toBe('stack_data');
    expect(p.configFiles).toEqual([
      join(p.workingDir, 'compose.yaml'),
      join(p.workingDir, 'db', 'compose.yaml'),
    ]);
  });

  it('supports the long form with project_directory and env_file', async () => {
    const { project: p } = await load({
      'parts/app.yaml':
        'services:\n  app:\n    image: busybox:${TAG}\n    volumes: ["./data:/data"]\n',
      'vars.env': 'TAG=1.36\n',
      'compose.yaml': `
include:
  - path: parts/app.yaml
    project_directory: elsewhere
    env_file: vars.env
services: {}
`,
    });
    expect(p.services.app!.image).toBe('busybox:1.36');
    expect(p.services.app!.volumes[0]!.source).toBe(join(p.workingDir, 'elsewhere', 'data'));
  });

  it('fails on a conflicting service', async () => {
    const err = await loadError({
      'other.yaml': 'services:\n  web:\n    image: a\n',
      'compose.yaml': 'include: [other.yaml]\nservices:\n  web:\n    image: b\n',
    });
    expect(err.reason).toBe('ComposeIncludeConflict');
    expect(err.message).toContain('web');
  });
});

describe('ports, expose, volumes', () => {
  it('normalizes every port form', async () => {
    const web = await service(`
services:
  web:
    image: nginx
    ports:
      - 80
      - "8080:80"
      - "127.0.0.1:5353:53/udp"
      - "9000-9001:9000-9001"
      - target: 443
        published: "8443"
        host_ip: 127.0.0.1
        protocol: tcp
        mode: host
    expose: ["3000", 4000, "5000/udp"]
`);
    expect(web.ports).toEqual([
      { target: 80, protocol: 'tcp' },
      { target: 80, published: 8080, protocol: 'tcp' },
      { target: 53, published: 5353, hostIp: '127.0.0.1', protocol: 'udp' },
      { target: 9000, published: 9000, protocol: 'tcp' },
      { target: 9001, published: 9001, protocol: 'tcp' },
      { target: 443, published: 8443, hostIp: '127.0.0.1', protocol: 'tcp', mode: 'host' },
    ]);
    expect(web.expose).toEqual(['3000/tcp', '4000/tcp', '5000/udp']);
  });

  it('reports a bad port with service and field', async () => {
    const err = await loadError({
      'compose.yaml': 'services:\n  web:\n    image: a\n    ports: ["1", "x:y"]\n',
    });
    expect(err.place).toMatchObject({ service: 'web', field: 'ports[1]' });
    expect(err.message).toContain('compose.yaml');
  });

  it('normalizes short and long volumes', async () => {
    const { project: p } = await load(
      {
        'compose.yaml': `
services:
  web:
    image: nginx
    volumes:
      - ./data:/data:ro
      - named:/named
      - /anon
      - ~/home:/h
      - type: bind
        source: ./conf
        target: /conf
        bind: { create_host_path: false, propagation: rprivate }
      - type: volume
        source: named
        target: /sub
        volume: { nocopy: true, subpath: a/b }
      - type: tmpfs
        target: /tmp
        tmpfs: { size: 64m, mode: 1777 }
volumes:
  named:
`,
      },
      { env: { HOME: '/home/me' } },
    );
    const dir = p.workingDir;
    expect(p.services.web!.volumes).toEqual([
      {
        type: 'bind',
        source: join(dir, 'data'),
        target: '/data',
        readOnly: true,
        bind: { createHostPath: true },
      },
      {
        type: 'volume',
        source: 'named',
        target: '/named',
        readOnly: false,
        volume: { nocopy: false },
      },
      { type: 'volume', target: '/anon', readOnly: false, volume: { nocopy: false } },
      {
        type: 'bind',
        source: '/home/me/home',
        target: '/h',
        readOnly: false,
        bind: { createHostPath: true },
      },
      {
        type: 'bind',
        source: join(dir, 'conf'),
        target: '/conf',
        readOnly: false,
        bind: { createHostPath: false, propagation: 'rprivate' },
      },
      {
        type: 'volume',
        source: 'named',
        target: '/sub',
        readOnly: false,
        volume: { nocopy: true, subpath: 'a/b' },
      },
      {
        type: 'tmpfs',
        target: '/tmp',
        readOnly: false,
        tmpfs: { size: 64 * 1024 ** 2, mode: 1777 },
      },
    ]);
    expect(p.volumes).toEqual({
      named: { key: 'named', name: 'stack_named', external: false, driverOpts: {}, labels: {} },
    });
  });

  it('requires named volumes to be declared', async () => {
    const err = await loadError({
      'compose.yaml': 'services:\n  web:\n    image: a\n    volumes: ["data:/d"]\n',
    });
    expect(err.message).toContain('"data"');
    expect(err.place).toMatchObject({ service: 'web', field: 'volumes[0].source' });
  });

  it('keeps external volume and network names', async () => {
    const { project: p } = await load({
      'compose.yaml': `
services:
  web:
    image: a
    volumes: [ext:/e, named:/n]
    networks: [front, shared]
volumes:
  ext: { external: true }
  named: { name: custom-name, driver: local, driver_opts: { type: none }, labels: [a=b] }
  unused: {}
networks:
  front: { external: true, name: proxy }
  shared:
    driver: bridge
    internal: true
    ipam:
      config: [{ subnet: 10.9.0.0/24, gateway: 10.9.0.1 }]
`,
    });
    expect(p.volumes.ext).toMatchObject({ name: 'ext', external: true });
    expect(p.volumes.named).toEqual({
      key: 'named',
      name: 'custom-name',
      external: false,
      driver: 'local',
      driverOpts: { type: 'none' },
      labels: { a: 'b' },
    });
    expect(p.volumes.unused).toBeUndefined();
    expect(p.networks.front).toMatchObject({ name: 'proxy', external: true });
    expect(p.networks.shared).toMatchObject({
      name: 'stack_shared',
      driver: 'bridge',
      internal: true,
      ipam: { config: [{ subnet: '10.9.0.0/24', gateway: '10.9.0.1' }] },
    });
    expect(p.networks.default).toBeUndefined();
  });
});

describe('networks', () => {
  it('reads list and map forms with aliases and addresses', async () => {
    const { project: p } = await load({
      'compose.yaml': `
services:
  web:
    image: a
    networks:
      front:
        aliases: [www]
        ipv4_address: 10.1.0.5
      back:
  api:
    image: a
    networks: [back]
networks:
  front: {}
  back: {}
`,
    });
    expect(p.services.web!.networks).toEqual({
      front: { aliases: ['www'], ipv4Address: '10.1.0.5' },
      back: { aliases: [] },
    });
    expect(p.services.api!.networks).toEqual({ back: { aliases: [] } });
  });

  it('does not attach the default network with network_mode', async () => {
    const { project: p } = await load({
      'compose.yaml': 'services:\n  web:\n    image: a\n    network_mode: host\n',
    });
    expect(p.services.web!.networks).toEqual({});
    expect(p.services.web!.networkMode).toBe('host');
    expect(p.networks).toEqual({});
  });

  it('lets the user customize the default network', async () => {
    const { project: p } = await load({
      'compose.yaml':
        'services:\n  web:\n    image: a\nnetworks:\n  default:\n    name: shared-net\n    external: true\n',
    });
    expect(p.networks.default).toMatchObject({ name: 'shared-net', external: true });
  });

  it('rejects undeclared networks and networks with network_mode', async () => {
    const undeclared = await loadError({
      'compose.yaml': 'services:\n  web:\n    image: a\n    networks: [nope]\n',
    });
    expect(undeclared.place).toMatchObject({ service: 'web', field: 'networks.nope' });
    const both = await loadError({
      'compose.yaml':
        'services:\n  web:\n    image: a\n    network_mode: host\n    networks: [x]\nnetworks:\n  x: {}\n',
    });
    expect(both.place).toMatchObject({ service: 'web', field: 'networks' });
  });
});

describe('service fields', () => {
  it('normalizes healthchecks', async () => {
    const { project: p } = await load({
      'compose.yaml': `
services:
  web:
    image: a
    healthcheck:
      test: wget -q -O- localhost
      interval: 500ms
      timeout: 2s
      retries: 3
      start_period: 1m30s
      start_interval: 1s
  list:
    image: a
    healthcheck: { test: [CMD, "true"] }
  off:
    image: a
    healthcheck: { disable: true }
  none:
    image: a
    healthcheck: { test: [NONE] }
`,
    });
    expect(p.services.web!.healthcheck).toEqual({
      disable: false,
      test: ['CMD-SHELL', 'wget -q -O- localhost'],
      intervalMs: 500,
      timeoutMs: 2000,
      retries: 3,
      startPeriodMs: 90_000,
      startIntervalMs: 1000,
    });
    expect(p.services.list!.healthcheck).toEqual({ disable: false, test: ['CMD', 'true'] });
    expect(p.services.off!.healthcheck).toEqual({ disable: true });
    expect(p.services.none!.healthcheck).toEqual({ disable: true });
  });

  it('reports a bad duration with the field', async () => {
    const err = await loadError({
      'compose.yaml': 'services:\n  web:\n    image: a\n    healthcheck:\n      interval: soon\n',
    });
    expect(err.place).toMatchObject({
      file: expect.stringContaining('compose.yaml'),
      service: 'web',
      field: 'healthcheck.interval',
    });
  });

  it('normalizes depends_on in both forms', async () => {
    const { project: p } = await load({
      'compose.yaml': `
services:
  db: { image: a }
  cache: { image: a }
  web:
    image: a
    depends_on:
      db: { condition: service_healthy, restart: true }
      cache: {}
  worker:
    image: a
    depends_on: [db]
`,
    });
    expect(p.services.web!.dependsOn).toEqual({
      db: { condition: 'service_healthy', required: true, restart: true },
      cache: { condition: 'service_started', required: true, restart: false },
    });
    expect(p.services.worker!.dependsOn).toEqual({
      db: { condition: 'service_started', required: true, restart: false },
    });
  });

  it('rejects a dependency on an undefined service', async () => {
    const err = await loadError({
      'compose.yaml': 'services:\n  web:\n    image: a\n    depends_on: [db]\n',
    });
    expect(err.message).toContain('not defined');
  });

  it.each([
    ['no', { name: 'no' }],
    ['"no"', { name: 'no' }],
    ['always', { name: 'always' }],
    ['unless-stopped', { name: 'unless-stopped' }],
    ['on-failure', { name: 'on-failure' }],
    ['on-failure:3', { name: 'on-failure', maximumRetryCount: 3 }],
  ])('restart %s', async (text, policy) => {
    const web = await service(`services:\n  web:\n    image: a\n    restart: ${text}\n`);
    expect(web.restart).toEqual(policy);
  });

  it('rejects a bad restart policy', async () => {
    const err = await loadError({
      'compose.yaml': 'services:\n  web:\n    image: a\n    restart: sometimes\n',
    });
    expect(err.place.field).toBe('restart');
  });

  it('normalizes deploy, replicas and scale', async () => {
    const web = await service(`
services:
  web:
    image: a
    deploy:
      replicas: 2
      resources:
        limits: { cpus: "0.5", memory: 512m, pids: 100 }
        reservations: { memory: 64m }
      restart_policy: { condition: on-failure, max_attempts: 3, delay: 5s, window: 1m }
      labels: [a=b]
`);
    expect(web.replicas).toBe(2);
    expect(web.deploy).toEqual({
      replicas: 2,
      resources: {
        limits: { cpus: 0.5, memory: 512 * 1024 ** 2, pids: 100 },
        reservations: { memory: 64 * 1024 ** 2 },
      },
      restartPolicy: { condition: 'on-failure', maxAttempts: 3, delayMs: 5000, windowMs: 60_000 },
      labels: { a: 'b' },
    });
    expect((await service('services:\n  web:\n    image: a\n    scale: 4\n')).replicas).toBe(4);
  });

  it('rejects swarm-only deploy keys naming the field', async () => {
    const err = await loadError({
      'compose.yaml':
        'services:\n  web:\n    image: a\n    deploy:\n      placement:\n        constraints: []\n',
    });
    expect(err.reason).toBe('ComposeFieldUnsupported');
    expect(err.place).toMatchObject({ service: 'web', field: 'deploy.placement' });
  });

  it('splits command and entrypoint strings shell-style and keeps lists', async () => {
    const web = await service(
      `services:\n  web:\n    image: a\n    command: sh -c 'echo "hi there"'\n    entrypoint: ["/bin/sh", "-c"]\n`,
    );
    expect(web.command).toEqual(['sh', '-c', 'echo "hi there"']);
    expect(web.entrypoint).toEqual(['/bin/sh', '-c']);
    const empty = await service('services:\n  web:\n    image: a\n    entrypoint: []\n');
    expect(empty.entrypoint).toEqual([]);
  });

  it('parses sizes and durations for mem, shm and stop_grace_period', async () => {
    const web = await service(`
services:
  web:
    image: a
    mem_limit: 1g
    mem_reservation: 128m
    shm_size: 65536
    stop_grace_period: 1m30s
    cpus: 1.5
    cpu_shares: 512
`);
    expect(web).toMatchObject({
      memLimit: 1024 ** 3,
      memReservation: 128 * 1024 ** 2,
      shmSize: 65536,
      stopGracePeriodMs: 90_000,
      cpus: 1.5,
      cpuShares: 512,
    });
  });

  it('reads labels, extra_hosts, sysctls, dns, tmpfs, ulimits and devices in every form', async () => {
    const { project: p } = await load({
      'compose.yaml': `
services:
  web:
    image: a
    labels: [a=1, b]
    extra_hosts: ["db:10.0.0.2", "cache=10.0.0.3"]
    sysctls: [net.core.somaxconn=1024]
    dns: 8.8.8.8
    dns_search: [example.com]
    dns_opt: [use-vc]
    tmpfs: /run
    ulimits:
      nproc: 65535
      nofile: { soft: 20000, hard: 40000 }
    devices: ["/dev/fuse", "/dev/sda:/dev/xvda", "/dev/snd:/dev/snd:r"]
  map:
    image: a
    labels: { a: 1 }
    extra_hosts: { db: 10.0.0.2, dual: [10.0.0.4, "::1"] }
    sysctls: { net.ipv4.ip_forward: 1 }
    tmpfs: [/run, "/tmp:size=64m"]
`,
    });
    const web = p.services.web!;
    expect(web.labels).toEqual({ a: '1', b: '' });
    expect(web.extraHosts).toEqual(['db:10.0.0.2', 'cache:10.0.0.3']);
    expect(web.sysctls).toEqual({ 'net.core.somaxconn': '1024' });
    expect(web.dns).toEqual(['8.8.8.8']);
    expect(web.dnsSearch).toEqual(['example.com']);
    expect(web.dnsOpt).toEqual(['use-vc']);
    expect(web.tmpfs).toEqual(['/run']);
    expect(web.ulimits).toEqual({
      nproc: { soft: 65535, hard: 65535 },
      nofile: { soft: 20000, hard: 40000 },
    });
    expect(web.devices).toEqual([
      { source: '/dev/fuse', target: '/dev/fuse', permissions: 'rwm' },
      { source: '/dev/sda', target: '/dev/xvda', permissions: 'rwm' },
      { source: '/dev/snd', target: '/dev/snd', permissions: 'r' },
    ]);
    const map = p.services.map!;
    expect(map.labels).toEqual({ a: '1' });
    expect(map.extraHosts).toEqual(['db:10.0.0.2', 'dual:10.0.0.4', 'dual:::1']);
    expect(map.sysctls).toEqual({ 'net.ipv4.ip_forward': '1' });
    expect(map.tmpfs).toEqual(['/run', '/tmp:size=64m']);
  });

  it('maps the plain scalar and boolean fields', async () => {
    const web = await service(`
services:
  web:
    image: a
    container_name: my-web
    hostname: h
    domainname: example.com
    user: 1000
    working_dir: /app
    privileged: true
    init: true
    read_only: true
    tty: true
    stdin_open: true
    stop_signal: SIGINT
    cap_add: [NET_ADMIN]
    cap_drop: [ALL]
    security_opt: [no-new-privileges:true]
    pid: host
    ipc: shareable
    group_add: [audio, 100]
    volumes_from: ["service:other:ro"]
    links: ["other:alias"]
    platform: linux/amd64
    logging:
      driver: json-file
      options: { max-size: 10m, max-file: 3 }
  other:
    image: a
`);
    expect(web).toMatchObject({
      containerName: 'my-web',
      hostname: 'h',
      domainname: 'example.com',
      user: '1000',
      workingDir: '/app',
      privileged: true,
      init: true,
      readOnly: true,
      tty: true,
      stdinOpen: true,
      stopSignal: 'SIGINT',
      capAdd: ['NET_ADMIN'],
      capDrop: ['ALL'],
      securityOpt: ['no-new-privileges:true'],
      pid: 'host',
      ipc: 'shareable',
      groupAdd: ['audio', '100'],
      volumesFrom: ['service:other:ro'],
      links: ['other:alias'],
      platform: 'linux/amd64',
      logging: { driver: 'json-file', options: { 'max-size': '10m', 'max-file': '3' } },
    });
  });

  it.each([
    ['always', 'always'],
    ['missing', 'missing'],
    ['if_not_present', 'missing'],
    ['never', 'never'],
    ['build', 'build'],
  ])('pull_policy %s -> %s', async (text, policy) => {
    expect(
      (await service(`services:\n  web:\n    image: a\n    pull_policy: ${text}\n`)).pullPolicy,
    ).toBe(policy);
  });

  it('rejects an unsupported pull policy', async () => {
    const err = await loadError({
      'compose.yaml': 'services:\n  web:\n    image: a\n    pull_policy: daily\n',
    });
    expect(err.place.field).toBe('pull_policy');
  });

  it('normalizes build in short and long form', async () => {
    const { project: p } = await load(
      {
        'compose.yaml': `
services:
  web:
    build: ./app
  long:
    image: mine:latest
    build:
      context: app
      dockerfile: Dockerfile.prod
      args: [VERSION=1, FROM_ENV, UNSET_ARG]
      target: prod
      labels: { a: b }
      network: host
      extra_hosts: ["h:1.2.3.4"]
      shm_size: 128m
      no_cache: true
      pull: true
`,
      },
      { env: { FROM_ENV: 'e' } },
    );
    expect(p.services.web!.build).toEqual({
      context: join(p.workingDir, 'app'),
      dockerfile: 'Dockerfile',
      args: {},
    });
    expect(p.services.web!.image).toBeUndefined();
    expect(p.services.web!.pullPolicy).toBe('missing');
    expect(p.services.long!.build).toEqual({
      context: join(p.workingDir, 'app'),
      dockerfile: 'Dockerfile.prod',
      args: { VERSION: '1', FROM_ENV: 'e' },
      target: 'prod',
      labels: { a: 'b' },
      network: 'host',
      extraHosts: ['h:1.2.3.4'],
      shmSize: 128 * 1024 ** 2,
      noCache: true,
      pull: true,
    });
  });
});

describe('secrets and configs', () => {
  it('resolves references and definitions', async () => {
    const { project: p } = await load(
      {
        'compose.yaml': `
services:
  web:
    image: a
    secrets:
      - db_pass
      - source: api_key
        target: key
        uid: "100"
        gid: "101"
        mode: "0400"
    configs:
      - app_conf
      - source: inline
        target: /etc/inline.conf
secrets:
  db_pass: { file: ./secrets/db.txt }
  api_key: { environment: API_KEY }
  unused: { file: ./x }
configs:
  app_conf: { file: conf/app.conf }
  inline: { content: "port=\${PORT:-80}" }
`,
      },
      { env: { API_KEY: 'k3y' } },
    );
    const dir = p.workingDir;
    expect(p.services.web!.secrets).toEqual([
      { source: 'db_pass', target: '/run/secrets/db_pass' },
      { source: 'api_key', target: '/run/secrets/key', uid: '100', gid: '101', mode: 0o400 },
    ]);
    expect(p.services.web!.configs).toEqual([
      { source: 'app_conf', target: '/app_conf' },
      { source: 'inline', target: '/etc/inline.conf' },
    ]);
    expect(p.secrets).toEqual({
      db_pass: { key: 'db_pass', source: 'file', file: join(dir, 'secrets', 'db.txt') },
      api_key: { key: 'api_key', source: 'environment', environment: 'API_KEY', content: 'k3y' },
    });
    expect(p.configs).toEqual({
      app_conf: { key: 'app_conf', source: 'file', file: join(dir, 'conf', 'app.conf') },
      inline: { key: 'inline', source: 'content', content: 'port=80' },
    });
  });

  it('rejects external secrets and undeclared references', async () => {
    const external = await loadError({
      'compose.yaml':
        'services:\n  web:\n    image: a\n    secrets: [s]\nsecrets:\n  s: { external: true }\n',
    });
    expect(external.message).toContain('swarm');
    expect(external.place.field).toBe('secrets.s');
    const undeclared = await loadError({
      'compose.yaml': 'services:\n  web:\n    image: a\n    configs: [c]\n',
    });
    expect(undeclared.place).toMatchObject({ service: 'web', field: 'configs[0]' });
  });
});

describe('errors name file, service and field', () => {
  it.each([
    ['develop', 'develop:\n      watch: []'],
    ['post_start', 'post_start: []'],
    ['use_api_socket', 'use_api_socket: true'],
    ['label_file', 'label_file: x'],
  ])('unsupported field %s', async (field, yaml) => {
    const err = await loadError({
      'compose.yaml': `services:\n  web:\n    image: a\n    ${yaml}\n`,
    });
    expect(err).toBeInstanceOf(ComposeError);
    expect(err.reason).toBe('ComposeFieldUnsupported');
    expect(err.place).toMatchObject({ service: 'web', field });
    expect(err.place.file).toMatch(/compose\.yaml$/);
    expect(err.message).toContain('compose.yaml');
    expect(err.message).toContain('"web"');
    expect(err.message).toContain(field);
  });

  it('a service needs an image or build', async () => {
    const err = await loadError({ 'compose.yaml': 'services:\n  web:\n    command: ["true"]\n' });
    expect(err.place).toMatchObject({ service: 'web', field: 'image' });
  });

  it('names the nested field of a wrong type', async () => {
    const err = await loadError({
      'compose.yaml': 'services:\n  web:\n    image: a\n    healthcheck:\n      retries: many\n',
    });
    expect(err.place).toMatchObject({ service: 'web', field: 'healthcheck.retries' });
  });

  it('names the file of an included service', async () => {
    const err = await loadError({
      'sub/inc.yaml': 'services:\n  api:\n    image: a\n    pre_stop: []\n',
      'compose.yaml': 'include: [sub/inc.yaml]\nservices: {}\n',
    });
    expect(err.place.file).toMatch(/sub\/inc\.yaml$/);
    expect(err.place.service).toBe('api');
  });
});

describe('more merge and validation cases', () => {
  it('!override replaces an inherited list instead of appending', async () => {
    const { project: p } = await load({
      'compose.yaml': `
services:
  base:
    image: a
    ports: ["80:80"]
    dns: [1.1.1.1]
  web:
    extends: base
    ports: !override ["8080:80"]
    dns: [8.8.8.8]
`,
    });
    expect(p.services.web!.ports).toEqual([{ target: 80, published: 8080, protocol: 'tcp' }]);
    expect(p.services.web!.dns).toEqual(['1.1.1.1', '8.8.8.8']);
    expect(p.services.base!.ports).toHaveLength(1);
  });

  it('merges depends_on and secrets by key when extending', async () => {
    const { project: p } = await load({
      'compose.yaml': `
services:
  db: { image: a }
  cache: { image: a }
  base:
    image: a
    depends_on: [db]
    secrets: [{ source: s, target: /x }]
  web:
    extends: base
    depends_on:
      cache: { condition: service_started }
    secrets: [{ source: t, target: /x }]
secrets:
  s: { content: one }
  t: { content: two }
`,
    });
    expect(Object.keys(p.services.web!.dependsOn)).toEqual(['db', 'cache']);
    expect(p.services.web!.secrets).toEqual([{ source: 't', target: '/x' }]);
  });

  it('merges include paths given as a list like override files', async () => {
    const { project: p } = await load({
      'app/base.yaml': 'services:\n  app:\n    image: a\n    environment: { A: "1" }\n',
      'app/override.yaml': 'services:\n  app:\n    environment: { B: "2" }\n',
      'compose.yaml': 'include:\n  - path: [app/base.yaml, app/override.yaml]\nservices: {}\n',
    });
    expect(p.services.app!.environment).toEqual({ A: '1', B: '2' });
    expect(p.configFiles).toHaveLength(3);
  });

  it('detects an include cycle', async () => {
    const err = await loadError({
      'a.yaml': 'include: [compose.yaml]\nservices: {}\n',
      'compose.yaml': 'include: [a.yaml]\nservices: {}\n',
    });
    expect(err.message).toContain('circular include');
  });

  it('names the included file in an interpolation error', async () => {
    const err = await loadError({
      'inc.yaml': 'services:\n  api:\n    image: ${API_IMAGE:?missing}\n',
      'compose.yaml': 'include: [inc.yaml]\nservices: {}\n',
    });
    expect(err.place.file).toMatch(/inc\.yaml$/);
    expect(err.place.service).toBe('api');
    expect(err.message).toContain('API_IMAGE');
  });

  it('validates declared but unused definitions too', async () => {
    const err = await loadError({
      'compose.yaml':
        'services:\n  web:\n    image: a\nnetworks:\n  spare:\n    driver: bridge\n    scope: swarm\n',
    });
    expect(err.reason).toBe('ComposeFieldUnsupported');
    expect(err.place.field).toBe('networks.spare.scope');
  });

  it('accepts the legacy external {name} form', async () => {
    const { project: p } = await load({
      'compose.yaml':
        'services:\n  web:\n    image: a\n    networks: [n]\nnetworks:\n  n:\n    external:\n      name: outside\n',
    });
    expect(p.networks.n).toMatchObject({ name: 'outside', external: true });
  });

  it('rejects bad service names, container_name with replicas, and scale conflicts', async () => {
    const name = await loadError({ 'compose.yaml': 'services:\n  "we b":\n    image: a\n' });
    expect(name.place.service).toBe('we b');
    const fixed = await loadError({
      'compose.yaml': 'services:\n  web:\n    image: a\n    container_name: x\n    scale: 2\n',
    });
    expect(fixed.place.field).toBe('container_name');
    const conflict = await loadError({
      'compose.yaml':
        'services:\n  web:\n    image: a\n    scale: 2\n    deploy: { replicas: 3 }\n',
    });
    expect(conflict.place.field).toBe('scale');
  });

  it('reads Compose boolean words and rejects other text', async () => {
    const web = await service('services:\n  web:\n    image: a\n    tty: "yes"\n    init: "off"\n');
    expect(web.tty).toBe(true);
    expect(web.init).toBe(false);
    const err = await loadError({
      'compose.yaml': 'services:\n  web:\n    image: a\n    tty: maybe\n',
    });
    expect(err.place).toMatchObject({ service: 'web', field: 'tty' });
  });

  it('keeps empty values and resolves relative secret targets', async () => {
    const { project: p } = await load({
      'compose.yaml': `
services:
  web:
    image: a
    environment: [EMPTY=, "SPACED=a b"]
    secrets: [{ source: s, target: sub/key }]
    configs: [{ source: c, target: etc/c.conf }]
secrets:
  s: { content: x }
configs:
  c: { content: y }
`,
    });
    expect(p.services.web!.environment).toEqual({ EMPTY: '', SPACED: 'a b' });
    expect(p.services.web!.secrets[0]!.target).toBe('/run/secrets/sub/key');
    expect(p.services.web!.configs[0]!.target).toBe('/etc/c.conf');
  });

  it('warns when a secret environment variable is not set', async () => {
    const { project: p, warnings } = await load({
      'compose.yaml':
        'services:\n  web:\n    image: a\n    secrets: [s]\nsecrets:\n  s: { environment: NOPE }\n',
    });
    expect(p.secrets.s).toMatchObject({ source: 'environment', content: '' });
    expect(warnings.join('\n')).toContain('NOPE');
  });

  it('rejects a mount option on the wrong mount type', async () => {
    const err = await loadError({
      'compose.yaml':
        'services:\n  web:\n    image: a\n    volumes:\n      - type: tmpfs\n        target: /t\n        bind: { propagation: shared }\n',
    });
    expect(err.place).toMatchObject({ service: 'web', field: 'volumes[0].bind' });
  });
});

describe('error context', () => {
  it('adds the stack name to the place when a project name is given', async () => {
    const err = await loadError(
      { 'compose.yaml': 'services:\n  web:\n    image: a\n    post_start: []\n' },
      { projectName: 'shop' },
    );
    expect(err.place).toMatchObject({ stack: 'shop', service: 'web', field: 'post_start' });
  });

  it('turns an alias bomb into a ComposeError', async () => {
    const lines = ['a0: &a0 [x, x, x, x, x, x, x, x, x, x]'];
    for (let i = 1; i < 8; i++)
      lines.push(
        `a${i}: &a${i} [${Array(10)
          .fill(`*a${i - 1}`)
          .join(', ')}]`,
      );
    const err = await loadError({
      'compose.yaml': `x-bomb:\n${lines.map((l) => `  ${l}`).join('\n')}\nservices: {}\n`,
    });
    expect(err.reason).toBe('ComposeYamlInvalid');
  });
});

describe('markers with YAML merge keys', () => {
  it('!reset removes a value that came in through <<', async () => {
    const web = await service(`
x-base: &base
  image: a
  ports: ["80:80"]
  labels: { tier: web }
services:
  web:
    <<: *base
    ports: !reset []
    labels: !override { only: me }
`);
    expect(web.ports).toEqual([]);
    expect(web.labels).toEqual({ only: 'me' });
  });
});

describe('volumes_from', () => {
  it('normalizes every entry to a service: or container: reference', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'berth-vf-'));
    try {
      await writeFile(
        join(dir, 'compose.yaml'),
        [
          'services:',
          '  store: { image: busybox }',
          '  reader:',
          '    image: busybox',
          '    volumes_from: ["store:ro", "store", "container:outside:rw", "service:store"]',
        ].join('\n'),
      );
      const { project } = await loadProject(dir);
      expect(project.services.reader?.volumesFrom).toEqual([
        'service:store:ro',
        'service:store',
        'container:outside:rw',
        'service:store',
      ]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
