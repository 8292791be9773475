import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { loadProject } from '../../src/compose/load.js';
import { createStackLoader } from '../../src/stack/project.js';
import { ageEncrypt, ageKeygen } from '../stack/age.js';
import { runBerth, type CliRun } from './run-cli.js';

/**
 * `berth config` on a local-path source: stacks using interpolation (from `.env` and the
 * process environment), `extends` from another file and `include`, each printed in canonical
 * form, loaded back by berth to the same services, and read by the reference docker-compose
 * v1.29; an age-encrypted `.env` whose values never show; a broken stack on stderr.
 */

const IMAGE = 'berth-fixture/busybox:latest';
/** Every plaintext of the encrypted stack carries this marker: none may appear in any output. */
const MARK = `PLAIN${randomBytes(4).toString('hex')}`;
/** Set in the CLI's environment only: interpolation reads it from there. */
const PROCESS_ENV = { APP_TAG: 'latest', APP_PORT: '18080' };

let tmp: string;
let repo: string;
let config: string;

async function write(rel: string, content: string | Uint8Array): Promise<string> {
  const file = path.join(tmp, rel);
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, content);
  return file;
}

const STACKS: Record<string, string> = {
  'interp/compose.yaml': `services:
  web:
    image: berth-fixture/busybox:\${APP_TAG}
    command: sh -c 'echo "$$HOME" && sleep 1'
    environment:
      - GREETING=\${GREETING}, \${WHO:-world}
      - PRICE=$$5
      - ANSWER=\${ANSWER}
    ports:
      - "127.0.0.1:\${APP_PORT}:80"
    stop_grace_period: 90s
x-berth:
  method: simple
`,
  'interp/.env': 'GREETING=hello\nANSWER=yes\nAPP_TAG=overridden-by-the-environment\n',
  'ext/compose.yaml': `services:
  api:
    extends:
      file: common/base.yaml
      service: base
    environment:
      ROLE: api
    mem_limit: 256m
`,
  'ext/common/base.yaml': `services:
  base:
    image: ${IMAGE}
    command: ["sleep", "300"]
    environment:
      ROLE: base
      LOG: debug
    healthcheck:
      test: "true"
      interval: 1m30s
      retries: 2
    volumes:
      - ../data:/data:ro
`,
  'inc/compose.yaml': `include:
  - db/compose.yaml
services:
  app:
    image: ${IMAGE}
    depends_on:
      db:
        condition: service_healthy
`,
  'inc/db/compose.yaml': `services:
  db:
    image: ${IMAGE}
    environment:
      DB_NAME: \${DB_NAME}
    healthcheck:
      test: ["CMD", "true"]
      start_period: 1500ms
    volumes:
      - dbdata:/var/lib/db
volumes:
  dbdata: {}
`,
  'inc/db/.env': 'DB_NAME=shop\n',
  'secret/compose.yaml': `services:
  app:
    image: ${IMAGE}
    environment:
      DATABASE_URL: postgres://app:\${DB_PASSWORD}@db/app
      PASSWORD: \${DB_PASSWORD}
      USER_NAME: \${DB_USER}
    secrets: [token, inline]
secrets:
  token:
    environment: DB_PASSWORD
  inline:
    content: inline-${MARK}
`,
  'broken/compose.yaml': `services:
  app:
    image: ${IMAGE}
    bogus_field: 1
`,
};

beforeAll(async () => {
  tmp = await mkdtemp(path.join(tmpdir(), 'berth-config-cli-'));
  repo = path.join(tmp, 'repo');
  for (const [rel, text] of Object.entries(STACKS)) await write(`repo/stacks/${rel}`, text);
  await mkdir(path.join(tmp, 'xdg'), { recursive: true });
  const key = ageKeygen(tmp);
  await write(
    'repo/stacks/secret/.env',
    ageEncrypt(`DB_PASSWORD=pw-${MARK}\nDB_USER=app\n`, [key.recipient], { armor: true }),
  );
  config = await write(
    'berth.yaml',
    [
      'source:',
      `  path: ${repo}`,
      '  paths: stacks/*',
      `dataDir: ${path.join(tmp, 'data')}`,
      'secrets:',
      '  age:',
      `    keyFiles: [${key.file}]`,
      '    sopsDefaults: false',
      '',
    ].join('\n'),
  );
});

afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

async function berth(args: string[]): Promise<CliRun> {
  const run = await runBerth(['config', '--config', config, ...args], {
    cwd: tmp,
    env: { ...PROCESS_ENV, XDG_CONFIG_HOME: path.join(tmp, 'xdg'), HOME: path.join(tmp, 'home') },
  });
  expect(run.stdout + run.stderr, 'no plaintext in any output').not.toContain(MARK);
  return run;
}

function stackDir(name: string): string {
  return path.join(repo, 'stacks', name);
}

function expected(name: string): string {
  const dir = stackDir(name);
  const docs: Record<string, string[]> = {
    interp: [
      'name: interp',
      'services:',
      '  web:',
      '    command:',
      '      - sh',
      '      - -c',
      '      - echo "$$HOME" && sleep 1',
      '    environment:',
      '      ANSWER: "yes"',
      '      GREETING: hello, world',
      '      PRICE: $$5',
      '    image: berth-fixture/busybox:latest',
      '    networks:',
      '      default: null',
      '    ports:',
      '      - host_ip: 127.0.0.1',
      '        target: 80',
      '        published: 18080',
      '        protocol: tcp',
      '    stop_grace_period: 1m30s',
      'networks:',
      '  default:',
      '    name: interp_default',
      'x-berth:',
      '  method: simple',
    ],
    ext: [
      'name: ext',
      'services:',
      '  api:',
      '    command:',
      '      - sleep',
      '      - "300"',
      '    environment:',
      '      LOG: debug',
      '      ROLE: api',
      '    healthcheck:',
      '      test:',
      '        - CMD-SHELL',
      '        - "true"',
      '      interval: 1m30s',
      '      retries: 2',
      `    image: ${IMAGE}`,
      '    mem_limit: "268435456"',
      '    networks:',
      '      default: null',
      '    volumes:',
      '      - type: bind',
      `        source: ${path.join(dir, 'data')}`,
      '        target: /data',
      '        read_only: true',
      '        bind:',
      '          create_host_path: true',
      'networks:',
      '  default:',
      '    name: ext_default',
    ],
    inc: [
      'name: inc',
      'services:',
      '  app:',
      '    depends_on:',
      '      db:',
      '        condition: service_healthy',
      '        required: true',
      `    image: ${IMAGE}`,
      '    networks:',
      '      default: null',
      '  db:',
      '    environment:',
      '      DB_NAME: shop',
      '    healthcheck:',
      '      test:',
      '        - CMD',
      '        - "true"',
      '      start_period: 1.5s',
      `    image: ${IMAGE}`,
      '    networks:',
      '      default: null',
      '    volumes:',
      '      - type: volume',
      '        source: dbdata',
      '        target: /var/lib/db',
      'networks:',
      '  default:',
      '    name: inc_default',
      'volumes:',
      '  dbdata:',
      '    name: inc_dbdata',
    ],
  };
  return `${(docs[name] ?? []).join('\n')}\n`;
}

/**
 * What Compose v1's schema (2021) predates, taken out before it reads the document: the
 * top-level name, depends_on's required and restart, a port's host_ip, create_host_path.
 */
function forComposeV1(doc: Record<string, unknown>): Record<string, unknown> {
  const copy = structuredClone(doc) as { name?: string; services: Record<string, Svc> };
  delete copy.name;
  for (const service of Object.values(copy.services)) {
    for (const dep of Object.values(service.depends_on ?? {})) {
      delete dep.required;
      delete dep.restart;
    }
    for (const port of service.ports ?? []) delete port.host_ip;
    for (const volume of service.volumes ?? []) {
      if (volume.bind === undefined) continue;
      delete volume.bind.create_host_path;
      if (Object.keys(volume.bind).length === 0) delete volume.bind;
    }
  }
  return copy;
}

interface Svc {
  depends_on?: Record<string, { required?: boolean; restart?: boolean }>;
  ports?: { host_ip?: string }[];
  volumes?: { bind?: Record<string, unknown> }[];
}

describe('berth config', { timeout: 60_000 }, () => {
  let all: CliRun;
  let json: CliRun;
  let one: CliRun;
  let missing: CliRun;

  beforeAll(async () => {
    // Read-only, no lock: the runs may overlap.
    [all, json, one, missing] = await Promise.all([
      berth([]),
      berth(['--format', 'json']),
      berth(['interp']),
      berth(['nope']),
    ]);
  });

  it('prints every stack that loads, one YAML document each; a broken one on stderr, exit 1', () => {
    expect(all.code, all.stderr).toBe(1);
    const docs = parseAllDocuments(all.stdout).map((d) => d.toJS() as { name: string });
    expect(docs.map((d) => d.name)).toEqual(['ext', 'inc', 'interp', 'secret']);
    expect(all.stderr).toContain('broken: error:');
    expect(all.stderr).toContain(
      `at file ${path.join(stackDir('broken'), 'compose.yaml')}, stack broken, service app, field bogus_field`,
    );
  });

  it('writes interpolation, extends and include in canonical form', () => {
    const texts = all.stdout.split(/^---\n/m);
    for (const [index, name] of ['ext', 'inc', 'interp'].entries())
      expect(texts[index], name).toBe(expected(name));
  });

  it('loads back as the same services, and docker-compose v1.29 reads it', async () => {
    const env = { ...PROCESS_ENV };
    const loadStack = createStackLoader({ env });
    const v1Files: string[] = [];
    const services: string[] = [];
    for (const name of ['ext', 'inc', 'interp']) {
      const dir = stackDir(name);
      const original = await loadStack(dir, name);
      // In the stack folder, so its absolute paths stay inside the folder the loader allows.
      const file = path.join(dir, 'canonical.yaml');
      await writeFile(file, expected(name));
      try {
        const again = await loadProject(dir, { projectName: name, files: ['canonical.yaml'], env });
        expect(again.project.services, name).toEqual(original.project.services);
        expect(again.project.networks, name).toEqual(original.project.networks);
        expect(again.project.volumes, name).toEqual(original.project.volumes);
      } finally {
        await rm(file);
      }
      const doc = forComposeV1(parse(expected(name)) as Record<string, unknown>);
      v1Files.push(await write(`v1-${name}.json`, JSON.stringify(doc)));
      services.push(...Object.keys(original.project.services));
    }
    // One run for the three (a Compose v1 start costs seconds): it checks each file against
    // its schema, then lists the services of their merge, which are all different.
    const listed = execFileSync(
      'docker-compose',
      [...v1Files.flatMap((f) => ['-f', f]), 'config', '--services'],
      { cwd: tmp, encoding: 'utf8', env: { PATH: process.env.PATH ?? '', HOME: tmp } },
    );
    expect(listed.split('\n').filter(Boolean).sort()).toEqual(services.sort());
  });

  it('masks the values of an encrypted .env wherever they show, and secret contents', () => {
    const texts = all.stdout.split(/^---\n/m);
    const secret = parse(texts[3] ?? '') as {
      services: { app: { environment: Record<string, string> } };
      secrets: Record<string, Record<string, string>>;
    };
    expect(secret.services.app.environment).toEqual({
      DATABASE_URL: 'postgres://app:********@db/app',
      PASSWORD: '********',
      // Short values are masked only whole: `app` in the URL above stays.
      USER_NAME: '********',
    });
    expect(secret.secrets).toEqual({
      inline: { content: '********' },
      token: { environment: 'DB_PASSWORD' },
    });
  });

  it('prints one stack, and JSON keyed by stack', () => {
    expect(one.code, one.stderr).toBe(0);
    expect(one.stdout).toBe(expected('interp'));
    expect(json.code).toBe(1);
    const doc = JSON.parse(json.stdout) as Record<string, unknown>;
    expect(Object.keys(doc)).toEqual(['ext', 'inc', 'interp', 'secret']);
    expect(doc.interp).toEqual(parse(expected('interp')));
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('no stack named nope');
  });
});
