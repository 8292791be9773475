import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Ajv, type ValidateFunction } from 'ajv';
import YAML from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { editorSchemas, formatJson, type JsonSchema } from '../../src/config/json-schema.js';
import { loadConfig } from '../../src/config/load.js';
import { ConfigFile } from '../../src/config/schema.js';
import { parseBoundedDuration } from '../../src/duration.js';
import { DeploySettingsInput, extractCommentBlock } from '../../src/stack/settings.js';
import { methodNames } from '../../src/strategies/registry.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const STACKS = path.join(ROOT, 'examples/stacks');

function committed(file: string): string {
  const at = path.join(ROOT, 'schemas', file);
  return existsSync(at) ? readFileSync(at, 'utf8') : '';
}

function schema(file: string): JsonSchema {
  const found = editorSchemas().find((s) => s.file === file);
  if (found === undefined) throw new Error(`no schema ${file}`);
  return found.schema;
}

function compile(file: string): ValidateFunction {
  const ajv = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true });
  // What zod's z.url() checks, give or take the protocol (the schemas' patterns do not say).
  ajv.addFormat('uri', (text: string) => URL.canParse(text));
  return ajv.compile(schema(file));
}

const config = compile('berth.schema.json');
const settings = compile('deploy.schema.json');

function jsonErrors(validate: ValidateFunction, value: unknown): string[] {
  return validate(value)
    ? []
    : (validate.errors ?? []).map((e) => `${e.instancePath} ${e.message ?? ''}`);
}

function yamlFile(file: string): unknown {
  return YAML.parse(readFileSync(file, 'utf8')) as unknown;
}

describe('the committed schemas', () => {
  it.each(editorSchemas().map((s) => [s.file, s]))(
    'schemas/%s is what the zod schemas give',
    (file, { schema: fresh }) => {
      expect(
        committed(file),
        `schemas/${file} is stale: run \`npm run build\` and commit schemas/`,
      ).toBe(formatJson(fresh));
    },
  );

  it('are draft-07 with an id, a title and a description', () => {
    for (const { schema: s } of editorSchemas()) {
      expect(Object.keys(s).slice(0, 4)).toEqual(['$schema', '$id', 'title', 'description']);
      expect(s.$schema).toBe('http://json-schema.org/draft-07/schema#');
    }
  });

  it('list the registered strategies as the methods', () => {
    const properties = schema('deploy.schema.json').properties as Record<string, JsonSchema>;
    expect(properties.method?.enum).toEqual([...methodNames()]);
    expect(properties.methode?.enum).toEqual([...methodNames()]);
    expect(settings({ method: 'rolling' })).toBe(false);
  });
});

describe('berth.schema.json', () => {
  const valid: Record<string, unknown> = {
    'a git source with every key': {
      source: {
        git: {
          url: 'git@git.example.org:ops/stacks.git',
          tag: 'v*',
          depth: 0,
          auth: { sshKeyFile: '~/.ssh/id', knownHostsFile: '~/.ssh/known_hosts' },
        },
        paths: 'stacks/*',
      },
      dataDir: '/var/lib/berth',
      defaults: {
        deploy: false,
        method: 'canary',
        healthTimeout: 90,
        stabilityPeriod: '1m30s',
        markBad: false,
        redeployGood: false,
        hookTimeout: ' 500ms ',
        drain: 0.5,
        canary: { batch: '25%', window: '2m', probe: 'http://localhost:8080/health' },
      },
      prune: true,
      log: { level: 'debug' },
      schedule: '*/5 * * * *',
      concurrency: 4,
      hooks: { env: ['DOCKER_HOST'] },
    },
    'a server with secrets inline and in files, and notify targets': {
      source: { path: '.' },
      server: {
        listen: '0.0.0.0:7070',
        tokens: [
          { name: 'ci', tokenFile: '/run/secrets/ci' },
          { name: 'ops', token: 'a-token-of-16-chars' },
        ],
        webhooks: {
          github: { secretFile: '/run/secrets/gh' },
          generic: { secret: 'x'.repeat(16) },
        },
      },
      notify: [
        { type: 'slack', url: 'https://hooks.slack.com/services/X', events: ['deploy-failed'] },
        { type: 'ntfy', url: 'https://ntfy.sh', topic: 'berth', tokenFile: 'ntfy-token' },
        { type: 'webhook', url: 'https://example.org/hook', headers: { 'X-A': 'b' }, timeout: 5 },
      ],
      policy: {
        preset: 'strict',
        devices: ['/dev/dri/**'],
        stacks: { monitoring: { hostNamespaces: ['pid'], bindMounts: ['/proc/**'] } },
      },
    },
  };

  it.each(Object.entries(valid))('accepts %s, as zod does', (_name, input) => {
    expect(ConfigFile.safeParse(input).success).toBe(true);
    expect(jsonErrors(config, input)).toEqual([]);
  });

  it('accepts config.example.yaml', () => {
    const example = yamlFile(path.join(ROOT, 'config.example.yaml'));
    expect(ConfigFile.safeParse(example).success).toBe(true);
    expect(jsonErrors(config, example)).toEqual([]);
  });

  it.runIf(existsSync(path.join(ROOT, 'deploy/berth.yaml')))('accepts deploy/berth.yaml', () => {
    expect(jsonErrors(config, yamlFile(path.join(ROOT, 'deploy/berth.yaml')) ?? {})).toEqual([]);
  });

  it.each([
    ['an unknown key', '', { source: { path: '.' }, pruen: true }],
    [
      'an unknown key deep down',
      '/source/git',
      { source: { git: { url: 'https://x/y.git', brnach: 'main' } } },
    ],
    ['a number for a string', '/dataDir', { source: { path: '.' }, dataDir: 5 }],
    ['a string for a number', '/concurrency', { source: { path: '.' }, concurrency: '2' }],
    [
      'a method berth lacks',
      '/defaults/method',
      { source: { path: '.' }, defaults: { method: 'rolling' } },
    ],
    [
      'a duration that is not one',
      '/defaults/healthTimeout',
      { source: { path: '.' }, defaults: { healthTimeout: '2 min' } },
    ],
    [
      'a notify target of no known type',
      '/notify/0',
      { source: { path: '.' }, notify: [{ type: 'irc', url: 'https://x' }] },
    ],
  ])('rejects %s, as zod does', (_name, at, input) => {
    expect(ConfigFile.safeParse(input).success).toBe(false);
    expect(config(input)).toBe(false);
    expect(config.errors?.map((e) => e.instancePath)).toContain(at);
  });

  describe('a file that leaves keys to the environment', () => {
    let dir: string;
    beforeAll(() => {
      dir = mkdtempSync(path.join(tmpdir(), 'berth-json-schema-'));
    });
    afterAll(() => {
      rmSync(dir, { recursive: true, force: true });
    });

    it('is accepted without source, as berth accepts it with BERTH_GIT_URL set', async () => {
      const file = path.join(dir, 'berth.yaml');
      writeFileSync(file, 'dataDir: ./state\nsource:\n  git:\n    branch: live\n');
      const env = { BERTH_GIT_URL: 'https://git.example.org/ops/stacks.git' };
      await expect(loadConfig({ file, env, cwd: dir })).resolves.toMatchObject({
        source: { kind: 'git', git: { branch: 'live' } },
      });
      expect(jsonErrors(config, yamlFile(file))).toEqual([]);
      expect(jsonErrors(config, { dataDir: './state' })).toEqual([]);
    });
  });
});

describe('deploy.schema.json', () => {
  it('accepts every example stack’s settings: deploy.yaml, x-berth and the comment block', () => {
    const found: string[] = [];
    for (const stack of readdirSync(STACKS)) {
      const dir = path.join(STACKS, stack);
      for (const name of ['deploy.yaml', 'deploy.yml']) {
        if (!existsSync(path.join(dir, name))) continue;
        found.push(`${stack}/${name}`);
        const input = yamlFile(path.join(dir, name));
        expect(DeploySettingsInput.safeParse(input).success).toBe(true);
        expect(jsonErrors(settings, input), `${stack}/${name}`).toEqual([]);
      }
      const compose = readFileSync(path.join(dir, 'compose.yaml'), 'utf8');
      const xBerth = (YAML.parse(compose) as Record<string, unknown>)['x-berth'];
      const block = extractCommentBlock(compose, 'compose.yaml');
      for (const [where, input] of [
        ['x-berth', xBerth],
        ['comment block', block === undefined ? undefined : (YAML.parse(block) as unknown)],
      ] as const) {
        if (input === undefined) continue;
        found.push(`${stack} ${where}`);
        expect(jsonErrors(settings, input), `${stack} ${where}`).toEqual([]);
      }
    }
    expect(found).toEqual(expect.arrayContaining(['worker/deploy.yaml']));
    expect(found.length).toBeGreaterThanOrEqual(3);
  });

  it('accepts what zod accepts: numbers and strings for durations, counts and shares', () => {
    const inputs = [
      {},
      { deploy: false, methode: 'simple', healthTimeout: 30, stabilityPeriod: 0 },
      { method: 'blue-green', drain: '1.5s', exclusiveVolumes: ['db-data'] },
      { canary: { batch: 2, window: 45, probe: 'https://127.0.0.1/ready' } },
      { canary: { batch: '3' }, hooks: { preDeploy: 'a.sh', postDeploy: 'b.sh', timeout: '1h' } },
    ];
    for (const input of inputs) {
      expect(DeploySettingsInput.safeParse(input).success).toBe(true);
      expect(jsonErrors(settings, input)).toEqual([]);
    }
  });

  it.each([
    ['an unknown key', '', { methdo: 'simple' }],
    ['an unknown hook key', '/hooks', { hooks: { preDepoly: 'a.sh' } }],
    ['a string for a boolean', '/deploy', { deploy: 'yes' }],
    ['a list for a duration', '/drain', { drain: ['2s'] }],
    ['a mapping for the volumes', '/exclusiveVolumes', { exclusiveVolumes: { db: true } }],
  ])('rejects %s, as zod does', (_name, at, input) => {
    expect(DeploySettingsInput.safeParse(input).success).toBe(false);
    expect(settings(input)).toBe(false);
    expect(settings.errors?.map((e) => e.instancePath)).toContain(at);
  });
});

describe('the duration pattern', () => {
  const duration = compile('deploy.schema.json');
  const accepts = (value: string | number): boolean => duration({ drain: value });

  it.each([
    '30s',
    '2m',
    '1h30m',
    '500ms',
    '1.5s',
    '10us',
    '3µs',
    '7ns',
    '1m1ms',
    '90',
    '0.25',
    ' 2m ',
    '0s',
    '',
    ' ',
    'm',
    '1',
    '1x',
    '1.s',
    '.5s',
    '1 m',
    '1m 30s',
    '-1s',
    '1e3',
    '2d',
    '1h-',
    '1sms',
    '576h',
    '577h',
    0,
    90,
    2_073_600,
    2_073_601,
    -1,
  ])('agrees with berth on %j (or is looser)', (value) => {
    const berth = !('error' in parseBoundedDuration(value));
    if (berth) expect(accepts(value)).toBe(true);
    // Only the 576h bound of a string is left to berth.
    else if (typeof value === 'number' || !/^\s*577h\s*$/.test(value))
      expect(accepts(value)).toBe(false);
  });
});
