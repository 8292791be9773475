import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { findComposeFiles, loadProject, type LoadOptions } from '../../src/compose/load.js';
import type { LoadResult } from '../../src/compose/types.js';
import { ComposeError } from '../../src/errors.js';

const dirs: string[] = [];

afterEach(async () => {
  await Promise.all(dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

async function project(files: Record<string, string>): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'berth-override-'));
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
  return { ...(await loadProject(dir, { env: {}, ...options })), dir };
}

async function loadError(
  files: Record<string, string>,
  options: LoadOptions = {},
): Promise<ComposeError> {
  const err = await load(files, options).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ComposeError);
  return err as ComposeError;
}

const BASE = 'services:\n  web:\n    image: a\n';

describe('the default file selection', () => {
  it('adds compose.override.yaml to compose.yaml, as Compose does', async () => {
    const { project: p, dir } = await load({
      'compose.yaml': BASE,
      'compose.override.yaml': 'services:\n  web:\n    image: b\n',
    });
    expect(p.configFiles).toEqual([join(dir, 'compose.yaml'), join(dir, 'compose.override.yaml')]);
    expect(p.services.web!.image).toBe('b');
  });

  it('takes the first override file of Compose order whatever the main one is called', async () => {
    const dir = await project({
      'docker-compose.yml': BASE,
      'docker-compose.override.yml': BASE,
      'compose.override.yaml': BASE,
    });
    expect(await findComposeFiles(dir)).toEqual([
      join(dir, 'docker-compose.yml'),
      join(dir, 'compose.override.yaml'),
    ]);
    const { warnings } = await loadProject(dir, { env: {} });
    expect(warnings).toEqual([
      'several override files: compose.override.yaml, docker-compose.override.yml; using compose.override.yaml, as Compose does',
    ]);
  });

  it('uses no override file alone, and none when there is no compose file', async () => {
    const dir = await project({ 'compose.override.yaml': BASE });
    expect(await findComposeFiles(dir)).toEqual([]);
    expect((await loadError({ 'compose.override.yaml': BASE })).reason).toBe('ComposeFileNotFound');
  });

  it('leaves the override file out when files are given', async () => {
    const { project: p, dir } = await load(
      { 'compose.yaml': BASE, 'compose.override.yaml': 'services:\n  web:\n    image: b\n' },
      { files: ['compose.yaml'] },
    );
    expect(p.configFiles).toEqual([join(dir, 'compose.yaml')]);
    expect(p.services.web!.image).toBe('a');
  });
});

describe('merging the given files in order', () => {
  it('merges each file over the ones before, later winning', async () => {
    const { project: p, dir } = await load(
      {
        'base.yaml': BASE,
        'env/prod.yaml': 'services:\n  web:\n    image: b\n',
        'env/last.yaml': 'services:\n  web:\n    image: c\n',
      },
      { files: ['base.yaml', 'env/prod.yaml', 'env/last.yaml'] },
    );
    expect(p.services.web!.image).toBe('c');
    expect(p.configFiles).toEqual(
      ['base.yaml', 'env/prod.yaml', 'env/last.yaml'].map((f) => join(dir, f)),
    );
  });

  it('resolves relative paths of every file against the stack folder', async () => {
    const { project: p, dir } = await load(
      {
        'compose.yaml': BASE,
        'env/prod.yaml':
          'services:\n  web:\n    volumes: ["./data:/data"]\n    env_file: app.env\n',
        'app.env': 'A=1\n',
      },
      { files: ['compose.yaml', 'env/prod.yaml'] },
    );
    expect(p.services.web!.volumes[0]).toMatchObject({
      source: join(dir, 'data'),
      target: '/data',
    });
    expect(p.services.web!.environment).toEqual({ A: '1' });
  });

  it('fails on a missing file, naming it', async () => {
    const err = await loadError({ 'compose.yaml': BASE }, { files: ['compose.yaml', 'prod.yaml'] });
    expect(err.reason).toBe('ComposeFileNotFound');
    expect(err.place.file).toMatch(/stack\/prod\.yaml$/);
    expect(err.message).toMatch(/prod\.yaml does not exist/);
  });

  it('applies Compose merge rules to services', async () => {
    const { project: p } = await load({
      'compose.yaml': `
services:
  web:
    image: a
    command: ["sh", "-c", "one"]
    entrypoint: ["/bin/a"]
    environment: [A=1, B=2]
    labels: { x: "1" }
    extra_hosts: ["one:10.0.0.1"]
    sysctls: { net.core.somaxconn: "1024" }
    ports: ["80:80"]
    expose: ["81"]
    dns: 1.1.1.1
    volumes: ["./a:/data", "./b:/keep"]
    secrets: [s1]
    healthcheck: { test: ["CMD", "a"], interval: 5s, retries: 3 }
    logging: { driver: json-file, options: { max-size: 1m } }
    networks: { front: { aliases: [w] } }
networks:
  front: { driver: bridge, labels: { a: "1" } }
secrets:
  s1: { file: ./s1.txt }
`,
      'compose.override.yaml': `
services:
  web:
    command: ["sh", "-c", "two"]
    environment: { B: "3", C: "4" }
    labels: [y=2]
    extra_hosts: { two: 10.0.0.2 }
    sysctls: [net.ipv4.ip_forward=1]
    ports: ["443:443", "80:80"]
    expose: ["82"]
    dns: [8.8.8.8]
    volumes: ["./c:/data"]
    secrets: [{ source: s2, target: s1 }]
    healthcheck: { test: ["CMD", "b"], retries: 5 }
    logging: { options: { max-file: "2" } }
    networks: [front]
networks:
  front: { internal: true }
secrets:
  s2: { file: ./s2.txt }
`,
      's1.txt': 'one',
      's2.txt': 'two',
    });
    const web = p.services.web!;
    expect(web.command).toEqual(['sh', '-c', 'two']);
    expect(web.entrypoint).toEqual(['/bin/a']);
    expect(web.environment).toEqual({ A: '1', B: '3', C: '4' });
    expect(web.labels).toEqual({ x: '1', y: '2' });
    expect(web.extraHosts).toEqual(['one:10.0.0.1', 'two:10.0.0.2']);
    expect(web.sysctls).toEqual({ 'net.core.somaxconn': '1024', 'net.ipv4.ip_forward': '1' });
    expect(web.ports.map((port) => port.published)).toEqual([80, 443]);
    expect(web.expose).toEqual(['81/tcp', '82/tcp']);
    expect(web.dns).toEqual(['1.1.1.1', '8.8.8.8']);
    expect(web.volumes.map((v) => [v.source?.replace(/.*\//, ''), v.target])).toEqual([
      ['c', '/data'],
      ['b', '/keep'],
    ]);
    // s2 lands where s1 did (/run/secrets/s1): it replaces it.
    expect(web.secrets).toEqual([{ source: 's2', target: '/run/secrets/s1' }]);
    expect(web.healthcheck).toMatchObject({ test: ['CMD', 'b'], intervalMs: 5000, retries: 5 });
    expect(web.logging).toEqual({
      driver: 'json-file',
      options: { 'max-size': '1m', 'max-file': '2' },
    });
    expect(web.networks.front?.aliases).toEqual(['w']);
    expect(p.networks.front).toMatchObject({ driver: 'bridge', internal: true });
    expect(Object.keys(p.secrets)).toEqual(['s2']);
  });

  it('replaces logging options when the override changes the driver', async () => {
    const { project: p } = await load({
      'compose.yaml': `${BASE}    logging: { driver: json-file, options: { max-size: 1m } }\n`,
      'compose.override.yaml':
        'services:\n  web:\n    logging: { driver: local, options: { compress: "false" } }\n',
    });
    expect(p.services.web!.logging).toEqual({ driver: 'local', options: { compress: 'false' } });
  });

  it('honours !reset and !override in an override file', async () => {
    const { project: p } = await load({
      'compose.yaml': `${BASE}    ports: ["80:80"]\n    dns: [1.1.1.1]\n    user: nobody\n    environment: { A: "1", B: "2" }\n`,
      'compose.override.yaml': `services:
  web:
    ports: !override ["8080:80"]
    dns: !reset []
    user: !reset null
    environment: !override { C: "3" }
`,
    });
    const web = p.services.web!;
    expect(web.ports.map((port) => port.published)).toEqual([8080]);
    expect(web.dns).toEqual([]);
    expect(web.user).toBeUndefined();
    expect(web.environment).toEqual({ C: '3' });
  });

  it('treats !override in the base file as a plain value the override appends to', async () => {
    const { project: p } = await load({
      'compose.yaml': `${BASE}    dns: !override [1.1.1.1]\n`,
      'compose.override.yaml': 'services:\n  web:\n    dns: [8.8.8.8]\n',
    });
    expect(p.services.web!.dns).toEqual(['1.1.1.1', '8.8.8.8']);
  });

  it('adds services, resolves extends within each file, and takes a later name and x- keys', async () => {
    const { project: p } = await load({
      'compose.yaml': `name: first\nx-a: { one: 1 }\n${BASE}`,
      'compose.override.yaml': `name: second
x-a: { two: 2 }
services:
  base: { image: b, environment: { FROM: base } }
  worker:
    extends: base
    command: ["run"]
`,
    });
    expect(Object.keys(p.services).sort()).toEqual(['base', 'web', 'worker']);
    expect(p.services.worker).toMatchObject({ image: 'b', environment: { FROM: 'base' } });
    expect(p.extensions).toEqual({ 'x-a': { two: 2 } });
    const named = await load({
      'compose.yaml': `name: first\n${BASE}`,
      'compose.override.yaml': `name: second\n${BASE}`,
    });
    expect(named.project.name).toBe('second');
  });

  it('names the override file in errors about what it brings', async () => {
    const err = await loadError({
      'compose.yaml': BASE,
      'compose.override.yaml': 'services:\n  web:\n    restart: sometimes\n',
    });
    expect(err.place.file).toMatch(/compose\.override\.yaml$/);
    expect(err.place.service).toBe('web');
  });
});

describe('env files for interpolation', () => {
  const USES = 'services:\n  web:\n    image: "a:${TAG:-none}"\n    environment: { X: "${X:-}" }\n';

  it('reads the given env files instead of .env, later ones winning', async () => {
    const { project: p } = await load(
      {
        'compose.yaml': USES,
        '.env': 'TAG=dotenv\nX=dotenv\n',
        'env/base.env': 'TAG=base\nX=base\n',
        'env/prod.env': 'TAG=prod-${X}\n',
      },
      { envFiles: ['env/base.env', 'env/prod.env'] },
    );
    expect(p.services.web!.image).toBe('a:prod-base');
    expect(p.services.web!.environment).toEqual({ X: 'base' });
  });

  it('lets the environment win over them', async () => {
    const { project: p } = await load(
      { 'compose.yaml': USES, 'prod.env': 'TAG=prod\n' },
      { envFiles: ['prod.env'], env: { TAG: 'shell' } },
    );
    expect(p.services.web!.image).toBe('a:shell');
  });

  it('requires them', async () => {
    const err = await loadError({ 'compose.yaml': USES }, { envFiles: ['missing.env'] });
    expect(err.reason).toBe('ComposeFileUnreadable');
    expect(err.place.file).toMatch(/missing\.env$/);
  });

  it('passes them through the env file reader', async () => {
    const seen: string[] = [];
    await load(
      { 'compose.yaml': USES, 'prod.env': 'TAG=prod\n' },
      {
        envFiles: ['prod.env'],
        readEnvFile: (file, text) => (seen.push(file), text),
      },
    );
    expect(seen).toEqual([expect.stringMatching(/prod\.env$/)]);
  });
});

describe('profiles given by name', () => {
  const PROFILED = `${BASE}  debug:\n    image: a\n    profiles: [debug]\n`;

  it('enables the named ones, and warns about one no service has', async () => {
    const { project: p, warnings } = await load(
      { 'compose.yaml': PROFILED },
      { profiles: ['debug', 'typo'] },
    );
    expect(Object.keys(p.services).sort()).toEqual(['debug', 'web']);
    expect(warnings).toEqual(['profile "typo" is not used by any service']);
  });

  it('enables every profile with *, and none with an empty list', async () => {
    expect(
      Object.keys((await load({ 'compose.yaml': PROFILED }, { profiles: ['*'] })).project.services),
    ).toHaveLength(2);
    const none = await load(
      { 'compose.yaml': PROFILED },
      { profiles: [], env: { COMPOSE_PROFILES: 'debug' } },
    );
    expect(Object.keys(none.project.services)).toEqual(['web']);
  });
});
